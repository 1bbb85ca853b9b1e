#!/usr/bin/env bash
# spate resolve vs. peers, on loopback, against our own Knot DNS.
#
# What it does (see Benchmarks/README.md):
#   1. installs what is missing (knot knot-dnsutils adns-tools time python3; apt, as root or via sudo)
#      and a Python venv with gevent + aiodns under Benchmarks/run/venv (skipped if venv/pip fail);
#   2. generates bench.test (N=100,000 A records hNNNNNN.bench.test -> 127.(i>>16).(i>>8&255).(i&255))
#      and starts knotd on 127.0.0.1:$DNS_PORT (default 5353), plus 127.0.0.1:53 for adnshost if that
#      port is free and we are root; waits until the zone answers;
#   3. resolves the 100k names with spate and the peers, REPEAT times, interleaved, each run as
#      /usr/bin/time -v timeout $TIMEOUT_S CMD; checks every answer per name (check_dns.py);
#   4. memory flatness: spate on 10,000 and on 1,000,000 jobs (names cycled), peak RSS and ratio;
#   5. prints a Markdown table and writes it to Benchmarks/results/dns-latest.md.
# knotd is stopped on exit (KEEP_DNS=1 leaves it running). State lives in Benchmarks/run/ (gitignored),
# per-run time/stderr files in Benchmarks/results/raw/ (gitignored).
#
# Env knobs:
#   REPEAT=3            runs per tool; the table shows medians
#   CONC=1000           in-flight limit for spate, gevent and aiodns (a list such as "1000 100" works)
#   SKIP_PEERS=1        only spate          SKIP_SPATE=1   only the peers
#   SKIP_MEMORY=1       no memory-flatness runs
#   SPATE=path          binary to measure (default .build/release/spate; built with
#                       `swift build -c release` when missing, or always with SPATE_BUILD=1)
#   DNS_PORT=5353       Knot's port for every client except adnshost (always 53)
#   N=100000            names in the zone (a smaller N makes a quick smoke run)
#   TIMEOUT_S=150       per-run limit for the 100k runs; MEM_TIMEOUT_S=600 for the 1M-job run
#   ADNS_SLICE=200      names per adnshost process
#   KEEP_DNS=1          leave knotd running at the end
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1 LC_ALL=C

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
RUN="$BENCH/run"
KNOT="$RUN/knot"
DATA="$RUN/data"
OUT="$RUN/out"
RESULTS="$BENCH/results"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RAW="$RESULTS/raw/dns-$STAMP"

