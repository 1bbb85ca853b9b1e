#!/usr/bin/env bash
# spate crawl vs. peers, on loopback, against our own nginx serving the benchmark site.
#
# What it does (see Benchmarks/README.md, "Crawl"):
#   1. installs what is missing (nginx wget2 curl time python3; apt, as root or via sudo) and Scrapy into
#      the venv at Benchmarks/run/venv (the Scrapy peer is skipped with a note if venv/pip fail); builds
#      spate (`swift build -c release`, under flock /tmp/spate-build.lock) when the default binary is
#      missing or has no crawl command;
#   2. generates the site (gen-site.py, version 2: a link graph with a known answer and a robots.txt that
#      disallows /private/) and starts nginx on 127.0.0.1:$HTTP_PORT exactly as http.sh does (lib.sh);
#   3. for each start page in START, REPEAT times, interleaved: spate crawl (plain, and with --state),
#      the libcurl crawl floor (floor/crawl_floor.c, not a peer), wget2 -r, and (on
#      SCRAPY_START only, SCRAPY_REPEAT times) the Scrapy spider, each as /usr/bin/time -v timeout CMD;
#      checks every run from its own output (check_crawl.py): pages found / expected, duplicates,
#      requests to /private/;
#   4. once per start page, an unmeasured spate run without -q, to keep spate's own summary lines;
#   5. prints a Markdown table and writes it to Benchmarks/results/crawl-latest.md.
# A crawl from /p/000001.html reaches exactly pages 1..20000, one from /p/020001.html all N pages.
# nginx is stopped on exit (KEEP_HTTP=1 leaves it running). State lives in Benchmarks/run/ (gitignored),
# per-run time/stderr/check files in Benchmarks/results/raw/crawl-DATE/ (gitignored).
#
# Env knobs:
#   REPEAT=3            runs per tool and start page; the table shows medians
#   CONC=100            in flight: spate -c/--per-host, wget2 --max-threads, Scrapy CONCURRENT_REQUESTS(_PER_DOMAIN);
#                       a list such as "100 500" works
#   START="000001 020001"  start pages /p/NNNNNN.html (<= 20000: expect pages 1..20000; above: all N)
#   SKIP_PEERS=1        no peers (wget2, Scrapy)          SKIP_SPATE=1   no spate runs
#   SKIP_FLOOR=1        no libcurl-floor rows (Benchmarks/floor/crawl_floor.c, built with cc)
#   SPATE=path          binary to measure (default .build/release/spate, built if missing; SPATE_BUILD=1 rebuilds);
#                       the runs use a copy taken at the start (run/spate-measured)
#   SPATE_ARGS="..."    extra arguments for the measured spate runs (default none)
#   STATE=1             also measure spate crawl --state DIR -o FILE (the journal's cost; default 1)
#   REPORT=name         save the report as results/NAME.md (default crawl-latest)
#   SCRAPY_START=000001 start pages Scrapy runs on (it crawls ~150 pages/s: 100k pages would take 11 minutes)
#   SCRAPY_REPEAT=1     Scrapy runs per start page
#   SCRAPY_TIMEOUT=120  Scrapy's CLOSESPIDER_TIMEOUT (a safety bound; its rows say when it stopped the crawl)
#   TIMEOUT_S=300       per-run limit (Scrapy's is at least SCRAPY_TIMEOUT + 60)
#   HTTP_PORT=8080 N=100000 NGINX_WORKERS=2
#   FRESH_NGINX=1       new nginx workers before every run (SIGHUP), so that no run inherits what the tool
#                       before it left in them (nginx_fresh_workers in lib.sh); 0: the same workers throughout
#   KEEP_HTTP=1         leave nginx running at the end
set -euo pipefail
# paths (BENCH ROOT RUN DATA OUT VENV RESULTS STAMP SPATE_DEFAULT), nginx_* and the measurement helpers
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NGX="$RUN/nginx"
WWW="$RUN/www"
RAW="$RESULTS/raw/crawl-$STAMP"

