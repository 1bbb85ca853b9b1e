#!/usr/bin/env bash
# spate fetch vs. peers, on loopback, against our own nginx.
#
# What it does (see Benchmarks/README.md):
#   1. installs what is missing (nginx wrk wget2 curl time python3; apt, as root or via sudo) and aiohttp
#      into the venv at Benchmarks/run/venv (the aiohttp peer is skipped if venv/pip fail);
#   2. generates the site once (N=100,000 pages /p/NNNNNN.html of about 2 KB, <title>Page NNNNNN</title>)
#      into Benchmarks/run/www/ and the URL lists (LISTS, plus MEM_SMALL/MEM_BIG lines cycled), then starts
#      nginx on 127.0.0.1:$HTTP_PORT and [::1]:$HTTP_PORT (default 8080), config/pid/logs in run/nginx/;
#      refuses to start if the port is taken; waits until the last page is served correctly;
#   3. wrk ceiling (once), then spate, curl, wget2 and aiohttp on each list, REPEAT times, interleaved,
#      each run as /usr/bin/time -v timeout $TIMEOUT_S CMD; checks every URL (check_http.py);
#   4. memory flatness: spate on MEM_SMALL (10,000) and MEM_BIG (1,000,000) URLs, peak RSS and ratio;
#   5. prints a Markdown table and writes it to Benchmarks/results/http-latest.md.
# nginx is stopped on exit (KEEP_HTTP=1 leaves it running). State lives in Benchmarks/run/ (gitignored),
# per-run time/stderr/check files in Benchmarks/results/raw/ (gitignored). spate is never built here.
#
# Env knobs:
#   REPEAT=3            runs per tool; the table shows medians
#   CONC=100            in-flight limit for every client (spate -c/--per-host, curl --parallel-max,
#                       wget2 --max-threads, aiohttp semaphore + connector limit); a list such as "100 500" works
#   LISTS="20000 100000" URL lists to fetch (each <= N)
#   SKIP_PEERS=1        only spate          SKIP_SPATE=1   only the peers
#   SKIP_MEMORY=1       no memory-flatness runs          SKIP_WRK=1  no wrk ceiling
#   SPATE=path          binary to measure (default .build/release/spate; skipped with a note if missing)
#   HTTP_PORT=8080      nginx's port (127.0.0.1 and ::1)
#   N=100000            pages in the site
#   TIMEOUT_S=300       per-run limit; MEM_TIMEOUT_S=600 for the 1M-URL run
#   MEM_SMALL=10000 MEM_BIG=1000000   lines in the memory-flatness lists
#   WRK_SECONDS=10      wrk duration
#   NGINX_WORKERS=2     nginx worker processes
#   KEEP_HTTP=1         leave nginx running at the end
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1 LC_ALL=C

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
RUN="$BENCH/run"
NGX="$RUN/nginx"
WWW="$RUN/www"
DATA="$RUN/data"
OUT="$RUN/out"
RESULTS="$BENCH/results"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RAW="$RESULTS/raw/http-$STAMP"

