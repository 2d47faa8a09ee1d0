#!/usr/bin/env bash
# The Docker files (issue 18) checked without a Docker engine (none on our machines; the images are never
# built here):
#   (a) the Dockerfile's build stage installs the packages of scripts/setup's packages=( … ) list, except the
#       load tools wrk and hey (scripts/bench only, nothing is benchmarked in an image build);
#   (b) its runtime stage installs what docker/runtime-packages derives now from `ldd` + `dpkg -S` of the built
#       vpointd, plus ca-certificates (a CA bundle file, no library: ldd cannot see it); the simulator and the
#       vpoint CLI in the images need nothing beyond that;
#   (c) `docker-compose config -q` accepts docker/compose.yaml (with REDIS_PASSWORD from a temporary env file,
#       and refuses it without one);
#   (d) the VPOINT_* variables of compose.yaml's vpointd and of the Dockerfile are settings docs/config.md
#       documents, and `vpointd --check` accepts that environment with the mounted demo keys file;
#   (e) the contract lines: base image, non-root user, EXPOSE 8080, the HEALTHCHECK through --health.
# Usage: docker_test.sh SOURCE_DIR VPOINTD VPOINT_CENTRAL_SIM VPOINT
set -uo pipefail

src=$1 vpointd=$2 sim=$3 cli=$4
dockerfile=$src/docker/Dockerfile
compose=$src/docker/compose.yaml
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The words of scripts/setup's packages=( … ) array, comments dropped.
setup_packages() {
  awk '/^packages=\(/ { on = 1; next } on && /^\)/ { exit } on { sub(/#.*/, ""); print }' "$src/scripts/setup" |
    tr -s ' \t' '\n\n' | sed '/^$/d' | sort -u
}
# The packages one stage of the Dockerfile installs with apt-get install (continuation lines joined).
stage_packages() {
  awk -v stage="$1" '
    /^FROM / { on = (tolower($NF) == stage && tolower($(NF - 1)) == "as") }
    on' "$dockerfile" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' |
    grep -o 'apt-get install[^&]*' | sed 's/^apt-get install//' | tr -s ' \t' '\n\n' | grep -v '^-' |
    sed '/^$/d' | sort -u
}
# "only in A: … / only in B: …" of two sorted lists, empty when equal.
differences() {
  local a=$1 b=$2 name_a=$3 name_b=$4 only_a only_b
  only_a=$(comm -23 "$a" "$b" | tr '\n' ' ')
  only_b=$(comm -13 "$a" "$b" | tr '\n' ' ')
  [ -n "$only_a" ] && echo "only in $name_a: $only_a"
  [ -n "$only_b" ] && echo "only in $name_b: $only_b"
  return 0
}

# (a) build stage = scripts/setup's packages minus the load tools.
load_tools="hey wrk"
setup_packages >"$tmp/setup"
for tool in $load_tools; do
  grep -qx "$tool" "$tmp/setup" || fail "(a) the rule leaves out '$tool', which scripts/setup no longer installs: update the rule"
done
grep -vxF -f <(printf '%s\n' $load_tools) "$tmp/setup" >"$tmp/setup_build"
stage_packages build >"$tmp/build_stage"
[ -s "$tmp/setup" ] || fail "(a) no packages=( … ) list found in scripts/setup"
diff_a=$(differences "$tmp/setup_build" "$tmp/build_stage" "scripts/setup (without $load_tools)" "the Dockerfile's build stage")
if [ -n "$diff_a" ]; then fail "(a) build stage packages differ: $diff_a"; else pass "(a) build stage installs scripts/setup's $(wc -l <"$tmp/build_stage") packages (without $load_tools)"; fi

# (b) runtime stage = runtime-packages(vpointd) + ca-certificates; the simulator and the CLI need no more.
if ! "$src/docker/runtime-packages" "$vpointd" >"$tmp/ldd_packages"; then
  fail "(b) docker/runtime-packages failed on $vpointd"
fi
{ cat "$tmp/ldd_packages"; echo ca-certificates; } | sort -u >"$tmp/runtime_expected"
stage_packages runtime >"$tmp/runtime_stage"
diff_b=$(differences "$tmp/runtime_expected" "$tmp/runtime_stage" "ldd + dpkg -S of vpointd (+ ca-certificates)" "the Dockerfile's runtime stage")
if [ -n "$diff_b" ]; then fail "(b) runtime stage packages differ: $diff_b"; else pass "(b) runtime stage installs exactly $(tr '\n' ' ' <"$tmp/runtime_stage")"; fi
for program in "$sim" "$cli"; do
  "$src/docker/runtime-packages" "$program" >"$tmp/other" || fail "(b) docker/runtime-packages failed on $program"
  missing=$(comm -23 "$tmp/other" "$tmp/runtime_stage" | tr '\n' ' ')
  if [ -n "$missing" ]; then fail "(b) $(basename "$program") needs $missing, not in the runtime stage"; else pass "(b) $(basename "$program") needs nothing beyond it"; fi
done

# (c) docker-compose config.
if ! command -v docker-compose >/dev/null; then
  fail "(c) docker-compose not found (Debian package docker-compose; scripts/setup installs it)"