REPEAT="${REPEAT:-3}"
CONC="${CONC:-100}"
START="${START:-000001 020001}"
SKIP_PEERS="${SKIP_PEERS:-0}"
SKIP_SPATE="${SKIP_SPATE:-0}"
SKIP_FLOOR="${SKIP_FLOOR:-0}"
SPATE_BUILD="${SPATE_BUILD:-0}"
SPATE_ARGS="${SPATE_ARGS:-}"
STATE="${STATE:-1}"
REPORT="${REPORT:-crawl-latest}"
SCRAPY_START="${SCRAPY_START:-000001}"
SCRAPY_REPEAT="${SCRAPY_REPEAT:-1}"
SCRAPY_TIMEOUT="${SCRAPY_TIMEOUT:-120}"
TIMEOUT_S="${TIMEOUT_S:-300}"
HTTP_PORT="${HTTP_PORT:-8080}"
N="${N:-100000}"
NGINX_WORKERS="${NGINX_WORKERS:-2}"
KEEP_HTTP="${KEEP_HTTP:-0}"
FRESH_NGINX="${FRESH_NGINX:-1}"
SPATE="${SPATE:-$SPATE_DEFAULT}"
case "$SPATE" in   # the runs happen in a folder of their own: make the path absolute
  /*) ;;
  */*) SPATE="$PWD/$SPATE" ;;
  *) SPATE="$(command -v "$SPATE" || echo "$PWD/$SPATE")" ;;
esac
BASE="http://127.0.0.1:$HTTP_PORT"
COMPONENT=$(( N < 20000 ? N : 20000 ))   # gen-site.py: pages 1..20000 link only among themselves

# expected START -> pages a complete crawl from /p/START.html fetches (1..that number)
expected() { if [ "$((10#$1))" -le "$COMPONENT" ]; then echo "$COMPONENT"; else echo "$N"; fi; }
for s in $START $SCRAPY_START; do
  [[ "$s" =~ ^[0-9]{6}$ ]] && [ "$((10#$s))" -ge 1 ] && [ "$((10#$s))" -le "$N" ] ||
    die "START/SCRAPY_START: '$s' must be a six-digit page number in 000001..$(printf '%06d' "$N")"
done
for c in $CONC; do [[ "$c" =~ ^[1-9][0-9]*$ ]] || die "CONC: '$c' is not a positive number"; done
read -r -a spate_args <<< "$SPATE_ARGS"

# ---------------------------------------------------------------- 1. tools
need=()
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need+=(nginx)
[ "$SKIP_PEERS" = 1 ] || command -v wget2 >/dev/null || need+=(wget2)
command -v curl >/dev/null || need+=(curl)   # nginx_start's readiness check
install_missing "${need[@]+"${need[@]}"}"   # (+ time python3 coreutils)

mkdir -p "$NGX/tmp" "$WWW" "$DATA" "$OUT" "$RAW"

PY_OK=0
[ "$SKIP_PEERS" = 1 ] || peer_venv "Scrapy peer" scrapy

# ---------------------------------------------------------------- spate binary
spate_crawls() { [ -x "$SPATE" ] && "$SPATE" crawl --help >/dev/null 2>&1 < /dev/null; }
RUN_SPATE=1
if [ "$SKIP_SPATE" = 1 ]; then
  RUN_SPATE=0; note "spate skipped (SKIP_SPATE=1)"
else
  if [ "$SPATE" = "$SPATE_DEFAULT" ] && { [ "$SPATE_BUILD" = 1 ] || ! spate_crawls; }; then
    if command -v swift >/dev/null; then
      log "building spate: swift build -c release (waits for /tmp/spate-build.lock)"
      (cd "$ROOT" && flock /tmp/spate-build.lock swift build -c release) >&2 || log "swift build -c release failed"
    else
      log "swift is not installed: cannot build $SPATE"
    fi
  fi
  if ! spate_crawls; then
    RUN_SPATE=0
    note "spate skipped: $SPATE is missing or \`$SPATE crawl --help\` fails (build it with \`swift build -c release\`, or set SPATE=path)"
  fi