REPEAT="${REPEAT:-3}"
CONC="${CONC:-100}"
LISTS="${LISTS:-20000 100000}"
SKIP_PEERS="${SKIP_PEERS:-0}"
SKIP_SPATE="${SKIP_SPATE:-0}"
SKIP_MEMORY="${SKIP_MEMORY:-0}"
SKIP_WRK="${SKIP_WRK:-0}"
HTTP_PORT="${HTTP_PORT:-8080}"
N="${N:-100000}"
TIMEOUT_S="${TIMEOUT_S:-300}"
MEM_TIMEOUT_S="${MEM_TIMEOUT_S:-600}"
MEM_SMALL="${MEM_SMALL:-10000}"
MEM_BIG="${MEM_BIG:-1000000}"
WRK_SECONDS="${WRK_SECONDS:-10}"
NGINX_WORKERS="${NGINX_WORKERS:-2}"
KEEP_HTTP="${KEEP_HTTP:-0}"
SPATE_DEFAULT="$ROOT/.build/release/spate"
SPATE="${SPATE:-$SPATE_DEFAULT}"
BASE="http://127.0.0.1:$HTTP_PORT"

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
NOTES=()
note() { NOTES+=("$*"); log "note: $*"; }
commas() { sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta' <<< "$1"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root or sudo for: $*"; fi; }

for k in $LISTS; do
  [[ "$k" =~ ^[0-9]+$ ]] && [ "$k" -ge 1 ] && [ "$k" -le "$N" ] || die "LISTS: '$k' must be a number in 1..N ($N)"
done

# ---------------------------------------------------------------- 1. tools
need=()
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v wget2 >/dev/null || need+=(wget2)
command -v curl >/dev/null || need+=(curl)
[ -x /usr/bin/time ] || need+=(time)
command -v python3 >/dev/null || need+=(python3)
command -v timeout >/dev/null || need+=(coreutils)
if [ "${#need[@]}" -gt 0 ]; then
  log "installing: ${need[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi
NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"
# Debian does not start services from packages in containers, and we never use the system nginx:
# ours runs below with its own config, pid file and logs under run/nginx/.

mkdir -p "$NGX/tmp" "$WWW" "$DATA" "$OUT" "$RAW"

PY_OK=0
VENV="$RUN/venv"
if [ "$SKIP_PEERS" != 1 ]; then
  if "$VENV/bin/python" -c 'import aiohttp' 2>/dev/null; then
    PY_OK=1
  elif [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" >/dev/null 2>&1 || { rm -rf "$VENV"; false; }; then
    log "installing aiohttp into $VENV"
    if "$VENV/bin/pip" install -q --disable-pip-version-check aiohttp >&2; then
      PY_OK=1
    else
      note "pip install aiohttp failed: aiohttp peer skipped"
    fi
  else
    note "python3 -m venv does not work here (Debian: apt-get install python3-venv): aiohttp peer skipped"
  fi
fi

# ---------------------------------------------------------------- spate binary (never built here)
RUN_SPATE=1
if [ "$SKIP_SPATE" = 1 ]; then
  RUN_SPATE=0; note "spate skipped (SKIP_SPATE=1)"
elif [ ! -x "$SPATE" ]; then
  RUN_SPATE=0; note "spate skipped: $SPATE is missing (build it with \`swift build -c release\`, or set SPATE=path)"
elif ! "$SPATE" fetch --help >/dev/null 2>&1 < /dev/null; then
  RUN_SPATE=0; note "spate skipped: \`$SPATE fetch --help\` fails (a binary without the fetch command?)"
fi

# From here on: loopback only. No client may pick up a proxy (the installs above may have needed one).
unset http_proxy https_proxy ftp_proxy all_proxy no_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY NO_PROXY

# ---------------------------------------------------------------- 2a. port check (before any slow work)
port_free() { # HOST PORT -> 0 if nothing holds HOST:PORT (TCP)
  python3 - "$1" "$2" <<'PY'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # ignore TIME_WAIT leftovers
try:
    s.bind((host, port))
except OSError as e:
    sys.exit(1 if e.errno == 98 else 3)   # 98: in use; 3: cannot bind there at all (no ::1?)
finally:
    s.close()
PY
}

stop_nginx() {
  local pid=""
  [ -s "$NGX/nginx.pid" ] && pid="$(cat "$NGX/nginx.pid")"
  [ -n "$pid" ] || return 0
  # only our own nginx: its master's command line names our config file
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$NGX/nginx.conf"; then
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "nginx stopped (pid $pid)"
  fi
  rm -f "$NGX/nginx.pid"
}

cleanup() {
  local rc=$?
  if [ "$KEEP_HTTP" = 1 ]; then
    [ -s "$NGX/nginx.pid" ] && log "nginx left running (pid $(cat "$NGX/nginx.pid")): $BASE/p/000001.html; stop: kill -QUIT $(cat "$NGX/nginx.pid")"
  else
    stop_nginx
  fi
  rm -f "$OUT"/http-mem-*.out
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop_nginx   # a leftover from an interrupted run (or from KEEP_HTTP=1)

holder() { ss -Hltnp "sport = :$HTTP_PORT" 2>/dev/null | awk '{ print $4, $NF }' | head -n 3 | paste -sd ';' -; }
port_free 127.0.0.1 "$HTTP_PORT" ||
  die "127.0.0.1:$HTTP_PORT is in use (held by: $(holder)). Stop that server or choose another port with HTTP_PORT=."
LISTEN6=1
if port_free ::1 "$HTTP_PORT"; then :; else
  case $? in
    1) die "[::1]:$HTTP_PORT is in use (held by: $(holder)). Stop that server or choose another port with HTTP_PORT=." ;;
    *) LISTEN6=0; note "no [::1]:$HTTP_PORT listener: ::1 cannot be bound here (IPv6 off?)" ;;
  esac
fi

# ---------------------------------------------------------------- 2b. site, URL lists
mem_lists=()
[ "$SKIP_MEMORY" != 1 ] && mem_lists=("$MEM_SMALL" "$MEM_BIG")   # written even when spate is skipped
log "site: $N pages in ${WWW#"$ROOT"/} (written once; the first time takes a minute or two)"
HTTP_BASE="$BASE" python3 "$BENCH/gen-site.py" "$WWW" "$DATA" "$N" $LISTS "${mem_lists[@]+"${mem_lists[@]}"}"
urls() { printf '%s\n' "$DATA/urls-$1.txt"; }

# curl config for a list: url = "..." + output = "/dev/null" per URL (rebuilt when the list is newer)
curlrc() { # COUNT -> path
  local list f
  list="$(urls "$1")"; f="$DATA/urls-$1.curlrc"
  if [ ! -s "$f" ] || [ "$list" -nt "$f" ]; then
    awk 'NF { printf "url = \"%s\"\noutput = \"/dev/null\"\n", $1 }' "$list" > "$f.tmp"
    mv "$f.tmp" "$f"
  fi
  printf '%s\n' "$f"
}

# ---------------------------------------------------------------- 2c. nginx
NOFILE="$(ulimit -Hn)"; [ "$NOFILE" = unlimited ] && NOFILE=65536
WORKER_CONN=$(( NOFILE / 2 < 16384 ? NOFILE / 2 : 16384 ))
cat > "$NGX/nginx.conf" <<EOF
# generated by Benchmarks/http.sh -- nginx for the spate benchmark, loopback only
worker_processes $NGINX_WORKERS;
worker_rlimit_nofile $NOFILE;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events {
    worker_connections $WORKER_CONN;
    multi_accept on;
}
http {
    types { text/html html; text/plain txt; }
    default_type application/octet-stream;
    charset utf-8;
    access_log off;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 60s;
    keepalive_requests 1000000;
    open_file_cache max=8000 inactive=60s;
    open_file_cache_valid 300s;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    server {
        listen 127.0.0.1:$HTTP_PORT backlog=4096 reuseport;
$([ "$LISTEN6" = 1 ] && echo "        listen [::1]:$HTTP_PORT backlog=4096 reuseport;")
        server_name localhost;
        root $WWW;
        location / { try_files \$uri =404; }
    }
}
EOF
: > "$NGX/error.log"
log "starting nginx on 127.0.0.1:$HTTP_PORT$([ "$LISTEN6" = 1 ] && echo " and [::1]:$HTTP_PORT") ($N pages, $NGINX_WORKERS workers)"
"$NGINX_BIN" -p "$NGX/" -e "$NGX/error.log" -c "$NGX/nginx.conf" ||
  { tail -n 20 "$NGX/error.log" >&2; die "nginx did not start (log: $NGX/error.log)"; }

LAST_NUM="$(printf '%06d' "$N")"
LAST_URL="$BASE/p/$LAST_NUM.html"
LAST_SIZE="$(stat -c %s "$WWW/p/$LAST_NUM.html")"
serves() { # URL -> 0 if the page comes back 200 with the right size and title
  local got
  got="$(curl -s --noproxy '*' --max-time 2 -w '\n%{http_code} %{size_download}' "$1" 2>/dev/null)" || return 1
  [ "$(tail -n 1 <<< "$got")" = "200 $LAST_SIZE" ] && grep -qF "<title>Page $LAST_NUM</title>" <<< "$got"
}
for _ in $(seq 100); do serves "$LAST_URL" && break; sleep 0.1; done
serves "$LAST_URL" || { tail -n 20 "$NGX/error.log" >&2; die "nginx does not serve $LAST_URL correctly (log: $NGX/error.log)"; }
if [ "$LISTEN6" = 1 ] && ! serves "http://[::1]:$HTTP_PORT/p/$LAST_NUM.html"; then
  note "nginx does not answer on [::1]:$HTTP_PORT (the benchmark itself uses 127.0.0.1 only)"
fi
log "nginx $("$NGINX_BIN" -v 2>&1 | sed 's,.*/,,') serves (pid $(cat "$NGX/nginx.pid")): $LAST_URL -> 200, $LAST_SIZE bytes, title Page $LAST_NUM"

# warm the page cache, so no tool pays for the first read of the files from disk
find "$WWW/p" -name '*.html' -print0 | xargs -0 cat > /dev/null

# ---------------------------------------------------------------- 3. measurement helpers
TSV="$RAW/runs.tsv"
printf 'group\ttool\tlist\trun\trc\twall_s\tcpu_s\trss_mb\ttotal\tcorrect\tfailed\twrong\tinner\tlisten_drops\tnginx_errors\trate\textra\n' > "$TSV"

# TCP connections the kernel refused because a listen queue was full (TcpExt ListenOverflows, system-wide)
listen_overflows() { awk '/^TcpExt:/ { if (!h) { for (i = 2; i <= NF; i++) if ($i == "ListenOverflows") c = i; h = 1 } else print $c + 0 }' /proc/net/netstat; }
nginx_errors() { grep -cE '\[(error|crit|alert|emerg)\]' "$NGX/error.log" || true; }
jfield() { python3 -c 'import json,sys; v = json.loads(sys.argv[1]).get(sys.argv[2], ""); print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$1" "$2"; }

# measure GROUP TOOL LIST_LABEL ID URLS_FILE|- TIMEOUT CMD...  (ID ends in -rRUN; CMD's stdout -> run/out/ID.out)
# The checked file is run/out/ID.out, or $CHECK_FILE when set (wget2's CSV). URLS_FILE "-": no check (wrk).
measure() {
  local group="$1" tool="$2" label="$3" id="$4" list="$5" limit="$6"; shift 6
  local run="${id##*-r}"
  printf '%s\n' "$*" > "$RAW/$id.cmd"
  log "$id: $*"
  local l0 e0 rc=0
  l0="$(listen_overflows)"; e0="$(nginx_errors)"
  /usr/bin/time -v -o "$RAW/$id.time" timeout --signal=INT --kill-after=10 "$limit" "$@" \
    > "$OUT/$id.out" 2> "$RAW/$id.err" < /dev/null || rc=$?
  local ldrops=$(( $(listen_overflows) - l0 )) nerr=$(( $(nginx_errors) - e0 ))
  local wall cpu rss
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; print s }' "$RAW/$id.time")"
  cpu="$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$RAW/$id.time")"
  rss="$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$RAW/$id.time")"
  local total="" correct="" failed="" wrong="" inner="" rate="" extra=""
  if [ "$list" != - ]; then
    local check
    check="$(python3 "$BENCH/check_http.py" "$list" "${CHECK_FILE:-$OUT/$id.out}" "$WWW")"
    printf '%s\n' "$check" > "$RAW/$id.check.json"
    total="$(jfield "$check" total)"; correct="$(jfield "$check" correct)"
    failed="$(jfield "$check" failed)"; wrong="$(jfield "$check" wrong)"
    extra="$(python3 -c 'import json,sys