else
  printf 'REDIS_PASSWORD=test-password-0123456789\n' >"$tmp/env"
  if out=$(docker-compose --env-file "$tmp/env" -f "$compose" config -q 2>&1); then
    pass "(c) docker-compose config -q accepts docker/compose.yaml"
  else
    fail "(c) docker-compose config -q refuses docker/compose.yaml: $out"
  fi
  : >"$tmp/empty_env"
  if out=$(env -u REDIS_PASSWORD docker-compose --env-file "$tmp/empty_env" -f "$compose" config -q 2>&1); then
    fail "(c) docker-compose config accepted the stack without REDIS_PASSWORD"
  elif grep -q REDIS_PASSWORD <<<"$out"; then
    pass "(c) without REDIS_PASSWORD it is refused, naming it"
  else
    fail "(c) without REDIS_PASSWORD it is refused, but the message does not name it: $out"
  fi
  docker-compose --env-file "$tmp/env" -f "$compose" config >"$tmp/resolved.yaml" 2>"$tmp/config.err" ||
    fail "(c) docker-compose config: $(cat "$tmp/config.err")"
fi

# (d) the vpointd service's environment: documented settings only, and accepted by vpointd --check.
if [ -s "$tmp/resolved.yaml" ]; then
  python3 - "$tmp/resolved.yaml" >"$tmp/vpointd_env" <<'PY' || fail "(d) cannot read the vpointd service's environment"
import sys, yaml
services = yaml.safe_load(open(sys.argv[1]))["services"]
for name, value in sorted((services["vpointd"].get("environment") or {}).items()):
    print(f"{name}={'' if value is None else value}")
PY
  {
    cut -d= -f1 "$tmp/vpointd_env"
    awk '/^FROM / { on = (tolower($NF) == "vpointd") } on' "$dockerfile" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' |
      grep '^ENV ' | grep -o 'VPOINT_[A-Z0-9_]*'
  } | sort -u >"$tmp/names"
  [ -s "$tmp/names" ] || fail "(d) no VPOINT_* variables found for vpointd"
  undocumented=""
  while read -r name; do
    case "$name" in VPOINT_*) ;; *) undocumented+="$name (not a VPOINT_ setting) "; continue ;; esac
    grep -qF "\`$name\`" "$src/docs/config.md" || undocumented+="$name "
  done <"$tmp/names"
  if [ -n "$undocumented" ]; then fail "(d) not settings in docs/config.md: $undocumented"; else pass "(d) $(wc -l <"$tmp/names") variables, each a setting of docs/config.md"; fi
  # The mounted keys file is the compose file's default (docker/demo-keys.toml), here at its source path.
  mapfile -t env_args < <(grep -v '^VPOINT_AUTH_KEYS_FILE=' "$tmp/vpointd_env")
  if out=$(env -i "${env_args[@]}" "VPOINT_AUTH_KEYS_FILE=$src/docker/demo-keys.toml" "$vpointd" --check 2>&1); then
    pass "(d) vpointd --check accepts the compose environment with docker/demo-keys.toml: $out"
  else
    fail "(d) vpointd --check refuses the compose environment: $out"
  fi
fi

# (e) contract lines of the Dockerfile.
bases=$(grep -E '^FROM ' "$dockerfile" | awk '{ print $2 }' | sort -u | tr '\n' ' ')
for base in $bases; do
  case "$base" in debian:bookworm-slim | build | runtime) ;; *) fail "(e) FROM $base: stages build on debian:bookworm-slim" ;; esac
done
vpointd_stage=$(awk '/^FROM / { on = (tolower($NF) == "vpointd") } on' "$dockerfile")
grep -qx 'HEALTHCHECK .*' <<<"$vpointd_stage" || fail "(e) the vpointd stage has no HEALTHCHECK"
grep -qF 'CMD ["/usr/local/bin/vpointd","--health","http://127.0.0.1:8080/healthz"]' <<<"$vpointd_stage" ||
  fail "(e) the vpointd stage's HEALTHCHECK is not vpointd --health http://127.0.0.1:8080/healthz"
grep -qx 'USER 10001:10001' <<<"$vpointd_stage" || fail "(e) the vpointd stage does not run as uid 10001"
grep -qx 'EXPOSE 8080' <<<"$vpointd_stage" || fail "(e) the vpointd stage does not expose 8080"
[ "$(grep -E '^FROM ' "$dockerfile" | tail -1 | awk '{ print $NF }')" = vpointd ] || fail "(e) vpointd is not the last (default) stage"
for target in $(grep -o 'target: [a-z-]*' "$compose" | awk '{ print $2 }'); do
  grep -qE "^FROM .* AS $target\$" "$dockerfile" || fail "(e) compose.yaml builds target '$target', which the Dockerfile lacks"
done
[ "$failures" -eq 0 ] && pass "(e) base images, user, port, health check and targets"

if [ "$failures" -ne 0 ]; then
  echo "docker_test: $failures failure(s)" >&2
  exit 1
fi
echo "docker_test: all checks passed"
