#!/usr/bin/env bash
# scripts/bench service [--packs N] [--connections C] [--threads T] [--duration S] [--log-level L] [--profile DIR]
# vpointd over loopback (issue 5, "Benchmark"); run through scripts/bench, which builds the targets first.
#   verify_ratio        vpointd POST /v1/verify requests/s (wrk, random packs of the mirror) / empty_server
#                       (bench/empty_server.cpp: plain Beast coroutine server, fixed JSON body) with the same
#                       server threads, wrk threads and connections, in this run (goal >= 0.5)
#   verify_p99_ms       p99 of /v1/verify at half the measured maximum rate, held with hey -q (goal <= 2 ms);
#                       hey sends one fixed body, so this is one (active) pack verified over and over
#   decommission_ratio  POST /v1/decommission action=supply requests/s (wrk; every request a fresh active pack,
#                       each pack supplied once) / empty_server (goal >= 0.5)
#   decommission_p99_ms p99 at half the decommission maximum rate with hey: one fixed body, so after the first
#                       request every one is the same location repeating the supply within repeat_window_s
#                       (the `refused`, "repeat": true path) — not a fresh supply (goal <= 2 ms); run after the
#                       central link's outbox has drained the wrk run's write-backs (drain time reported)
#   empty_p99_ms        hey against empty_server at the verify half rate: the p99 floor of client + machine
# CPU µs per request of vpointd, redis-server and empty_server at the maximum rate are printed for the gap.
#   verify_cpu_ratio    vpointd CPU µs per verify / empty_server CPU µs per request (issue 19 goal <= 2.5)
#   decommission_cpu_ratio  the same for a fresh supply (goal <= 3)
#   verify_p99_ratio    verify_p99_ms / empty_p99_ms, both at the same rate (goal <= 2; verify_p99_met)
# --profile DIR: after the timed runs, one more wrk run of each route with `perf record -e cpu-clock
# --call-graph dwarf` attached to vpointd; DIR gets {verify,decommission}.perf.txt (self and children per symbol)
# and the perf.data files. The timed figures never come from a profiled run.
# Setup, all on 127.0.0.1 in a temporary directory removed at the end: redis-server with docker/redis.conf but
# `--appendonly no --save ""` (no fsync per write: we time the service, not the disk), vpoint-central-sim with
# N packs (--no-fsync) from which vpointd imports the snapshot itself through its [central] url, then vpointd
# (default [log] level info: one JSON line per request, as in production; written to a file).
# Every load run is bounded (wrk -d, hey -z); every process started here is killed on exit.
set -euo pipefail

build=${VPOINT_BENCH_BUILD_DIR:-build}
packs=1000000
conns=32
threads=$(nproc)
duration=10
log_level=info
sample=200000   # bodies the load scripts pick from (random packs across the whole mirror)
profile_dir=
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --packs) packs=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --log-level) log_level=$2; shift 2 ;;
    --profile) profile_dir=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "service_bench: unknown option '$1' (--help)" >&2; exit 2 ;;
  esac
done
for n in "$packs" "$conns" "$threads" "$duration"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "service_bench: options take positive integers (got '$n')" >&2; exit 2; }
done
bench_name=service_bench
# shellcheck source=bench/stack.sh
source "$(dirname "$0")/stack.sh"

# wrk Lua: each wrk thread loads the bodies; verify picks at random, decommission walks its own share
# (index ≡ thread id mod threads) so that no pack is supplied twice; a wrap-around is counted and reported.
cat >"$tmp/load.lua" <<LUA
local mode = "MODE"
local bodies_file = "$tmp/MODE_bodies.txt"
local key = "$key"
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  bodies = {}
  local i = 0
  for line in io.lines(bodies_file) do
    if mode == "verify" or i % $threads == id then table.insert(bodies, line) end
    i = i + 1
  end
  next_index = 0
  wraps = 0
  math.randomseed(7 + id)
  wrk.method = "POST"
  wrk.path = "/v1/MODE"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