fi
# Measure a copy taken now, so a rebuild during the run (another session's `swift build`) cannot mix two
# binaries in one report. The copy finds the Swift runtime through the binary's absolute RUNPATH.
SPATE_SRC="$SPATE"
sum12() { sha256sum "$1" 2>/dev/null | cut -c1-12; }
SPATE_SUM0=""
if [ "$RUN_SPATE" = 1 ]; then
  SPATE="$RUN/spate-measured"
  cp "$SPATE_SRC" "$SPATE.tmp" && mv "$SPATE.tmp" "$SPATE"
  SPATE_SUM0="$(sum12 "$SPATE")"
  "$SPATE" crawl --help >/dev/null 2>&1 < /dev/null || die "the copy $SPATE of $SPATE_SRC does not run"
  log "measuring a copy of $SPATE_SRC (sha256 $SPATE_SUM0…): $SPATE"
fi

RUN_WGET2=1
[ "$SKIP_PEERS" = 1 ] && RUN_WGET2=0
if [ "$RUN_WGET2" = 1 ] && ! command -v wget2 >/dev/null; then RUN_WGET2=0; note "wget2 is not installed: skipped"; fi

# The libcurl crawl floor (Benchmarks/floor/crawl_floor.c): one thread driving curl's multi-socket
# API with spate's options, finding links with memmem and deduplicating them by a 64-bit hash, with
# no HTML tokenizer, URL canonicalisation, politeness or records. Not a peer: the least CPU any
# crawler built on this libcurl can spend per page here (BENCHMARKS.md, "Where the time goes").
build_floor crawl_floor   # -> FLOOR_BIN, RUN_FLOOR (lib.sh)

no_proxies   # from here on: loopback only

# ---------------------------------------------------------------- 2. nginx and the site
cleanup() {
  local rc=$?
  if [ "$KEEP_HTTP" = 1 ]; then
    [ -s "$NGX/nginx.pid" ] && log "nginx left running (pid $(cat "$NGX/nginx.pid")): $BASE/p/000001.html; stop: kill -QUIT $(cat "$NGX/nginx.pid")"
  else
    nginx_stop
  fi
  exit "$rc"
}
on_exit cleanup

nginx_stop    # a leftover from an interrupted run (or from KEEP_HTTP=1)
nginx_ports   # dies if 127.0.0.1:$HTTP_PORT or [::1]:$HTTP_PORT is taken; sets LISTEN6

log "site: $N pages in ${WWW#"$ROOT"/} (written once per version; the first time takes a minute or two)"
HTTP_BASE="$BASE" python3 "$BENCH/gen-site.py" "$WWW" "$DATA" "$N"
nginx_start   # config, pid file and logs in run/nginx/; waits until the last page is served; warms the page cache

# the crawlers run in an empty folder of their own (none of them should write files; wget2 -r would, without -O)
CWD="$OUT/crawl-cwd"
rm -rf "$CWD"; mkdir -p "$CWD"; cd "$CWD"

# ---------------------------------------------------------------- 3. measurement
TSV="$RAW/runs.tsv"
printf 'group\ttool\tstart\trun\trc\twall_s\tcpu_s\trss_mb\ttotal\tcorrect\tmissing\tunexpected\twrong\trequests\tduplicates\tprivate\tprivate_srv\trobots_denied\tfailed\tlisten_drops\tnginx_errors\tnginx_cpu_s\tother_cpu_s\tinner\tfinish\textra\n' > "$TSV"

private_log() { wc -l < "$NGX/private.log"; }