c = json.loads(sys.argv[1]); bits = []
for k, v in list(c["exceptions"].items())[:3] + list(c["problems"].items())[:3]:
    bits.append("%s %d" % (k, v))
if c["unknown"]: bits.append("%d records for URLs not in the list" % c["unknown"])
if c["extra"]: bits.append("%d duplicate records" % c["extra"])
print("; ".join(bits))' "$check")"
    inner="$(python3 -c 'import json,sys
try:
    print(json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])["inner_wall_s"])
except Exception:
    print("")' "$RAW/$id.err")"
  else
    rate="$(awk '/^Requests\/sec:/ { print $2 }' "$OUT/$id.out")"
    extra="$(awk '/requests in/ { r = $1 } /Non-2xx/ { n = $NF } /Socket errors/ { s = $0; sub(/^ *Socket errors: */, "", s) }
      END { o = r " requests"; if (n) o = o "; non-2xx " n; if (s) o = o "; socket errors " s; print o }' "$OUT/$id.out")"
    cp "$OUT/$id.out" "$RAW/$id.out"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$group" "$tool" "$label" "$run" "$rc" "$wall" "$cpu" "$rss" "$total" "$correct" "$failed" "$wrong" \
    "$inner" "$ldrops" "$nerr" "$rate" "$extra" >> "$TSV"
  if [ "$list" != - ]; then
    log "  rc=$rc wall=${wall}s cpu=${cpu}s rss=${rss}MB correct=$correct/$total${extra:+ ($extra)}"
  else
    log "  rc=$rc $rate requests/s ($extra) cpu=${cpu}s rss=${rss}MB"
  fi
  [ "$ldrops" -gt 0 ] && log "  !! $ldrops listen-queue overflows" || true
  [ "$nerr" -gt 0 ] && log "  !! $nerr new nginx error-log lines ($NGX/error.log)" || true
  [ "$rc" = 124 ] && log "  !! hit the ${limit}s limit" || true
}