REPEAT="${REPEAT:-3}"
CONC="${CONC:-1000}"
SKIP_PEERS="${SKIP_PEERS:-0}"
SKIP_SPATE="${SKIP_SPATE:-0}"
SKIP_MEMORY="${SKIP_MEMORY:-0}"
SPATE_BUILD="${SPATE_BUILD:-0}"
DNS_PORT="${DNS_PORT:-5353}"
N="${N:-100000}"
TIMEOUT_S="${TIMEOUT_S:-150}"
MEM_TIMEOUT_S="${MEM_TIMEOUT_S:-600}"
MEM_SMALL="${MEM_SMALL:-10000}"
MEM_BIG="${MEM_BIG:-1000000}"
ADNS_SLICE="${ADNS_SLICE:-200}"
KEEP_DNS="${KEEP_DNS:-0}"
SPATE_DEFAULT="$ROOT/.build/release/spate"
SPATE="${SPATE:-$SPATE_DEFAULT}"

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
NOTES=()
note() { NOTES+=("$*"); log "note: $*"; }
commas() { sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta' <<< "$1"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root or sudo for: $*"; fi; }

# ---------------------------------------------------------------- 1. tools
need=()
command -v knotd >/dev/null || need+=(knot)
command -v kdig >/dev/null || need+=(knot-dnsutils)
command -v adnshost >/dev/null || need+=(adns-tools)
[ -x /usr/bin/time ] || need+=(time)
command -v python3 >/dev/null || need+=(python3)
command -v timeout >/dev/null || need+=(coreutils)
if [ "${#need[@]}" -gt 0 ]; then
  log "installing: ${need[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi
# Debian does not start services from packages in containers, and we never want the system knot here:
# knotd is always run below with our own config.

mkdir -p "$KNOT/db" "$DATA" "$OUT" "$RAW"

PY_OK=0
VENV="$RUN/venv"
if [ "$SKIP_PEERS" != 1 ]; then
  if "$VENV/bin/python" -c 'import gevent, aiodns' 2>/dev/null; then
    PY_OK=1
  elif python3 -m venv "$VENV" >/dev/null 2>&1 || { rm -rf "$VENV"; false; }; then
    log "installing gevent and aiodns into $VENV"
    if "$VENV/bin/pip" install -q --disable-pip-version-check gevent aiodns >&2; then
      PY_OK=1
    else
      note "pip install gevent aiodns failed: gevent and aiodns peers skipped"
    fi
  else
    note "python3 -m venv does not work here (Debian: apt-get install python3-venv): gevent and aiodns peers skipped"
  fi
fi

# ---------------------------------------------------------------- spate binary
RUN_SPATE=1
if [ "$SKIP_SPATE" = 1 ]; then
  RUN_SPATE=0; note "spate skipped (SKIP_SPATE=1)"
elif [ "$SPATE_BUILD" = 1 ] || [ ! -x "$SPATE" ]; then
  if [ "$SPATE" != "$SPATE_DEFAULT" ]; then
    [ -x "$SPATE" ] || die "SPATE=$SPATE is not an executable"
  else
    [ -d /opt/swift/usr/bin ] && PATH="/opt/swift/usr/bin:$PATH"
    command -v swift >/dev/null || die "swift not found (to build spate); put it on PATH or set SKIP_SPATE=1"
    log "building spate: swift build -c release"
    (cd "$ROOT" && swift build -c release >&2)
    [ -x "$SPATE" ] || die "swift build -c release did not produce $SPATE"
  fi
fi

# From here on: loopback only. No client may pick up a proxy (the installs above may have needed one).
unset http_proxy https_proxy ftp_proxy all_proxy no_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY NO_PROXY

# ---------------------------------------------------------------- 2. data + knotd
python3 "$BENCH/gen-zone.py" "$DATA" "$N"
NAMES="$DATA/names-$N.txt"
# cycle NAMES to COUNT lines (memory runs)
cycled() { # COUNT -> path
  local f="$DATA/names-cycled-$1-of-$N.txt"
  if [ ! -s "$f" ] || [ "$(wc -l < "$f")" != "$1" ]; then
    awk -v want="$1" '{ n[NR] = $0 } END { for (i = 0; i < want; i++) print n[i % NR + 1] }' "$NAMES" > "$f.tmp"
    mv "$f.tmp" "$f"
  fi
  printf '%s\n' "$f"
}

port_free() { # PORT -> 0 if nothing holds 127.0.0.1:PORT (UDP or TCP)
  python3 - "$1" <<'PY'
import socket, sys
port = int(sys.argv[1])
for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    if kind == socket.SOCK_STREAM:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # ignore TIME_WAIT leftovers
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
PY
}

stop_knot() {
  local pid=""
  [ -s "$KNOT/knot.pid" ] && pid="$(cat "$KNOT/knot.pid")"
  [ -n "$pid" ] || return 0
  # only our own knotd: its command line names our config file
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$KNOT/knot.conf"; then
    knotc -c "$KNOT/knot.conf" -s "$KNOT/knot.sock" stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    log "knotd stopped (pid $pid)"
  fi
  rm -f "$KNOT/knot.pid"
}

cleanup() {
  local rc=$?
  if [ "$KEEP_DNS" = 1 ]; then
    [ -s "$KNOT/knot.pid" ] && log "knotd left running (pid $(cat "$KNOT/knot.pid")); stop: kill $(cat "$KNOT/knot.pid")"
  else
    stop_knot
  fi
  rm -f "$OUT"/mem-*.out
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop_knot   # a leftover from an interrupted run

port_free "$DNS_PORT" || die "127.0.0.1:$DNS_PORT is in use (another DNS server?). Stop it or choose another port with DNS_PORT=."
LISTEN="127.0.0.1@$DNS_PORT"
RUN_ADNS=0
if [ "$SKIP_PEERS" != 1 ]; then
  if [ "$(id -u)" != 0 ]; then
    note "adnshost skipped: it can only ask port 53, and binding 127.0.0.1:53 needs root"
  elif ! port_free 53; then
    note "adnshost skipped: 127.0.0.1:53 is in use, and adnshost cannot be given another port"
  else
    LISTEN="$LISTEN, 127.0.0.1@53"; RUN_ADNS=1
  fi
fi

cp "$DATA/bench.test.zone" "$KNOT/bench.test.zone"
cat > "$KNOT/knot.conf" <<EOF
# generated by Benchmarks/dns.sh -- knotd for the spate benchmark, loopback only
server:
    rundir: "$KNOT"
    pidfile: "$KNOT/knot.pid"
    listen: [ $LISTEN ]
    udp-workers: ${KNOT_UDP_WORKERS:-2}
    tcp-workers: 1
    background-workers: 1
log:
  - target: "$KNOT/knot.log"
    any: notice
database:
    storage: "$KNOT/db"
control:
    listen: "$KNOT/knot.sock"
template:
  - id: default
    storage: "$KNOT"
    zonefile-load: whole
    zonefile-sync: -1
    journal-content: none
    semantic-checks: off
zone:
  - domain: bench.test.
    file: bench.test.zone
EOF
: > "$KNOT/knot.log"
log "starting knotd on ${LISTEN//@/:} ($N names)"
knotd -c "$KNOT/knot.conf" -d

LAST="$(tail -n 1 "$NAMES")"
LAST_ADDR="$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import check_dns; print(check_dns.expected(sys.argv[2]))' "$BENCH" "$LAST")"
answers() { [ "$(kdig @127.0.0.1 -p "$1" +short +time=1 +retry=0 "$LAST" A 2>/dev/null)" = "$LAST_ADDR" ]; }
for _ in $(seq 300); do answers "$DNS_PORT" && break; sleep 0.2; done
answers "$DNS_PORT" || { tail -n 20 "$KNOT/knot.log" >&2; die "knotd does not answer $LAST on 127.0.0.1:$DNS_PORT (log: $KNOT/knot.log)"; }
if [ "$RUN_ADNS" = 1 ] && ! answers 53; then
  RUN_ADNS=0; note "adnshost skipped: knotd does not answer on 127.0.0.1:53"
fi
log "knotd $(knotd -V | awk '{print $NF}') answers (pid $(cat "$KNOT/knot.pid")): $LAST -> $LAST_ADDR"

# ---------------------------------------------------------------- 3. measurement helpers
TSV="$RAW/runs.tsv"
printf 'group\ttool\trun\trc\twall_s\tcpu_s\trss_mb\ttotal\tcorrect\tudp_drops\tserver_drops\tinner\n' > "$TSV"

# UDP datagrams dropped because a receive buffer was full: system-wide (/proc/net/snmp), and on
# knotd's own sockets (the "drops" column of /proc/net/udp for its ports), to tell client from server.
server_drops() {
  awk -v p1=":$(printf '%04X' "$DNS_PORT")" -v p2=":0035" \
    'NR > 1 { a = substr($2, length($2) - 4) } NR > 1 && (a == p1 || a == p2) { s += $NF } END { print s + 0 }' /proc/net/udp
}
udp_rcvbuf_errors() { awk '/^Udp:/ { if (!h) { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp; }

# measure GROUP TOOL ID NAMES_FILE TIMEOUT CMD...  (ID ends in -rRUN; CMD's stdout -> run/out/ID.out,
# checked per name against NAMES_FILE; one line appended to runs.tsv)
measure() {
  local group="$1" tool="$2" id="$3" names="$4" limit="$5"; shift 5
  local run="${id##*-r}"
  printf '%s\n' "$*" > "$RAW/$id.cmd"
  log "$id: $*"
  local d0 s0 rc=0
  d0="$(udp_rcvbuf_errors)"; s0="$(server_drops)"
  /usr/bin/time -v -o "$RAW/$id.time" timeout --signal=INT --kill-after=10 "$limit" "$@" \
    > "$OUT/$id.out" 2> "$RAW/$id.err" < /dev/null || rc=$?
  local drops=$(( $(udp_rcvbuf_errors) - d0 )) sdrops=$(( $(server_drops) - s0 ))
  local wall cpu rss
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; print s }' "$RAW/$id.time")"
  cpu="$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$RAW/$id.time")"
  rss="$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$RAW/$id.time")"
  local check correct total inner
  check="$(python3 "$BENCH/check_dns.py" "$names" "$OUT/$id.out")"
  printf '%s\n' "$check" > "$RAW/$id.check.json"
  total="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["total"])' "$check")"
  correct="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["correct"])' "$check")"
  inner="$(python3 -c 'import json,sys
try:
    print(json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])["inner_wall_s"])
