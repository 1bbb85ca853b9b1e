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
#   SKIP_FLOOR=1        no libcurl-floor rows (Benchmarks/floor/curl_floor.c, built with cc)
#   SPATE=path          binary to measure (default .build/release/spate; skipped with a note if missing)
#   HTTP_PORT=8080      nginx's port (127.0.0.1 and ::1)
#   N=100000            pages in the site
#   TIMEOUT_S=300       per-run limit; MEM_TIMEOUT_S=600 for the 1M-URL run
#   MEM_SMALL=10000 MEM_BIG=1000000   lines in the memory-flatness lists
#   WRK_SECONDS=10      wrk duration
#   NGINX_WORKERS=2     nginx worker processes
#   KEEP_HTTP=1         leave nginx running at the end
set -euo pipefail
# paths (BENCH ROOT RUN DATA OUT VENV RESULTS STAMP SPATE_DEFAULT) and the helpers shared with dns.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NGX="$RUN/nginx"
WWW="$RUN/www"
RAW="$RESULTS/raw/http-$STAMP"

REPEAT="${REPEAT:-3}"
CONC="${CONC:-100}"
LISTS="${LISTS:-20000 100000}"
SKIP_PEERS="${SKIP_PEERS:-0}"
SKIP_SPATE="${SKIP_SPATE:-0}"
SKIP_MEMORY="${SKIP_MEMORY:-0}"
SKIP_WRK="${SKIP_WRK:-0}"
SKIP_FLOOR="${SKIP_FLOOR:-0}"
HTTP_PORT="${HTTP_PORT:-8080}"
N="${N:-100000}"
TIMEOUT_S="${TIMEOUT_S:-300}"
MEM_TIMEOUT_S="${MEM_TIMEOUT_S:-600}"
MEM_SMALL="${MEM_SMALL:-10000}"
MEM_BIG="${MEM_BIG:-1000000}"
WRK_SECONDS="${WRK_SECONDS:-10}"
NGINX_WORKERS="${NGINX_WORKERS:-2}"
KEEP_HTTP="${KEEP_HTTP:-0}"
SPATE="${SPATE:-$SPATE_DEFAULT}"
BASE="http://127.0.0.1:$HTTP_PORT"

for k in $LISTS; do
  [[ "$k" =~ ^[0-9]+$ ]] && [ "$k" -ge 1 ] && [ "$k" -le "$N" ] || die "LISTS: '$k' must be a number in 1..N ($N)"
done

# ---------------------------------------------------------------- 1. tools
need=()
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v wget2 >/dev/null || need+=(wget2)
command -v curl >/dev/null || need+=(curl)
install_missing "${need[@]+"${need[@]}"}"   # (+ time python3 coreutils)
NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"
# we never use the system nginx: ours runs below with its own config, pid file and logs under run/nginx/.

mkdir -p "$NGX/tmp" "$WWW" "$DATA" "$OUT" "$RAW"

PY_OK=0
[ "$SKIP_PEERS" = 1 ] || peer_venv "aiohttp peer" aiohttp

# ---------------------------------------------------------------- spate binary (never built here)
RUN_SPATE=1
if [ "$SKIP_SPATE" = 1 ]; then
  RUN_SPATE=0; note "spate skipped (SKIP_SPATE=1)"
elif [ ! -x "$SPATE" ]; then
  RUN_SPATE=0; note "spate skipped: $SPATE is missing (build it with \`swift build -c release\`, or set SPATE=path)"
elif ! "$SPATE" fetch --help >/dev/null 2>&1 < /dev/null; then
  RUN_SPATE=0; note "spate skipped: \`$SPATE fetch --help\` fails (a binary without the fetch command?)"
fi

no_proxies   # from here on: loopback only

# ---------------------------------------------------------------- 2a. port check (before any slow work)
cleanup() {
  local rc=$?
  if [ "$KEEP_HTTP" = 1 ]; then
    [ -s "$NGX/nginx.pid" ] && log "nginx left running (pid $(cat "$NGX/nginx.pid")): $BASE/p/000001.html; stop: kill -QUIT $(cat "$NGX/nginx.pid")"
  else
    nginx_stop
  fi
  rm -f "$OUT"/http-mem-*.out
  exit "$rc"
}
on_exit cleanup

nginx_stop   # a leftover from an interrupted run (or from KEEP_HTTP=1)

nginx_ports   # dies if 127.0.0.1:$HTTP_PORT or [::1]:$HTTP_PORT is taken; sets LISTEN6

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
nginx_start   # config, pid file and logs in run/nginx/; waits until the last page is served; warms the page cache

# ---------------------------------------------------------------- 3. measurement helpers
TSV="$RAW/runs.tsv"
printf 'group\ttool\tlist\trun\trc\twall_s\tcpu_s\trss_mb\ttotal\tcorrect\tfailed\twrong\tinner\tlisten_drops\tnginx_errors\trate\textra\n' > "$TSV"