# ---------------------------------------------------------------- 4. runs
if [ "$SKIP_WRK" != 1 ]; then
  measure cap "wrk -t2 -c100 -d${WRK_SECONDS}s, one page" "one page" "http-wrk-r1" - "$TIMEOUT_S" \
    wrk -t2 -c100 -d"${WRK_SECONDS}s" "$BASE/p/000001.html"
fi

RUN_WGET2=1; RUN_CURL=1
[ "$SKIP_PEERS" = 1 ] && { RUN_WGET2=0; RUN_CURL=0; }
for c in $CONC; do
  [ "$RUN_CURL" = 1 ] && [ "$c" -gt 300 ] && note "curl caps --parallel-max at 300: its -c $c rows ran with 300 in flight"
done

for r in $(seq "$REPEAT"); do
  for k in $LISTS; do
    list="$(urls "$k")"; label="$(commas "$k") URLs"
    for c in $CONC; do
      if [ "$RUN_SPATE" = 1 ]; then
        measure "fetch-$k" "spate fetch, -c $c --per-host $c" "$label" "http-spate-$k-c$c-r$r" "$list" "$TIMEOUT_S" \
          "$SPATE" fetch "$list" -c "$c" --per-host "$c" --quiet
      fi
      if [ "$RUN_CURL" = 1 ]; then
        measure "fetch-$k" "curl --parallel-max $c" "$label" "http-curl-$k-c$c-r$r" "$list" "$TIMEOUT_S" \
          curl -s --parallel --parallel-max "$c" -K "$(curlrc "$k")" -w '%{http_code} %{url} %{size_download}\n'
      fi
      if [ "$RUN_WGET2" = 1 ]; then
        id="http-wget2-$k-c$c-r$r"; rm -f "$OUT/$id.csv"
        CHECK_FILE="$OUT/$id.csv" measure "fetch-$k" "wget2 --max-threads=$c" "$label" "$id" "$list" "$TIMEOUT_S" \
          wget2 -q -i "$list" --max-threads="$c" -O /dev/null --stats-site="csv:$OUT/$id.csv"
      fi
      if [ "$PY_OK" = 1 ]; then
        measure "fetch-$k" "aiohttp, semaphore $c" "$label" "http-aiohttp-$k-c$c-r$r" "$list" "$TIMEOUT_S" \
          "$VENV/bin/python" "$BENCH/peers/aiohttp_fetch.py" "$list" "$c"
      fi
    done
  done