except Exception:
    print("")' "$RAW/$id.err")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$group" "$tool" "$run" "$rc" "$wall" "$cpu" "$rss" "$total" "$correct" "$drops" "$sdrops" "$inner" >> "$TSV"
  log "  rc=$rc wall=${wall}s cpu=${cpu}s rss=${rss}MB correct=$correct/$total udp_drops=$drops (at knotd: $sdrops)"
  [ "$rc" = 124 ] && log "  !! hit the ${limit}s limit" || true
}

# ---------------------------------------------------------------- 4. runs (interleaved)
for r in $(seq "$REPEAT"); do
  for c in $CONC; do
    if [ "$RUN_SPATE" = 1 ]; then
      measure dns "spate resolve, -c $c" "spate-c$c-r$r" "$NAMES" "$TIMEOUT_S" \
        "$SPATE" resolve "$NAMES" --resolver "127.0.0.1:$DNS_PORT" -c "$c" --quiet --no-hosts-file
    fi
    if [ "$PY_OK" = 1 ]; then
      measure dns "gevent (c-ares), pool $c" "gevent-c$c-r$r" "$NAMES" "$TIMEOUT_S" \
        "$VENV/bin/python" "$BENCH/peers/gevent_ares.py" "$NAMES" "$c" "$DNS_PORT"
      measure dns "aiodns, semaphore $c" "aiodns-c$c-r$r" "$NAMES" "$TIMEOUT_S" \
        "$VENV/bin/python" "$BENCH/peers/aiodns_query.py" "$NAMES" "$c" "$DNS_PORT"
    fi
  done
  if [ "$RUN_ADNS" = 1 ]; then
    measure dns "adnshost -a -f, $ADNS_SLICE-name slices (port 53)" "adnshost-s$ADNS_SLICE-r$r" "$NAMES" "$TIMEOUT_S" \
      "$BENCH/peers/adnshost_sliced.sh" "$NAMES" "$ADNS_SLICE"
  fi
