#!/usr/bin/env bash
# scripts/bench load [--packs N] [--connections C] [--threads T] [--duration S] [--soak S] [--rate R]
#                    [--log-level L]
# vpointd under the mixed load of a site (issue 16 "Load and soak"), over loopback, bounded in time:
#   70 % POST /v1/verify of a random pack (pharmacy counter), 20 % POST /v1/decommission supply of a fresh pack
#   (each pack supplied once), 5 % POST /v1/undo of a pack this load supplied at least 50 requests earlier (each
#   undone once), 5 % POST /v1/bulk verifying 100 random packs (goods receipt, wholesaler key).
# Phase 1, max rate (wrk, --duration s): throughput, p50/p99/p99.9 of all requests (a bulk counts as one request),
#   errors (non-2xx and socket errors; goal 0), and the ratio to the same wrk script against empty_server
#   (bench/empty_server.cpp, a plain Beast server answering a fixed body) in this run.
# Phase 2, soak (--soak s at --rate req/s held by wrk's delay()): vpointd RSS, open files and Redis connected
#   clients sampled every 30 s; the figures after a 60 s warm-up and at the end (goal: flat), errors, and the
#   soak's p50/p99/p99.9.
# The stack (Redis, simulator, vpointd) is bench/stack.sh's. Last line: RESULT <one-line JSON>.
set -euo pipefail

build=${VPOINT_BENCH_BUILD_DIR:-build}
packs=400000
conns=16
threads=$(nproc)
duration=30
soak=600
rate=400
log_level=info
sample=200000
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --packs) packs=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --soak) soak=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --log-level) log_level=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "load_bench: unknown option '$1' (--help)" >&2; exit 2 ;;
  esac
done
for n in "$packs" "$conns" "$threads" "$duration" "$soak" "$rate"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "load_bench: options take positive integers (got '$n')" >&2; exit 2; }
done
[ "$soak" -gt 60 ] || { echo "load_bench: --soak must be over the 60 s warm-up" >&2; exit 2; }
bench_name=load_bench
dock_key=bench-dock-key-00000001
extra_toml="
[[auth.keys]]
name = \"bench-dock\"
key = \"$dock_key\"
role = \"wholesaler\""
# shellcheck source=bench/stack.sh
source "$(dirname "$0")/stack.sh"

# The supplies of both phases walk disjoint slices of the bodies, so no pack is supplied twice.
[ "$bodies" -ge 1000 ] || fail "only $bodies usable packs; use --packs of at least 2000"

# wrk Lua for the mix. Each wrk thread takes its own share of the supply bodies (index ≡ thread id mod
# threads) within [FIRST, LAST) of the file; undo re-sends a body this thread supplied >= 50 requests ago with
# "action":"supply" on /v1/undo. DELAY_MS per request per connection holds the soak rate (0: as fast as it goes).
cat >"$tmp/mix.lua" <<LUA
local verify_file, supply_file = "$tmp/verify_bodies.txt", "$tmp/decommission_bodies.txt"
local key, dock_key = "$key", "$dock_key"
local first, last, delay_ms = FIRST, LAST, DELAY_MS
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  verifies, supplies = {}, {}
  for line in io.lines(verify_file) do table.insert(verifies, line) end
  local i = 0
  for line in io.lines(supply_file) do
    if i >= first and i < last and i % $threads == id then table.insert(supplies, line) end
    i = i + 1
  end
  next_supply, next_undo, sent, wraps = 0, 0, 0, 0
  math.randomseed(11 + id)
  pharmacy = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}
  dock = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. dock_key}
