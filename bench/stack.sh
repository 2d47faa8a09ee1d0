# Sourced by the service benchmarks (bench/service_bench.sh, bench/load_bench.sh): the stack they load, all on
# 127.0.0.1 in a temporary directory removed at exit. redis-server with docker/redis.conf but
# `--appendonly no --save ""` (we time the service, not the disk), vpoint-central-sim with $packs packs
# (--no-fsync) from which vpointd imports the snapshot itself through its [central] url, then vpointd ([log] level
# $log_level, written to a file). Every process started here is killed on exit.
# In:  bench_name build packs threads log_level sample [extra_toml: more vpointd.toml lines, e.g. keys]
# Out: tmp pids root bin redis_port central_url port base key vpointd_pid import_s redis_keys bodies, the files
#      $tmp/packs.ndjson, fixed_{verify,decommission}.json, {verify,decommission}_bodies.txt,
#      decommission_more_bodies.txt (other packs than those, possibly empty), and the helpers
#      fail, log, free_port, first_line_url.
extra_toml=${extra_toml:-}
for tool in redis-server redis-cli wrk hey curl python3; do
  command -v "$tool" >/dev/null || { echo "$bench_name: '$tool' is not installed (scripts/setup)" >&2; exit 2; }
done
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$build/bin
for exe in "$bin/vpointd" "$bin/vpoint-central-sim" "$build/bench/empty_server"; do
  [ -x "$exe" ] || { echo "$bench_name: $exe is missing (run it through scripts/bench)" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vpoint-bench-$bench_name.XXXXXX")
pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fail() { echo "$bench_name: $*" >&2; exit 1; }
first_line_url() {  # first_line_url FILE SECONDS: the "listening http://…" line a server prints first
  for _ in $(seq 1 $(($2 * 10))); do
    if [ -s "$1" ]; then sed -n '1s/^listening //p' "$1"; return 0; fi
    sleep 0.1
  done
  fail "no 'listening' line in $1 after $2 s"
}
log() { printf '%s\n' "$*" >&2; }

# --- Redis ---
redis_port=$(free_port)
mkdir -p "$tmp/redis" "$tmp/central" "$tmp/audit"
redis-server "$root/docker/redis.conf" --port "$redis_port" --bind 127.0.0.1 --dir "$tmp/redis" \
  --appendonly no --save "" >"$tmp/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$redis_port" ping >/dev/null 2>&1 || fail "redis-server did not start (see log above)"

# --- central simulator with the packs ---
"$bin/vpoint-central-sim" --listen 127.0.0.1:0 --data "$tmp/central" --seed 7 --products 1000 \
  --packs "$packs" --no-fsync >"$tmp/central.out" 2>"$tmp/central.err" &
pids+=($!)
central_url=$(first_line_url "$tmp/central.out" 120)

# --- vpointd: imports the snapshot from the simulator on its first start ---
port=$(free_port)
key=bench-pharmacy-key-0001
cat >"$tmp/vpointd.toml" <<TOML
[http]
listen = "127.0.0.1:$port"
threads = $threads

[redis]
url = "redis://127.0.0.1:$redis_port"

[central]
url = "$central_url"

[location]
gln = "4012345000009"
name = "Bench pharmacy"

[audit]
dir = "$tmp/audit"

[log]
level = "$log_level"

[[auth.keys]]
name = "bench-counter"
key = "$key"
role = "pharmacy"
$extra_toml
TOML
"$bin/vpointd" --config "$tmp/vpointd.toml" >"$tmp/vpointd.log" 2>&1 &
vpointd_pid=$!
pids+=($vpointd_pid)
base=http://127.0.0.1:$port
log "importing $packs packs into the mirror (vpointd's central link)..."
start=$(date +%s.%N)
ready=0
for _ in $(seq 1 6000); do  # at most 600 s
  kill -0 "$vpointd_pid" 2>/dev/null || { tail -5 "$tmp/vpointd.log" >&2; fail "vpointd exited"; }
  if curl -fsS -o /dev/null "$base/readyz" 2>/dev/null; then ready=1; break; fi
  sleep 0.1
done
[ "$ready" = 1 ] || fail "vpointd not ready after 600 s: $(curl -s "$base/readyz")"
import_s=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
redis_keys=$(redis-cli -p "$redis_port" dbsize)
log "ready after ${import_s} s (redis keys: $redis_keys; packs are bucketed, many per key)"

# --- request bodies: random active packs of the whole mirror, scan text as the scanner sends it ---
"$bin/vpoint-central-sim" --data "$tmp/central" --print-packs "$packs" --scan-text >"$tmp/packs.ndjson"
python3 - "$tmp" "$sample" <<'PY'
import json, random, sys
tmp, sample = sys.argv[1], int(sys.argv[2])
with open(f"{tmp}/packs.ndjson") as f:
    scans = [json.loads(line)["scan"] for line in f if line.strip()]
if len(scans) < 2:
    sys.exit("bench: the simulator printed fewer than 2 usable packs")
rng = random.Random(7)
rng.shuffle(scans)
rest = scans[sample:2 * sample]  # packs no timed run touches (service_bench's profiled decommission run)
scans = scans[:sample]
# The first pack is kept for the fixed-body hey runs; the load scripts use the rest. json.dumps escapes the
# GS/RS/EOT separators of the scan text (\u001d …).
with open(f"{tmp}/fixed_verify.json", "w") as f:
    f.write(json.dumps({"scan": scans[0]}))
with open(f"{tmp}/fixed_decommission.json", "w") as f:
    f.write(json.dumps({"scan": scans[0], "action": "supply"}))
with open(f"{tmp}/verify_bodies.txt", "w") as f:
    for s in scans[1:]:
        f.write(json.dumps({"scan": s}) + "\n")
with open(f"{tmp}/decommission_bodies.txt", "w") as f:
    for s in scans[1:]:
        f.write(json.dumps({"scan": s, "action": "supply"}) + "\n")
with open(f"{tmp}/decommission_more_bodies.txt", "w") as f:
    for s in rest:
        f.write(json.dumps({"scan": s, "action": "supply"}) + "\n")
PY
bodies=$(wc -l <"$tmp/verify_bodies.txt")