end
function request()
  local body
  if mode == "verify" then
    body = bodies[math.random(#bodies)]
  else
    next_index = next_index + 1
    if next_index > #bodies then next_index = 1; wraps = wraps + 1 end
    body = bodies[next_index]
  end
  return wrk.format(nil, nil, nil, body)
end
function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do w = w + (t:get("wraps") or 0) end
  io.write(string.format("lua_wraps %d\n", w))
end
LUA
sed 's/MODE/verify/g' "$tmp/load.lua" >"$tmp/verify.lua"
sed 's/MODE/decommission/g' "$tmp/load.lua" >"$tmp/decommission.lua"
# The wrk thread count must match the share split above.
wrk_threads=$threads

# Sanity: both routes answer as expected before any load (a mistake here would make every figure meaningless).
probe=$(curl -s -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  --data-binary @<(head -1 "$tmp/verify_bodies.txt") "$base/v1/verify")
case "$probe" in *'"verdict":"ok"'*) ;; *) fail "verify probe did not answer ok: $probe" ;; esac

# rps_of FILE: Requests/sec from wrk output; non2xx_of FILE: non-2xx/3xx responses (0 if none)
rps_of() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
non2xx_of() { awk '/Non-2xx or 3xx responses:/ {print $5}' "$1" | grep . || echo 0; }
errors_of() { awk '/Socket errors:/ {gsub(",", ""); print $4+$6+$8+$10}' "$1" | grep . || echo 0; }
run_wrk() {  # run_wrk NAME URL [LUA]
  local name=$1 url=$2 lua=${3:-}
  local args=(-t "$wrk_threads" -c "$conns" -d "${duration}s" --latency)
  if [ -n "$lua" ]; then args+=(-s "$lua"); else
    args+=(-s "$tmp/empty.lua"); fi
  log "wrk $name: ${args[*]} $url"
  wrk "${args[@]}" "$url" >"$tmp/wrk_$name.txt" 2>&1 || { cat "$tmp/wrk_$name.txt" >&2; fail "wrk $name failed"; }
  grep -E '^(  Thread Stats|    Latency|    Req/Sec|  Latency Distribution|     (50|99)%|Requests/sec|  Non-2xx|  Socket|lua_wraps)' \
    "$tmp/wrk_$name.txt" | sed 's/^/  /' >&2
}
# hey_run NAME PATH BODYFILE RATE: holds RATE requests/s total (hey -q is per worker: q = RATE / conns)
run_hey() {
  local name=$1 path=$2 body=$3 rate=$4
  local q
  q=$(python3 -c "print(max(1, round($rate / $conns)))")
  log "hey $name: -z ${duration}s -q $q -c $conns (target $((q * conns)) req/s) POST $path"
  hey -z "${duration}s" -q "$q" -c "$conns" -m POST -T application/json \
    -H "Authorization: Bearer $key" -D "$body" "$base$path" >"$tmp/hey_$name.txt" 2>&1 \
    || { cat "$tmp/hey_$name.txt" >&2; fail "hey $name failed"; }
  grep -E 'Requests/sec|  (50|90|99)% in|\[[0-9]+\]' "$tmp/hey_$name.txt" | sed 's/^/  /' >&2
}
# CPU seconds a process has used (utime + stime from /proc), and redis-server's own (INFO cpu): the
# per-request CPU of each side shows where a 2-core machine's time goes when client, server and Redis share it.
cpu_s_of() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' "/proc/$1/stat"; }
redis_cpu_s() { redis-cli -p "$redis_port" info cpu | awk -F: '/^used_cpu_(sys|user):/ {t += $2} END {printf "%.3f", t}'; }
us_per() { python3 -c "print(round(($2 - $1) * 1e6 / max(1, $3), 1))"; }  # us_per BEFORE AFTER REQUESTS
requests_of() { awk '/requests in/ {print $1}' "$1"; }
p99_ms_of() { awk '/  99% in/ {printf "%.3f", $3 * 1000}' "$1"; }
hey_rps_of() { awk '/Requests\/sec:/ {printf "%.0f", $2}' "$1"; }
hey_non200_of() { awk '/^\s+\[[0-9]+\]/ { gsub(/[\[\]]/, "", $1); if ($1 != "200") n += $2 } END {print n + 0}' "$1"; }