done

if [ "$RUN_SPATE" = 1 ] && [ "$SKIP_MEMORY" != 1 ]; then
  c="${CONC%% *}"
  small="$(cycled "$MEM_SMALL")"; big="$(cycled "$MEM_BIG")"
  measure mem "spate resolve, $(commas "$MEM_SMALL") jobs, -c $c" "mem-small-r1" "$small" "$TIMEOUT_S" \
    "$SPATE" resolve "$small" --resolver "127.0.0.1:$DNS_PORT" -c "$c" --quiet --no-hosts-file
  measure mem "spate resolve, $(commas "$MEM_BIG") jobs, -c $c" "mem-big-r1" "$big" "$MEM_TIMEOUT_S" \
    "$SPATE" resolve "$big" --resolver "127.0.0.1:$DNS_PORT" -c "$c" --quiet --no-hosts-file
fi

# ---------------------------------------------------------------- 5. report
META="$RAW/meta.tsv"
{
  printf 'date\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf 'machine\t%s vCPU, %s, %s GiB RAM\n' "$(nproc)" \
    "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    "$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
  printf 'os\t%s, kernel %s\n' "$(. /etc/os-release && echo "$PRETTY_NAME")" "$(uname -r)"
  printf 'knot\t%s\n' "$(knotd -V | awk '{print $NF}')"
  printf 'net.core.rmem_default\t%s\n' "$(cat /proc/sys/net/core/rmem_default 2>/dev/null || echo '?')"
  [ "$RUN_SPATE" = 1 ] && printf 'spate\t%s (%s)\n' "$("$SPATE" --version 2>/dev/null | head -n 1 || echo '?')" "$SPATE"
  [ "$RUN_ADNS" = 1 ] && printf 'adns\t%s\n' "$(adnshost --version 2>/dev/null | head -n 1)"
  [ "$PY_OK" = 1 ] && printf 'python peers\t%s\n' "$("$VENV/bin/python" -c 'import sys, gevent, aiodns, pycares
print("Python %d.%d.%d" % sys.version_info[:3], "gevent", gevent.__version__, "aiodns", getattr(aiodns, "__version__", "?"), "pycares", pycares.__version__)')"
  printf 'settings\tREPEAT=%s CONC="%s" N=%s TIMEOUT_S=%s DNS_PORT=%s ADNS_SLICE=%s\n' \
    "$REPEAT" "$CONC" "$N" "$TIMEOUT_S" "$DNS_PORT" "$ADNS_SLICE"
  for n in "${NOTES[@]+"${NOTES[@]}"}"; do printf 'note\t%s\n' "$n"; done
} > "$META"

python3 "$BENCH/report_dns.py" "$META" "$TSV" > "$RAW/report.md"
cp "$RAW/report.md" "$RESULTS/dns-latest.md"
echo
cat "$RESULTS/dns-latest.md"
log "saved: Benchmarks/results/dns-latest.md (raw files: ${RAW#"$ROOT"/})"
