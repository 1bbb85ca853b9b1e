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
# paths (BENCH ROOT RUN DATA OUT VENV RESULTS STAMP SPATE_DEFAULT) and the helpers shared with http.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KNOT="$RUN/knot"
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
SPATE="${SPATE:-$SPATE_DEFAULT}"

# ---------------------------------------------------------------- 1. tools
need=()
command -v knotd >/dev/null || need+=(knot)
command -v kdig >/dev/null || need+=(knot-dnsutils)
command -v adnshost >/dev/null || need+=(adns-tools)
install_missing "${need[@]+"${need[@]}"}"   # (+ time python3 coreutils); never the system knot: ours runs below

mkdir -p "$KNOT/db" "$DATA" "$OUT" "$RAW"

PY_OK=0
[ "$SKIP_PEERS" = 1 ] || peer_venv "gevent and aiodns peers" gevent aiodns

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

no_proxies   # from here on: loopback only

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

stop_knot() {
  local pid=""
  [ -s "$KNOT/knot.pid" ] && pid="$(cat "$KNOT/knot.pid")"
  [ -n "$pid" ] || return 0
  if is_ours "$pid" "$KNOT/knot.conf"; then
    knotc -c "$KNOT/knot.conf" -s "$KNOT/knot.sock" stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    wait_exit "$pid" 50 || kill -9 "$pid" 2>/dev/null || true
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
on_exit cleanup

stop_knot   # a leftover from an interrupted run

port_free 127.0.0.1 "$DNS_PORT" udp || die "127.0.0.1:$DNS_PORT is in use (another DNS server?). Stop it or choose another port with DNS_PORT=."
LISTEN="127.0.0.1@$DNS_PORT"
RUN_ADNS=0
if [ "$SKIP_PEERS" != 1 ]; then
  if [ "$(id -u)" != 0 ]; then
    note "adnshost skipped: it can only ask port 53, and binding 127.0.0.1:53 needs root"
  elif ! port_free 127.0.0.1 53 udp; then
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
  run_begin "$id" "$@"
  local d0 s0 rc=0
  d0="$(udp_rcvbuf_errors)"; s0="$(server_drops)"
  timed "$id" "$limit" "$@" || rc=$?
  local drops=$(( $(udp_rcvbuf_errors) - d0 )) sdrops=$(( $(server_drops) - s0 ))
  time_v "$RAW/$id.time"   # -> WALL CPU RSS
  local check correct total inner
  check="$(python3 "$BENCH/check_dns.py" "$names" "$OUT/$id.out")"
  printf '%s\n' "$check" > "$RAW/$id.check.json"
  total="$(jfield "$check" total)"
  correct="$(jfield "$check" correct)"
  inner="$(inner_wall "$RAW/$id.err")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$group" "$tool" "$run" "$rc" "$WALL" "$CPU" "$RSS" "$total" "$correct" "$drops" "$sdrops" "$inner" >> "$TSV"
  log "  rc=$rc wall=${WALL}s cpu=${CPU}s rss=${RSS}MB correct=$correct/$total udp_drops=$drops (at knotd: $sdrops)"
  limit_hit "$rc" "$limit"
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
  meta_machine   # date, machine, os
  printf 'knot\t%s\n' "$(knotd -V | awk '{print $NF}')"
  printf 'net.core.rmem_default\t%s\n' "$(cat /proc/sys/net/core/rmem_default 2>/dev/null || echo '?')"
  meta_spate
  [ "$RUN_ADNS" = 1 ] && printf 'adns\t%s\n' "$(adnshost --version 2>/dev/null | head -n 1)"
  [ "$PY_OK" = 1 ] && printf 'python peers\t%s\n' "$("$VENV/bin/python" -c 'import sys, gevent, aiodns, pycares
print("Python %d.%d.%d" % sys.version_info[:3], "gevent", gevent.__version__, "aiodns", getattr(aiodns, "__version__", "?"), "pycares", pycares.__version__)')"
  printf 'settings\tREPEAT=%s CONC="%s" N=%s TIMEOUT_S=%s DNS_PORT=%s ADNS_SLICE=%s\n' \
    "$REPEAT" "$CONC" "$N" "$TIMEOUT_S" "$DNS_PORT" "$ADNS_SLICE"
  meta_notes
} > "$META"

python3 "$BENCH/report_dns.py" "$META" "$TSV" > "$RAW/report.md"
cp "$RAW/report.md" "$RESULTS/dns-latest.md"
echo
cat "$RESULTS/dns-latest.md"
log "saved: Benchmarks/results/dns-latest.md (raw files: ${RAW#"$ROOT"/})"