# measure TOOL START ID LIMIT CHECK_FILE CMD...: one timed run, checked from CHECK_FILE (spate: its stdout, ID.out;
# wget2: its CSV; Scrapy: its URL file, and its JSON summary on stdout), one line into runs.tsv.
measure() {
  local tool="$1" start="$2" id="$3" limit="$4" file="$5"; shift 5
  local run="${id##*-r}" want
  want="$(expected "$start")"
  # every run meets new nginx workers (see nginx_fresh_workers in lib.sh), unless FRESH_NGINX=0
  [ "$FRESH_NGINX" = 1 ] && nginx_fresh_workers
  run_begin "$id" "$@"
  local l0 e0 p0 n0 b0 rc=0
  l0="$(listen_overflows)"; e0="$(nginx_errors)"; p0="$(private_log)"; n0="$(nginx_ticks)"; b0="$(busy_ticks)"
  timed "$id" "$limit" "$@" || rc=$?
  local b1 n1
  b1="$(busy_ticks)"; n1="$(nginx_ticks)"
  local ldrops=$(( $(listen_overflows) - l0 )) nerr=$(( $(nginx_errors) - e0 )) psrv=$(( $(private_log) - p0 ))
  time_v "$RAW/$id.time"   # -> WALL CPU RSS
  # CPU of nginx, and of everything else on the machine (other processes, kernel work not charged to a process)
  local ncpu ocpu
  ncpu="$(awk -v t=$(( n1 - n0 )) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')"
  ocpu="$(awk -v t=$(( b1 - b0 )) -v hz="$CLK_TCK" -v c="$CPU" -v n="$ncpu" 'BEGIN { o = t / hz - c - n; printf "%.2f", o }')"
  local check
  check="$(python3 "$BENCH/check_crawl.py" "$file" "$WWW" "$want")"
  printf '%s\n' "$check" > "$RAW/$id.check.json"
  local inner="" finish=""
  if [ "$file" != "$OUT/$id.out" ] && grep -q '^{' "$OUT/$id.out" 2>/dev/null; then   # a peer's JSON summary
    cp "$OUT/$id.out" "$RAW/$id.summary.json"
    inner="$(inner_wall "$OUT/$id.out")"
    finish="$(python3 -c 'import json,sys
print(json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1]).get("finish_reason") or "")' "$OUT/$id.out")"
  fi
  local f
  f="$(python3 -c 'import json,sys
c = json.loads(sys.argv[1])
keys = "expected found missing unexpected wrong requests duplicates private robots_denied failed".split()
bits = []
for k, v in list(c["failures"].items())[:3]:
    bits.append("%s %d" % (k, v))
bad = {s: n for s, n in c["statuses"].items() if s != "200"}
if bad: bits.append("status " + ", ".join("%s x%d" % kv for kv in bad.items()))
if c["duplicates"]: bits.append("%d URLs fetched more than once" % c["duplicate_urls"])
if c["missing"]: bits.append("missing e.g. " + " ".join(c["missing_sample"][:3]))
if c["other"]: bits.append("%d responses for other URLs" % c["other"])
print("\t".join(str(c[k]) for k in keys) + "\t" + "; ".join(bits))' "$check")"
  local total correct missing unexpected wrong requests dups priv denied failed extra
  IFS=$'\t' read -r total correct missing unexpected wrong requests dups priv denied failed extra <<< "$f"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "crawl-$start" "$tool" "$start" "$run" "$rc" "$WALL" "$CPU" "$RSS" "$total" "$correct" "$missing" "$unexpected" \
    "$wrong" "$requests" "$dups" "$priv" "$psrv" "$denied" "$failed" "$ldrops" "$nerr" "$ncpu" "$ocpu" "$inner" "$finish" "$extra" >> "$TSV"
  log "  rc=$rc wall=${WALL}s cpu=${CPU}s (nginx ${ncpu}s, rest of machine ${ocpu}s) rss=${RSS}MB pages=$correct/$total requests=$requests duplicates=$dups private=$priv (nginx: $psrv)${denied:+ robots_denied=$denied}${finish:+ finish=$finish}${extra:+ ($extra)}"
  [ "$ldrops" -gt 0 ] && log "  !! $ldrops listen-queue overflows" || true
  [ "$nerr" -gt 0 ] && log "  !! $nerr new nginx error-log lines ($NGX/error.log)" || true
  limit_hit "$rc" "$limit"
}

