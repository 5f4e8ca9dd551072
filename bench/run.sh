#!/usr/bin/env bash
# Portkey gateway benchmark: one command.
#   bench/run.sh [--duration S] [--conns N[,N...]] [--quick] [--targets direct,gateway,gateway-anthropic]
#                [--gateway-cmd "CMD with {port}"] [--skip-install] [...]   (bench.py --help: all)
# Installs what is missing (Debian nginx-light and wrk, via apt-get; needs root), then runs
# bench.py, which prints a markdown report on stdout and writes results.json + report.md under
# $BENCH_OUT (default: a new temp dir). Without nginx it falls back to canned_upstream.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"

skip_install="${BENCH_SKIP_INSTALL:-0}"
args=()
for a in "$@"; do
  if [ "$a" = "--skip-install" ]; then skip_install=1; else args+=("$a"); fi
done

log() { printf '[bench] %s\n' "$*" >&2; }

install_missing() {
  local pkgs=()
  command -v nginx >/dev/null 2>&1 || pkgs+=(nginx-light)
  command -v wrk >/dev/null 2>&1 || pkgs+=(wrk)
  command -v taskset >/dev/null 2>&1 || pkgs+=(util-linux)
  ((${#pkgs[@]})) || return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "missing ${pkgs[*]} and cannot apt-get install them here; continuing without"
    return 0
  fi
  log "installing ${pkgs[*]} (apt-get)"
  # The nginx package would start a system nginx on :80; a policy-rc.d that exits 101 stops
  # that. Create one only if there is none, and remove only the one created here.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  fi
  local rc=0
  timeout 300 apt-get update -qq >&2 || rc=$?
  if [ "$rc" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq --no-install-recommends \
      "${pkgs[@]}" >/dev/null 2>&1 || rc=$?
  fi
  [ "$made_policy" = 1 ] && rm -f "$policy"
  [ "$rc" = 0 ] || log "apt-get failed (rc=$rc); continuing with what is there"
}

if [ "$skip_install" != 1 ]; then
  install_missing
fi

# The driver and its helpers are stdlib Python; uvloop (from the project venv) makes the canned
# upstream and the paced client cheaper, so prefer a Python that has it.
py="${BENCH_PYTHON:-}"
if [ -z "$py" ]; then
  for cand in "$repo/.venv/bin/python" python3; do
    if "$cand" -c 'import uvloop' >/dev/null 2>&1; then py="$cand"; break; fi
  done
  py="${py:-python3}"
fi
exec "$py" "$here/bench.py" "${args[@]}"