done

if [ "$RUN_SPATE" = 1 ] && [ "$SKIP_MEMORY" != 1 ]; then
  c="${CONC%% *}"
  measure mem "spate fetch, $(commas "$MEM_SMALL") URLs, -c $c" "$(commas "$MEM_SMALL") URLs" "http-mem-small-r1" \
    "$(urls "$MEM_SMALL")" "$TIMEOUT_S" "$SPATE" fetch "$(urls "$MEM_SMALL")" -c "$c" --per-host "$c" --quiet
  measure mem "spate fetch, $(commas "$MEM_BIG") URLs, -c $c" "$(commas "$MEM_BIG") URLs" "http-mem-big-r1" \
    "$(urls "$MEM_BIG")" "$MEM_TIMEOUT_S" "$SPATE" fetch "$(urls "$MEM_BIG")" -c "$c" --per-host "$c" --quiet
fi

# ---------------------------------------------------------------- 5. report
META="$RAW/meta.tsv"
{
  printf 'date\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf 'machine\t%s vCPU, %s, %s GiB RAM\n' "$(nproc)" \
    "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    "$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
  printf 'os\t%s, kernel %s\n' "$(. /etc/os-release && echo "$PRETTY_NAME")" "$(uname -r)"
  printf 'nginx\t%s: %s workers, keep-alive, sendfile, access_log off, open_file_cache 8000; %s:%s%s\n' \
    "$("$NGINX_BIN" -v 2>&1 | sed 's,.*/,,')" "$NGINX_WORKERS" 127.0.0.1 "$HTTP_PORT" \
    "$([ "$LISTEN6" = 1 ] && echo " and [::1]:$HTTP_PORT")"
  printf 'site\t%s pages /p/NNNNNN.html, %s bytes in all (%s on average)\n' "$(commas "$N")" \
    "$(commas "$(du -sb --apparent-size "$WWW/p" | awk '{print $1}')")" \
    "$(find "$WWW/p" -name '*.html' -printf '%s\n' | awk '{ s += $1; n++ } END { printf "%.0f", s / n }')"
  printf 'ulimit -n\t%s soft / %s hard\n' "$(ulimit -Sn)" "$(ulimit -Hn)"
  [ "$RUN_SPATE" = 1 ] && printf 'spate\t%s (%s)\n' "$("$SPATE" --version 2>/dev/null | head -n 1 || echo '?')" "$SPATE"
  [ "$RUN_CURL" = 1 ] && printf 'curl\t%s\n' "$(curl --version | head -n 1 | awk '{print $2}')"
  [ "$RUN_WGET2" = 1 ] && printf 'wget2\t%s\n' "$(wget2 --version 2>/dev/null | head -n 1 | sed 's/^GNU Wget2 //; s/ - .*//')"
  [ "$SKIP_WRK" != 1 ] && printf 'wrk\t%s\n' "$(wrk -v 2>&1 | head -n 1 | awk '{print $2}')"
  [ "$PY_OK" = 1 ] && printf 'python peer\t%s\n' "$("$VENV/bin/python" -c 'import sys, aiohttp
print("Python %d.%d.%d" % sys.version_info[:3], "aiohttp", aiohttp.__version__)')"
  printf 'settings\tREPEAT=%s CONC="%s" LISTS="%s" N=%s TIMEOUT_S=%s MEM_TIMEOUT_S=%s HTTP_PORT=%s\n' \
    "$REPEAT" "$CONC" "$LISTS" "$N" "$TIMEOUT_S" "$MEM_TIMEOUT_S" "$HTTP_PORT"
  for n in "${NOTES[@]+"${NOTES[@]}"}"; do printf 'note\t%s\n' "$n"; done
} > "$META"

python3 "$BENCH/report_http.py" "$META" "$TSV" > "$RAW/report.md"
echo
cat "$RAW/report.md"
if [ "$(wc -l < "$TSV")" -gt 1 ]; then
  cp "$RAW/report.md" "$RESULTS/http-latest.md"
  log "saved: Benchmarks/results/http-latest.md (raw files: ${RAW#"$ROOT"/})"
else
  log "nothing was measured: Benchmarks/results/http-latest.md left as it was (report: ${RAW#"$ROOT"/}/report.md)"
fi