SCRAPY_LIMIT=$(( TIMEOUT_S > SCRAPY_TIMEOUT + 60 ? TIMEOUT_S : SCRAPY_TIMEOUT + 60 ))
on_list() { case " $2 " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------- 4. runs
for r in $(seq "$REPEAT"); do
  for s in $START; do
    url="$BASE/p/$s.html"
    for c in $CONC; do
      if [ "$RUN_SPATE" = 1 ]; then
        measure "spate crawl, -c $c --per-host $c" "$s" "crawl-spate-$s-c$c-r$r" "$TIMEOUT_S" "$OUT/crawl-spate-$s-c$c-r$r.out" \
          "$SPATE" crawl "$url" -c "$c" --per-host "$c" -q --no-hosts-file "${spate_args[@]+"${spate_args[@]}"}"
      fi
      if [ "$RUN_SPATE" = 1 ] && [ "$STATE" = 1 ]; then
        # the same crawl with a journal (fsync'd every second) and records to a file
        id="crawl-spatestate-$s-c$c-r$r"; rm -rf "$RUN/$id.state" "$OUT/$id.jsonl"
        measure "spate crawl --state DIR -o FILE, -c $c --per-host $c" "$s" "$id" "$TIMEOUT_S" "$OUT/$id.jsonl" \
          "$SPATE" crawl "$url" -c "$c" --per-host "$c" -q --no-hosts-file --state "$RUN/$id.state" -o "$OUT/$id.jsonl" \
          "${spate_args[@]+"${spate_args[@]}"}"
        [ "$r" = 1 ] && note "journal of $id: $(du -k "$RUN/$id.state/journal" | cut -f1) KiB for $(grep -c '' "$OUT/$id.jsonl") records"
        rm -rf "$RUN/$id.state"
      fi
      if [ "$RUN_FLOOR" = 1 ]; then
        id="crawl-floor-$s-c$c-r$r"
        measure "libcurl crawl floor (C, one thread, no HTML tokenizer or records), $c in flight" "$s" "$id" "$TIMEOUT_S" \
          "$OUT/$id.out" "$FLOOR_BIN" "$url" "$c"
      fi
      if [ "$RUN_WGET2" = 1 ]; then
        id="crawl-wget2-$s-c$c-r$r"; rm -f "$OUT/$id.csv"
        measure "wget2 -r -l inf --max-threads=$c" "$s" "$id" "$TIMEOUT_S" "$OUT/$id.csv" \
          wget2 -r -l inf --max-threads="$c" -q -O /dev/null --stats-site="csv:$OUT/$id.csv" "$url"
      fi
      if [ "$PY_OK" = 1 ] && on_list "$s" "$SCRAPY_START" && [ "$r" -le "$SCRAPY_REPEAT" ]; then
        id="crawl-scrapy-$s-c$c-r$r"; rm -f "$OUT/$id.urls"
        measure "Scrapy, CONCURRENT_REQUESTS=$c (CLOSESPIDER_TIMEOUT=$SCRAPY_TIMEOUT)" "$s" "$id" "$SCRAPY_LIMIT" "$OUT/$id.urls" \
          "$VENV/bin/python" "$BENCH/peers/scrapy_spider.py" "$url" "$c" "$SCRAPY_TIMEOUT" "$OUT/$id.urls"
      fi
    done
  done
done

# ---------------------------------------------------------------- 4b. spate's own summary (unmeasured)
SUMMARIES="$RAW/spate-summaries.tsv"
: > "$SUMMARIES"
if [ "$RUN_SPATE" = 1 ]; then
  c="${CONC%% *}"
  for s in $START; do
    id="crawl-spate-$s-c$c-summary"
    run_begin "$id" "$SPATE" crawl "$BASE/p/$s.html" -c "$c" --per-host "$c" --no-hosts-file "${spate_args[@]+"${spate_args[@]}"}"
    timeout --signal=INT --kill-after=10 "$TIMEOUT_S" "$SPATE" crawl "$BASE/p/$s.html" -c "$c" --per-host "$c" --no-hosts-file \
      "${spate_args[@]+"${spate_args[@]}"}" > /dev/null 2> "$RAW/$id.err" < /dev/null || true
    # the summary: from its first line ("spate crawl: N jobs, ...") to the end, without progress lines
    awk '/^spate crawl: / { on = 1 } on' "$RAW/$id.err" | tr -d '\r' | while IFS= read -r line; do
      printf '%s\t%s\n' "$s" "$line" >> "$SUMMARIES"
    done
    awk -F'\t' -v s="$s" '$1 == s { print "  " $2 }' "$SUMMARIES" >&2
  done
fi
if [ "$RUN_SPATE" = 1 ] && [ "$(sum12 "$SPATE_SRC")" != "$SPATE_SUM0" ]; then
  note "$SPATE_SRC was rebuilt during the run (sha256 now $(sum12 "$SPATE_SRC")…): the runs measured the copy taken at the start ($SPATE_SUM0…), but the build competed for the CPU"
fi

# ---------------------------------------------------------------- 5. report
META="$RAW/meta.tsv"
{
  meta_machine   # date, machine, os
  printf 'nginx\t%s: %s workers, keep-alive, sendfile, access_log off (only /private/ is logged), open_file_cache 8000; %s:%s%s\n' \
    "$(nginx_version)" "$NGINX_WORKERS" 127.0.0.1 "$HTTP_PORT" "$([ "$LISTEN6" = 1 ] && echo " and [::1]:$HTTP_PORT")"
  printf 'site\t%s pages /p/NNNNNN.html (%s bytes on average; gen-site.py %s), robots.txt disallows /private/, %s pages link there\n' \
    "$(commas "$N")" \
    "$(find "$WWW/p" -name '*.html' -printf '%s\n' | awk '{ s += $1; n++ } END { printf "%.0f", s / n }')" \
    "v$(sed -n 's/^VERSION = "\(.*\)"/\1/p' "$BENCH/gen-site.py")" \
    "$(commas "$(grep -l 'private/' -r "$WWW/p" | wc -l)")"
  printf 'ulimit -n\t%s soft / %s hard\n' "$(ulimit -Sn)" "$(ulimit -Hn)"
  [ "$RUN_SPATE" != 1 ] || printf 'spate\t%s (a copy of %s, sha256 %s…)\n' "$("$SPATE" --version 2>/dev/null | head -n 1 || echo '?')" "${SPATE_SRC#"$ROOT"/}" "$SPATE_SUM0"
  [ "$RUN_WGET2" = 1 ] && printf 'wget2\t%s\n' "$(wget2 --version 2>/dev/null | head -n 1 | sed 's/^GNU Wget2 //; s/ - .*//')"
  [ "$PY_OK" = 1 ] && printf 'Scrapy\t%s\n' "$("$VENV/bin/python" -c 'import sys, scrapy, twisted
print("Scrapy", scrapy.__version__, "Twisted", twisted.__version__, "Python %d.%d.%d" % sys.version_info[:3])')"
  printf 'settings\tREPEAT=%s CONC="%s" START="%s" SCRAPY_START="%s" SCRAPY_REPEAT=%s SCRAPY_TIMEOUT=%s TIMEOUT_S=%s N=%s HTTP_PORT=%s FRESH_NGINX=%s%s\n' \
    "$REPEAT" "$CONC" "$START" "$SCRAPY_START" "$SCRAPY_REPEAT" "$SCRAPY_TIMEOUT" "$TIMEOUT_S" "$N" "$HTTP_PORT" "$FRESH_NGINX" \
    "$([ -n "$SPATE_ARGS" ] && printf ' SPATE_ARGS="%s"' "$SPATE_ARGS")"
  meta_notes
} > "$META"

python3 "$BENCH/report_crawl.py" "$META" "$TSV" "$SUMMARIES" > "$RAW/report.md"
echo
cat "$RAW/report.md"
if [ "$(wc -l < "$TSV")" -gt 1 ]; then
  cp "$RAW/report.md" "$RESULTS/$REPORT.md"
  log "saved: Benchmarks/results/$REPORT.md (raw files: ${RAW#"$ROOT"/})"
else
  log "nothing was measured: Benchmarks/results/$REPORT.md left as it was (report: ${RAW#"$ROOT"/}/report.md)"
fi