# measure GROUP TOOL LIST_LABEL ID URLS_FILE|- TIMEOUT CMD...  (ID ends in -rRUN; CMD's stdout -> run/out/ID.out)
# The checked file is run/out/ID.out, or $CHECK_FILE when set (wget2's CSV). URLS_FILE "-": no check (wrk).
measure() {
  local group="$1" tool="$2" label="$3" id="$4" list="$5" limit="$6"; shift 6
  local run="${id##*-r}"
  run_begin "$id" "$@"
  local l0 e0 rc=0
  l0="$(listen_overflows)"; e0="$(nginx_errors)"
  timed "$id" "$limit" "$@" || rc=$?
  local ldrops=$(( $(listen_overflows) - l0 )) nerr=$(( $(nginx_errors) - e0 ))
  time_v "$RAW/$id.time"   # -> WALL CPU RSS
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
    inner="$(inner_wall "$RAW/$id.err")"
  else
    rate="$(awk '/^Requests\/sec:/ { print $2 }' "$OUT/$id.out")"
    extra="$(awk '/requests in/ { r = $1 } /Non-2xx/ { n = $NF } /Socket errors/ { s = $0; sub(/^ *Socket errors: */, "", s) }
      END { o = r " requests"; if (n) o = o "; non-2xx " n; if (s) o = o "; socket errors " s; print o }' "$OUT/$id.out")"
    cp "$OUT/$id.out" "$RAW/$id.out"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$group" "$tool" "$label" "$run" "$rc" "$WALL" "$CPU" "$RSS" "$total" "$correct" "$failed" "$wrong" \
    "$inner" "$ldrops" "$nerr" "$rate" "$extra" >> "$TSV"
  if [ "$list" != - ]; then
    log "  rc=$rc wall=${WALL}s cpu=${CPU}s rss=${RSS}MB correct=$correct/$total${extra:+ ($extra)}"
  else
    log "  rc=$rc $rate requests/s ($extra) cpu=${CPU}s rss=${RSS}MB"
  fi
  [ "$ldrops" -gt 0 ] && log "  !! $ldrops listen-queue overflows" || true
  [ "$nerr" -gt 0 ] && log "  !! $nerr new nginx error-log lines ($NGX/error.log)" || true
  limit_hit "$rc" "$limit"
}

# ---------------------------------------------------------------- 4. runs
if [ "$SKIP_WRK" != 1 ]; then
  measure cap "wrk -t2 -c100 -d${WRK_SECONDS}s, one page" "one page" "http-wrk-r1" - "$TIMEOUT_S" \
    wrk -t2 -c100 -d"${WRK_SECONDS}s" "$BASE/p/000001.html"
fi

RUN_WGET2=1; RUN_CURL=1
[ "$SKIP_PEERS" = 1 ] && { RUN_WGET2=0; RUN_CURL=0; }

# The libcurl floor (Benchmarks/floor/curl_floor.c): one thread driving curl's multi-socket API
# with spate's options and nothing else (no records, no DNS). Not a peer: the least CPU any
# fetcher built on this libcurl can spend per URL here (BENCHMARKS.md, "Where the time goes").
build_floor curl_floor   # -> FLOOR_BIN, RUN_FLOOR (lib.sh)
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
      if [ "$RUN_FLOOR" = 1 ]; then
        measure "fetch-$k" "libcurl floor (C, one thread, no records), $c in flight" "$label" \
          "http-floor-$k-c$c-r$r" "$list" "$TIMEOUT_S" env FLOOR_FULL=1 "$FLOOR_BIN" "$list" "$c"
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
  meta_machine   # date, machine, os
  printf 'nginx\t%s: %s workers, keep-alive, sendfile, access_log off, open_file_cache 8000; %s:%s%s\n' \
    "$(nginx_version)" "$NGINX_WORKERS" 127.0.0.1 "$HTTP_PORT" \
    "$([ "$LISTEN6" = 1 ] && echo " and [::1]:$HTTP_PORT")"
  printf 'site\t%s pages /p/NNNNNN.html, %s bytes in all (%s on average)\n' "$(commas "$N")" \
    "$(commas "$(du -sb --apparent-size "$WWW/p" | awk '{print $1}')")" \
    "$(find "$WWW/p" -name '*.html' -printf '%s\n' | awk '{ s += $1; n++ } END { printf "%.0f", s / n }')"
  printf 'ulimit -n\t%s soft / %s hard\n' "$(ulimit -Sn)" "$(ulimit -Hn)"
  meta_spate
  [ "$RUN_CURL" = 1 ] && printf 'curl\t%s\n' "$(curl --version | head -n 1 | awk '{print $2}')"
  [ "$RUN_WGET2" = 1 ] && printf 'wget2\t%s\n' "$(wget2 --version 2>/dev/null | head -n 1 | sed 's/^GNU Wget2 //; s/ - .*//')"
  [ "$SKIP_WRK" != 1 ] && printf 'wrk\t%s\n' "$(wrk -v 2>&1 | head -n 1 | awk '{print $2}')"
  [ "$PY_OK" = 1 ] && printf 'python peer\t%s\n' "$("$VENV/bin/python" -c 'import sys, aiohttp
print("Python %d.%d.%d" % sys.version_info[:3], "aiohttp", aiohttp.__version__)')"
  printf 'settings\tREPEAT=%s CONC="%s" LISTS="%s" N=%s TIMEOUT_S=%s MEM_TIMEOUT_S=%s HTTP_PORT=%s\n' \
    "$REPEAT" "$CONC" "$LISTS" "$N" "$TIMEOUT_S" "$MEM_TIMEOUT_S" "$HTTP_PORT"
  meta_notes
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
