# shellcheck shell=bash
# Shared by Benchmarks/dns.sh and Benchmarks/http.sh (sourced right after `set -euo pipefail`).
# Not a program: it only sets the paths below and defines functions.
#
# Paths: BENCH (this folder), ROOT (the repository), RUN (Benchmarks/run: state, gitignored), DATA, OUT,
#        VENV (run/venv, the Python peers' venv), RESULTS, STAMP (UTC, for the raw-results folder),
#        SPATE_DEFAULT (.build/release/spate).
# The measurement helpers write into $RAW and $OUT, which the calling script sets up.
# The variables set here are used by the scripts that source this file:
# shellcheck disable=SC2034

export PYTHONDONTWRITEBYTECODE=1 LC_ALL=C

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
RUN="$BENCH/run"
DATA="$RUN/data"
OUT="$RUN/out"
VENV="$RUN/venv"
RESULTS="$BENCH/results"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
SPATE_DEFAULT="$ROOT/.build/release/spate"

# ---------------------------------------------------------------- logging
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
NOTES=()
note() { NOTES+=("$*"); log "note: $*"; }   # also listed under "Notes" in the report (meta_notes)
commas() { sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta' <<< "$1"; }

# ---------------------------------------------------------------- installs
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root or sudo for: $*"; fi; }

# install_missing [PKG...]: apt-get install PKG... (the caller's missing tools), plus time, python3 and
# coreutils when /usr/bin/time, python3 or timeout are missing; does nothing when the list is empty.
# Debian does not start services from packages in containers, and the benchmarks never use a system
# service: they run their own server with their own config.
install_missing() {
  local need=("$@")
  [ -x /usr/bin/time ] || need+=(time)
  command -v python3 >/dev/null || need+=(python3)
  command -v timeout >/dev/null || need+=(coreutils)
  if [ "${#need[@]}" -gt 0 ]; then
    log "installing: ${need[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
  fi
}

# peer_venv WHAT PKG...: PY_OK=1 when $VENV's python imports PKG... (pip-installs them, into a new venv if
# there is none, when it does not); otherwise PY_OK=0 and a note that WHAT ("aiohttp peer") is skipped.
peer_venv() {
  local what="$1"; shift
  local pkgs="$*"
  PY_OK=0
  if "$VENV/bin/python" -c "import ${pkgs// /, }" 2>/dev/null; then
    PY_OK=1
  elif [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" >/dev/null 2>&1 || { rm -rf "$VENV"; false; }; then
    log "installing ${pkgs// / and } into $VENV"
    if "$VENV/bin/pip" install -q --disable-pip-version-check "$@" >&2; then
      PY_OK=1
    else
      note "pip install $pkgs failed: $what skipped"
    fi
  else
    note "python3 -m venv does not work here (Debian: apt-get install python3-venv): $what skipped"
  fi
}

# From the call on: loopback only. No client may pick up a proxy (the installs may have needed one).
no_proxies() {
  unset http_proxy https_proxy ftp_proxy all_proxy no_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY NO_PROXY
}

# ---------------------------------------------------------------- ports, our own server process
# port_free HOST PORT [udp] -> 0 if nothing holds HOST:PORT over TCP (and, with "udp", over UDP too);
# 1 if something does; 3 if HOST cannot be bound at all (no ::1?).
port_free() {
  python3 - "$@" <<'PY'
import errno, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
kinds = ((socket.SOCK_DGRAM,) if sys.argv[3:] == ["udp"] else ()) + (socket.SOCK_STREAM,)
for kind in kinds:
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind)
    if kind == socket.SOCK_STREAM:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # ignore TIME_WAIT leftovers
    try:
        s.bind((host, port))
    except OSError as e:
        sys.exit(1 if e.errno == errno.EADDRINUSE else 3)
    finally:
        s.close()
PY
}

# is_ours PID CONF -> 0 if PID is alive and its command line names CONF (our server, not someone else's)
is_ours() { kill -0 "$1" 2>/dev/null && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF "$2"; }

# wait_exit PID TENTHS -> 0 once PID has exited; 1 if it is still there after TENTHS x 0.1 s
wait_exit() {
  for _ in $(seq "$2"); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  ! kill -0 "$1" 2>/dev/null
}

# on_exit FUNC: run FUNC on exit, also after Ctrl-C (exit 130) or SIGTERM (exit 143)
on_exit() {
  # shellcheck disable=SC2064   # FUNC is a function name: expanding it now is the point
  trap "$1" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# ---------------------------------------------------------------- measurement
# A script's measure() is: run_begin ID CMD...; sample its counters; timed ID LIMIT CMD... || rc=$?;
# sample again; time_v $RAW/ID.time; check the output; one line into runs.tsv; log; limit_hit.

# run_begin ID CMD...: keep the command line in $RAW/ID.cmd and log it
run_begin() {
  local id="$1"; shift
  printf '%s\n' "$*" > "$RAW/$id.cmd"
  log "$id: $*"
}

# timed ID LIMIT CMD... -> CMD's exit status (124: hit LIMIT s; then SIGINT, and SIGKILL 10 s later).
# /usr/bin/time -v report -> $RAW/ID.time, stdout -> $OUT/ID.out, stderr -> $RAW/ID.err, stdin /dev/null.
timed() {
  local id="$1" limit="$2"; shift 2
  /usr/bin/time -v -o "$RAW/$id.time" timeout --signal=INT --kill-after=10 "$limit" "$@" \
    > "$OUT/$id.out" 2> "$RAW/$id.err" < /dev/null
}

# time_v FILE: read a /usr/bin/time -v report into WALL (s), CPU (user + sys, s) and RSS (peak, MB)
time_v() {
  WALL="$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; print s }' "$1")"
  CPU="$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$1")"
  RSS="$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1")"
}

# inner_wall ERR_FILE: "inner_wall_s" of the last JSON line a peer printed on stderr ("" if none)
inner_wall() {
  python3 -c 'import json,sys
try:
    print(json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])["inner_wall_s"])
except Exception:
    print("")' "$1"
}

# jfield JSON KEY: one field of a JSON object ("" if missing; objects and lists as JSON)
jfield() { python3 -c 'import json,sys; v = json.loads(sys.argv[1]).get(sys.argv[2], ""); print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$1" "$2"; }

# limit_hit RC LIMIT: log it when the run was stopped by the time limit
limit_hit() { if [ "$1" = 124 ]; then log "  !! hit the ${2}s limit"; fi; }

# ---------------------------------------------------------------- report metadata (meta.tsv lines)
meta_machine() {
  printf 'date\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf 'machine\t%s vCPU, %s, %s GiB RAM\n' "$(nproc)" \
    "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    "$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
  # shellcheck disable=SC1091
  printf 'os\t%s, kernel %s\n' "$(. /etc/os-release && echo "$PRETTY_NAME")" "$(uname -r)"
}
meta_spate() { # when RUN_SPATE=1: the measured binary's version and path
  [ "$RUN_SPATE" != 1 ] || printf 'spate\t%s (%s)\n' "$("$SPATE" --version 2>/dev/null | head -n 1 || echo '?')" "$SPATE"
}
meta_notes() { for n in "${NOTES[@]+"${NOTES[@]}"}"; do printf 'note\t%s\n' "$n"; done; }