end
local function bulk()
  local items = {}
  for k = 1, 100 do items[k] = verifies[math.random(#verifies)] end
  return '{"operation":"verify","items":[' .. table.concat(items, ",") .. ']}'
end
function request()
  sent = sent + 1
  local r = math.random(100)
  if r <= 70 then
    return wrk.format("POST", "/v1/verify", pharmacy, verifies[math.random(#verifies)])
  elseif r <= 95 and r > 90 and next_undo + 50 < next_supply then
    next_undo = next_undo + 1
    return wrk.format("POST", "/v1/undo", pharmacy, supplies[next_undo])
  elseif r > 95 then
    return wrk.format("POST", "/v1/bulk", dock, bulk())
  end
  next_supply = next_supply + 1
  if next_supply > #supplies then next_supply = 1; wraps = wraps + 1 end
  return wrk.format("POST", "/v1/decommission", pharmacy, supplies[next_supply])
end
if delay_ms > 0 then
  function delay() return delay_ms end
end
function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do w = w + (t:get("wraps") or 0) end
  io.write(string.format("lua_wraps %d\n", w))
  io.write(string.format("lua_p50_ms %.3f\nlua_p99_ms %.3f\nlua_p999_ms %.3f\nlua_max_ms %.3f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000))
  io.write(string.format("lua_requests %d\nlua_non2xx %d\nlua_socket_errors %d\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
# Phase 1 takes the first half of the supply bodies, the soak the second half.
half=$((bodies / 2))
sed "s/FIRST/0/; s/LAST/$half/; s/DELAY_MS/0/" "$tmp/mix.lua" >"$tmp/max.lua"
per_conn_ms=$(python3 -c "print(max(1, round($conns * 1000 / $rate)))")
sed "s/FIRST/$half/; s/LAST/$bodies/; s/DELAY_MS/$per_conn_ms/" "$tmp/mix.lua" >"$tmp/soak.lua"
# The empty server gets the same requests (paths differ, it answers every path alike).
cp "$tmp/max.lua" "$tmp/empty.lua"

lua_of() { awk -v k="$2" '$1 == k {print $2}' "$1"; }
run_wrk() {  # run_wrk NAME URL LUA SECONDS
  local args=(-t "$threads" -c "$conns" -d "${4}s" --latency --timeout 10s -s "$3")
  log "wrk $1: ${args[*]} $2"
  wrk "${args[@]}" "$2" >"$tmp/wrk_$1.txt" 2>&1 || { cat "$tmp/wrk_$1.txt" >&2; fail "wrk $1 failed"; }
  grep -E '^(Requests/sec|  Non-2xx|  Socket|lua_)' "$tmp/wrk_$1.txt" | sed 's/^/  /' >&2
}

# Sanity: the three routes answer as meant before any load.
probe() {  # probe PATH KEY BODY EXPECT
  local out
  out=$(curl -s -H "Authorization: Bearer $2" -H 'Content-Type: application/json' --data-binary "$3" "$base$1")
  case "$out" in *"$4"*) ;; *) fail "probe $1 did not answer $4: $out" ;; esac
}
probe /v1/verify "$key" "$(head -1 "$tmp/verify_bodies.txt")" '"verdict":"ok"'
probe /v1/bulk "$dock_key" "{\"operation\":\"verify\",\"items\":[$(head -1 "$tmp/verify_bodies.txt")]}" '"summary"'

# --- baseline: empty_server, same wrk script, threads and connections ---
"$build/bench/empty_server" --listen 127.0.0.1:0 --threads "$threads" >"$tmp/empty.out" 2>&1 &
empty_pid=$!
pids+=($empty_pid)
empty_url=$(first_line_url "$tmp/empty.out" 10)
run_wrk empty "$empty_url" "$tmp/empty.lua" "$duration"
kill "$empty_pid" 2>/dev/null || true
wait "$empty_pid" 2>/dev/null || true

# --- phase 1: max rate ---
run_wrk max "$base" "$tmp/max.lua" "$duration"

# --- phase 2: soak at a held rate, sampled every 30 s ---
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$vpointd_pid/status"; }
open_files() { find "/proc/$vpointd_pid/fd" -mindepth 1 -maxdepth 1 | wc -l; }
redis_clients() { redis-cli -p "$redis_port" info clients | awk -F: '/^connected_clients:/ {print $2+0}'; }
log "soak: ${soak}s at ${rate} req/s (${per_conn_ms} ms between requests on each of $conns connections)"
printf 't_s rss_kb open_files redis_clients\n' >"$tmp/samples.txt"
sample_now() { printf '%s %s %s %s\n' "$1" "$(rss_kb)" "$(open_files)" "$(redis_clients)" >>"$tmp/samples.txt"; }
sample_now 0
wrk -t "$threads" -c "$conns" -d "${soak}s" --latency --timeout 10s -s "$tmp/soak.lua" "$base" >"$tmp/wrk_soak.txt" 2>&1 &
wrk_pid=$!
pids+=($wrk_pid)
t=0
while kill -0 "$wrk_pid" 2>/dev/null; do
  sleep 30
  t=$((t + 30))
  kill -0 "$vpointd_pid" 2>/dev/null || fail "vpointd exited during the soak"
  [ "$t" -lt "$soak" ] && sample_now "$t"
done
wait "$wrk_pid" || { cat "$tmp/wrk_soak.txt" >&2; fail "wrk soak failed"; }
sample_now "$soak"  # the end: right after the last request
grep -E '^(Requests/sec|  Non-2xx|  Socket|lua_)' "$tmp/wrk_soak.txt" | sed 's/^/  /' >&2
sed 's/^/  /' "$tmp/samples.txt" >&2

python3 - "$tmp" <<PY
import json, sys
tmp = sys.argv[1]
def lua(name, key):
    for line in open(f"{tmp}/wrk_{name}.txt"):
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return float(parts[1])
    raise SystemExit(f"load_bench: no {key} in wrk {name} output")
def rps(name):
    for line in open(f"{tmp}/wrk_{name}.txt"):
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise SystemExit(f"load_bench: no Requests/sec in wrk {name} output")
rows = [list(map(int, l.split())) for l in open(f"{tmp}/samples.txt").read().splitlines()[1:] if l.strip()]
warm = next((r for r in rows if r[0] >= 60), rows[0])
end = rows[-1]
def f(x, n=3): return round(x, n)
result = {
    "bench": "load", "packs": $packs, "usable_packs": $bodies, "import_s": $import_s, "server_threads": $threads,
    "connections": $conns, "mix": {"verify": 70, "supply": 20, "undo": 5, "bulk_of_100": 5},
    "duration_s": $duration, "empty_rps": f(rps("empty"), 0), "rps": f(rps("max"), 0),
    "ratio": f(rps("max") / rps("empty")),
    "p50_ms": lua("max", "lua_p50_ms"), "p99_ms": lua("max", "lua_p99_ms"), "p999_ms": lua("max", "lua_p999_ms"),
    "max_ms": lua("max", "lua_max_ms"), "requests": int(lua("max", "lua_requests")),
    "errors": int(lua("max", "lua_non2xx") + lua("max", "lua_socket_errors")),
    "pack_reuse_wraps": int(lua("max", "lua_wraps")),
    "soak_s": $soak, "soak_rate_target": $rate, "soak_rps": f(rps("soak"), 0),
    "soak_requests": int(lua("soak", "lua_requests")),
    "soak_errors": int(lua("soak", "lua_non2xx") + lua("soak", "lua_socket_errors")),
    "soak_p50_ms": lua("soak", "lua_p50_ms"), "soak_p99_ms": lua("soak", "lua_p99_ms"),
    "soak_p999_ms": lua("soak", "lua_p999_ms"), "soak_pack_reuse_wraps": int(lua("soak", "lua_wraps")),
    "rss_kb_start": rows[0][1], "rss_kb_after_warmup": warm[1], "rss_kb_end": end[1],
    "open_files_start": rows[0][2], "open_files_after_warmup": warm[2], "open_files_end": end[2],
    "redis_clients_start": rows[0][3], "redis_clients_after_warmup": warm[3], "redis_clients_end": end[3],
    "samples": rows,
}
print(f"empty_server   {result['empty_rps']:10.0f} req/s (same mix of requests)")
print(f"vpointd mix    {result['rps']:10.0f} req/s   ratio {result['ratio']:.3f}   p50 {result['p50_ms']:.3f} ms   "
      f"p99 {result['p99_ms']:.3f} ms   p99.9 {result['p999_ms']:.3f} ms   errors {result['errors']} (goal 0)")
print(f"soak {result['soak_s']} s at {result['soak_rps']:.0f} req/s: errors {result['soak_errors']}, p99 "
      f"{result['soak_p99_ms']:.3f} ms; RSS {result['rss_kb_after_warmup']} -> {result['rss_kb_end']} kB, open files "
      f"{result['open_files_after_warmup']} -> {result['open_files_end']}, Redis clients "
      f"{result['redis_clients_after_warmup']} -> {result['redis_clients_end']} (after 60 s warm-up -> end)")
print("RESULT " + json.dumps(result, separators=(",", ":")))
PY