# --- baseline: the minimal Beast server, same server threads, same wrk threads and connections ---
"$build/bench/empty_server" --listen 127.0.0.1:0 --threads "$threads" >"$tmp/empty.out" 2>&1 &
empty_pid=$!
pids+=($empty_pid)
empty_url=$(first_line_url "$tmp/empty.out" 10)
# Same request shape as the vpointd runs (a POST with a body of the same kind), so only the server differs.
sed "s/MODE/verify/g; s#/v1/verify#/#" "$tmp/load.lua" >"$tmp/empty.lua"
c0=$(cpu_s_of "$empty_pid")
run_wrk empty "$empty_url/" "$tmp/empty.lua"
empty_rps=$(rps_of "$tmp/wrk_empty.txt")
empty_cpu_us=$(us_per "$c0" "$(cpu_s_of "$empty_pid")" "$(requests_of "$tmp/wrk_empty.txt")")

# --- vpointd verify: max rate, then p99 at half of it ---
c0=$(cpu_s_of "$vpointd_pid"); r0=$(redis_cpu_s)
run_wrk verify "$base/v1/verify" "$tmp/verify.lua"
verify_rps=$(rps_of "$tmp/wrk_verify.txt")
n=$(requests_of "$tmp/wrk_verify.txt")
verify_cpu_us=$(us_per "$c0" "$(cpu_s_of "$vpointd_pid")" "$n"); verify_redis_cpu_us=$(us_per "$r0" "$(redis_cpu_s)" "$n")
verify_half=$(python3 -c "print(round($verify_rps / 2))")
run_hey verify /v1/verify "$tmp/fixed_verify.json" "$verify_half"
# The floor of that p99 on this machine: hey itself (same rate, workers, body) against the minimal server.
base_vpointd=$base
base=$empty_url
run_hey empty /v1/verify "$tmp/fixed_verify.json" "$verify_half"
base=$base_vpointd
kill "$empty_pid" 2>/dev/null || true
wait "$empty_pid" 2>/dev/null || true

# --- vpointd decommission (supply): max rate with fresh packs, then p99 at half of it (repeat path) ---
c0=$(cpu_s_of "$vpointd_pid"); r0=$(redis_cpu_s)
run_wrk decommission "$base/v1/decommission" "$tmp/decommission.lua"
decommission_rps=$(rps_of "$tmp/wrk_decommission.txt")
n=$(requests_of "$tmp/wrk_decommission.txt")
decommission_cpu_us=$(us_per "$c0" "$(cpu_s_of "$vpointd_pid")" "$n")
decommission_redis_cpu_us=$(us_per "$r0" "$(redis_cpu_s)" "$n")
decommission_half=$(python3 -c "print(round($decommission_rps / 2))")
wraps=$(awk '/^lua_wraps/ {print $2}' "$tmp/wrk_decommission.txt")
# The central link writes every supply back to the simulator in the background (outbox); how much of the wrk
# run's backlog is still draining while hey runs tells whether that work competes with the timed requests.
outbox_depth() {
  "$bin/vpoint" status --redis "redis://127.0.0.1:$redis_port" --json 2>/dev/null \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["outbox"]["total"])' \
    2>/dev/null || echo "?"
}
# Let the backlog of the wrk run drain first (bounded: 180 s) so that the p99 run times requests, not a burst
# of 40 000 write-backs that steady traffic at half the rate would never pile up; the drain time is reported.
outbox_backlog=$(outbox_depth)
drain_start=$(date +%s)
for _ in $(seq 1 360); do
  d=$(outbox_depth)
  [ "$d" = 0 ] && break
  sleep 0.5
done
outbox_drain_s=$(( $(date +%s) - drain_start ))
log "central outbox: $outbox_backlog write-backs after the wrk run, drained in ${outbox_drain_s} s"
outbox_before=$(outbox_depth)
# The first supply of the fixed pack, right before hey so that all of hey's repeats fall inside
# [rules] repeat_window_s (30 s by default; hey runs for --duration).
probe=$(curl -s -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  --data-binary @"$tmp/fixed_decommission.json" "$base/v1/decommission")
case "$probe" in *'"verdict":"ok"'*) ;; *) fail "first supply of the fixed pack did not answer ok: $probe" ;; esac
run_hey decommission /v1/decommission "$tmp/fixed_decommission.json" "$decommission_half"
outbox_after=$(outbox_depth)
log "central outbox depth: $outbox_before before the hey decommission run, $outbox_after after"
probe=$(curl -s -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  --data-binary @"$tmp/fixed_decommission.json" "$base/v1/decommission")
case "$probe" in
  *'"repeat":true'*) decommission_path="repeat supply of one pack by the same location (refused, repeat:true)" ;;
  *) decommission_path="repeated supply of one pack OUTSIDE the repeat window (alert, already_inactive)"
     log "note: the repeated supply did not answer repeat:true: $probe" ;;
esac

# Verdicts vpointd counted, per route (from its own /metrics): shows the load got the answers we meant to time.
verdicts=$(curl -s "$base/metrics" | grep -E '^vpoint_(verdicts_total|alerts_total|mirror_call_seconds_(sum|count))' | sort)
log "vpointd counters (verdicts, alerts, Redis round trips):"
printf '%s\n' "$verdicts" | sed 's/^/  /' >&2

# --- optional: where vpointd's CPU goes, from extra runs with perf attached (never the timed figures) ---
if [ -n "$profile_dir" ]; then
  command -v perf >/dev/null || fail "--profile needs perf (apt-get install linux-perf)"
  mkdir -p "$profile_dir"
  profile_dir=$(cd "$profile_dir" && pwd)
  sed "s#$tmp/decommission_bodies.txt#$tmp/decommission_more_bodies.txt#" "$tmp/decommission.lua" \
    >"$tmp/decommission_more.lua"
  [ -s "$tmp/decommission_more_bodies.txt" ] || log "note: no unused packs left; the profiled supplies repeat"
  [ -s "$tmp/decommission_more_bodies.txt" ] || cp "$tmp/decommission.lua" "$tmp/decommission_more.lua"
  profile_run() {  # profile_run NAME PATH LUA
    local name=$1 data="$profile_dir/$1.perf.data"
    perf record -e cpu-clock -F 999 --call-graph dwarf,16384 -p "$vpointd_pid" -o "$data" \
      -- sleep "$duration" >"$tmp/perf_$name.out" 2>&1 &
    local perf_pid=$!
    sleep 0.5
    run_wrk "${name}_profiled" "$base$2" "$3"
    wait "$perf_pid" || { cat "$tmp/perf_$name.out" >&2; fail "perf record failed"; }
    # perf's own header lines and column padding dropped; what remains: percent, (self,) object, symbol.
    report() { perf report -i "$data" --stdio "$@" 2>/dev/null | sed -e 's/[[:space:]]*$//' | grep -v -e '^$' -e '^#'; }
    {
      echo "## $name: perf record -e cpu-clock -F 999 --call-graph dwarf -p vpointd, during:"
      grep -E 'Requests/sec' "$tmp/wrk_${name}_profiled.txt"
      echo "## self time by shared object"
      report --no-children --sort dso -g none --percent-limit 0.5
      echo "## self time by symbol"
      report --no-children -F overhead,dso,sym -g none --percent-limit 0.4
      echo "## time including callees, by symbol (children, self)"
      report --children --sort sym -g none --percent-limit 2
    } >"$profile_dir/$name.perf.txt"
    log "profile: $profile_dir/$name.perf.txt"
  }
  profile_run verify /v1/verify "$tmp/verify.lua"
  profile_run decommission /v1/decommission "$tmp/decommission_more.lua"
fi

python3 - "$tmp" <<PY
import json, sys
tmp = sys.argv[1]
empty, verify, decom = float("$empty_rps"), float("$verify_rps"), float("$decommission_rps")
def f(x, n=3): return round(x, n)
result = {
    "bench": "service",
    "packs": $packs, "usable_packs": int("$(wc -l <"$tmp/packs.ndjson")"), "redis_keys": int("$redis_keys"), "import_s": $import_s,
    "server_threads": $threads, "wrk_threads": $wrk_threads, "connections": $conns, "duration_s": $duration,
    "log_level": "$log_level",
    "empty_rps": f(empty, 0), "empty_cpu_us_per_req": $empty_cpu_us,
    "verify_rps": f(verify, 0),
    "verify_ratio": f(verify / empty),
    "verify_cpu_us_per_req": $verify_cpu_us, "verify_redis_cpu_us_per_req": $verify_redis_cpu_us,
    "verify_non2xx": int("$(non2xx_of "$tmp/wrk_verify.txt")"),
    "verify_socket_errors": int("$(errors_of "$tmp/wrk_verify.txt")"),
    "verify_p99_ms": float("$(p99_ms_of "$tmp/hey_verify.txt")"),
    "verify_p99_rate": int("$(hey_rps_of "$tmp/hey_verify.txt")"),
    "verify_p99_non200": int("$(hey_non200_of "$tmp/hey_verify.txt")"),
    "empty_p99_ms": float("$(p99_ms_of "$tmp/hey_empty.txt")"),
    "decommission_rps": f(decom, 0),
    "decommission_ratio": f(decom / empty),
    "decommission_cpu_us_per_req": $decommission_cpu_us, "decommission_redis_cpu_us_per_req": $decommission_redis_cpu_us,
    "decommission_non2xx": int("$(non2xx_of "$tmp/wrk_decommission.txt")"),
    "decommission_socket_errors": int("$(errors_of "$tmp/wrk_decommission.txt")"),
    "decommission_pack_reuse_wraps": int("${wraps:-0}"),
    "decommission_p99_ms": float("$(p99_ms_of "$tmp/hey_decommission.txt")"),
    "decommission_p99_rate": int("$(hey_rps_of "$tmp/hey_decommission.txt")"),
    "decommission_p99_non200": int("$(hey_non200_of "$tmp/hey_decommission.txt")"),
    "decommission_p99_path": "$decommission_path",
    "outbox_backlog_after_wrk": "$outbox_backlog", "outbox_drain_s": $outbox_drain_s, "outbox_before_p99_run": "$outbox_before", "outbox_after_p99_run": "$outbox_after",
    "goals": {"verify_ratio": ">=0.5", "decommission_ratio": ">=0.5", "p99_ms": "<=2",
              "verify_cpu_ratio": "<=2.5", "decommission_cpu_ratio": "<=3", "verify_p99_ratio": "<=2"},
}
def ratio(a, b): return f(a / b, 2) if b > 0 else None
result["verify_cpu_ratio"] = ratio(result["verify_cpu_us_per_req"], result["empty_cpu_us_per_req"])
result["decommission_cpu_ratio"] = ratio(result["decommission_cpu_us_per_req"], result["empty_cpu_us_per_req"])
result["verify_p99_ratio"] = ratio(result["verify_p99_ms"], result["empty_p99_ms"])
result["verify_ratio_met"] = result["verify_ratio"] >= 0.5
result["decommission_ratio_met"] = result["decommission_ratio"] >= 0.5
result["verify_cpu_met"] = result["verify_cpu_ratio"] is not None and result["verify_cpu_ratio"] <= 2.5
result["decommission_cpu_met"] = (result["decommission_cpu_ratio"] is not None
                                  and result["decommission_cpu_ratio"] <= 3)
# Issue 19: the verify p99 goal is relative to the empty server's p99 at the same rate in the same run.
result["verify_p99_met"] = result["verify_p99_ratio"] is not None and 0 < result["verify_p99_ratio"] <= 2
result["decommission_p99_met"] = 0 < result["decommission_p99_ms"] <= 2
result["profile_dir"] = "$profile_dir" or None
print(f"empty_server        {empty:10.0f} req/s")
print(f"verify              {verify:10.0f} req/s   ratio {result['verify_ratio']:.3f} (goal >= 0.5)   "
      f"p99 {result['verify_p99_ms']:.3f} ms at {result['verify_p99_rate']} req/s (goal <= 2)")
print(f"CPU per request at max rate: empty_server {result['empty_cpu_us_per_req']} us; vpointd verify "
      f"{result['verify_cpu_us_per_req']} us + redis {result['verify_redis_cpu_us_per_req']} us; vpointd decommission "
      f"{result['decommission_cpu_us_per_req']} us + redis {result['decommission_redis_cpu_us_per_req']} us")
print(f"CPU ratios to empty_server: verify {result['verify_cpu_ratio']} (goal <= 2.5), "
      f"decommission {result['decommission_cpu_ratio']} (goal <= 3)")
print(f"empty_server p99    {result['empty_p99_ms']:.3f} ms under hey at the verify half rate (client + machine floor); "
      f"verify p99 / empty p99 = {result['verify_p99_ratio']} (goal <= 2)")
print(f"decommission supply {decom:10.0f} req/s   ratio {result['decommission_ratio']:.3f} (goal >= 0.5)   "
      f"p99 {result['decommission_p99_ms']:.3f} ms at {result['decommission_p99_rate']} req/s (goal <= 2)")
print(f"  decommission p99 path: {result['decommission_p99_path']}")
print("RESULT " + json.dumps(result, separators=(",", ":")))
PY
