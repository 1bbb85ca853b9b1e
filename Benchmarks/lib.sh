# shellcheck shell=bash
# Shared by Benchmarks/dns.sh, Benchmarks/http.sh and Benchmarks/crawl.sh (sourced right after `set -euo pipefail`).
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

# build_floor NAME: compiles Benchmarks/floor/NAME.c into $RUN/NAME (cc -O2 … -lcurl, log in $RAW) unless
# SKIP_FLOOR=1; sets FLOOR_BIN and RUN_FLOOR (1 when built), and says in a note why it was skipped.
build_floor() {
  local name="$1" cc_bin
  FLOOR_BIN="$RUN/$name"
  RUN_FLOOR=0
  [ "${SKIP_FLOOR:-0}" = 1 ] && return 0
  cc_bin="$(command -v cc || command -v gcc || command -v clang || true)"
  if [ -z "$cc_bin" ]; then
    note "$name skipped: no C compiler (cc, gcc or clang)"
  elif "$cc_bin" -O2 -o "$FLOOR_BIN" "$BENCH/floor/$name.c" -lcurl 2>"$RAW/$name.build.log"; then
    RUN_FLOOR=1
  else
    note "$name skipped: $name.c did not build (see ${RAW#"$ROOT"/}/$name.build.log)"
  fi
}
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

# ---------------------------------------------------------------- our nginx (http.sh, crawl.sh)
# The caller sets NGX (state folder: config, pid file, logs, temp dirs), WWW (document root), HTTP_PORT,
# NGINX_WORKERS, N (pages in the site) and BASE (http://127.0.0.1:$HTTP_PORT). Debian's package, never its
# service: our nginx runs with its own config, pid file and logs under $NGX.

# nginx_stop: stop our nginx (pid file in $NGX, command line naming $NGX/nginx.conf), if it runs
nginx_stop() {
  local pid=""
  [ -s "$NGX/nginx.pid" ] && pid="$(cat "$NGX/nginx.pid")"
  [ -n "$pid" ] || return 0
  if is_ours "$pid" "$NGX/nginx.conf"; then   # the master's command line names our config file
    kill -QUIT "$pid" 2>/dev/null || true
    wait_exit "$pid" 50 || kill -TERM "$pid" 2>/dev/null || true
    wait_exit "$pid" 20 || true
    log "nginx stopped (pid $pid)"
  fi
  rm -f "$NGX/nginx.pid"
}

# nginx_ports: die if anything holds 127.0.0.1:$HTTP_PORT or [::1]:$HTTP_PORT; LISTEN6=0 (with a note)
# when ::1 cannot be bound at all, else 1. Call it after nginx_stop, before any slow work.
nginx_ports() {
  port_holder() { ss -Hltnp "sport = :$HTTP_PORT" 2>/dev/null | awk '{ print $4, $NF }' | head -n 3 | paste -sd ';' -; }
  port_free 127.0.0.1 "$HTTP_PORT" ||
    die "127.0.0.1:$HTTP_PORT is in use (held by: $(port_holder)). Stop that server or choose another port with HTTP_PORT=."
  LISTEN6=1
  if port_free ::1 "$HTTP_PORT"; then :; else
    case $? in
      1) die "[::1]:$HTTP_PORT is in use (held by: $(port_holder)). Stop that server or choose another port with HTTP_PORT=." ;;
      *) LISTEN6=0; note "no [::1]:$HTTP_PORT listener: ::1 cannot be bound here (IPv6 off?)" ;;
    esac
  fi
}

# nginx_start: write $NGX/nginx.conf, start nginx, wait until it serves the last page (/p/N.html) with the
# right size and title, then warm the page cache (every page read once). Sets NGINX_BIN; needs LISTEN6.
# Requests under /private/ (disallowed by the site's robots.txt; no such files) are logged to
# $NGX/private.log, so a crawler that asks for one is seen on the server side too. Nothing else is logged.
nginx_start() {
  NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"
  mkdir -p "$NGX/tmp"
  local nofile worker_conn
  nofile="$(ulimit -Hn)"; [ "$nofile" = unlimited ] && nofile=65536
  worker_conn=$(( nofile / 2 < 16384 ? nofile / 2 : 16384 ))
  cat > "$NGX/nginx.conf" <<NGINX_CONF
# generated by Benchmarks/lib.sh (nginx_start) -- nginx for the spate benchmarks, loopback only
worker_processes $NGINX_WORKERS;
worker_rlimit_nofile $nofile;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events {
    worker_connections $worker_conn;
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
        location /private/ { access_log $NGX/private.log; try_files \$uri =404; }
    }
}
NGINX_CONF
  : > "$NGX/error.log"
  : > "$NGX/private.log"
  log "starting nginx on 127.0.0.1:$HTTP_PORT$([ "$LISTEN6" = 1 ] && echo " and [::1]:$HTTP_PORT") ($N pages, $NGINX_WORKERS workers)"
  "$NGINX_BIN" -p "$NGX/" -e "$NGX/error.log" -c "$NGX/nginx.conf" ||
    { tail -n 20 "$NGX/error.log" >&2; die "nginx did not start (log: $NGX/error.log)"; }

  local last_num last_url last_size
  last_num="$(printf '%06d' "$N")"
  last_url="$BASE/p/$last_num.html"
  last_size="$(stat -c %s "$WWW/p/$last_num.html")"
  serves() { # URL -> 0 if the last page comes back 200 with the right size and title
    local got
    got="$(curl -s --noproxy '*' --max-time 2 -w '\n%{http_code} %{size_download}' "$1" 2>/dev/null)" || return 1
    [ "$(tail -n 1 <<< "$got")" = "200 $last_size" ] && grep -qF "<title>Page $last_num</title>" <<< "$got"
  }
  for _ in $(seq 100); do serves "$last_url" && break; sleep 0.1; done
  serves "$last_url" || { tail -n 20 "$NGX/error.log" >&2; die "nginx does not serve $last_url correctly (log: $NGX/error.log)"; }
  if [ "$LISTEN6" = 1 ] && ! serves "http://[::1]:$HTTP_PORT/p/$last_num.html"; then
    note "nginx does not answer on [::1]:$HTTP_PORT (the benchmark itself uses 127.0.0.1 only)"
  fi
  log "nginx $(nginx_version) serves (pid $(cat "$NGX/nginx.pid")): $last_url -> 200, $last_size bytes, title Page $last_num"

  # warm the page cache, so no tool pays for the first read of the files from disk
  find "$WWW/p" -name '*.html' -print0 | xargs -0 cat > /dev/null
}

# nginx_version: "1.22.1"
nginx_version() { "$NGINX_BIN" -v 2>&1 | sed 's,.*/,,'; }

# TCP connections the kernel refused because a listen queue was full (TcpExt ListenOverflows, system-wide)
listen_overflows() { awk '/^TcpExt:/ { if (!h) { for (i = 2; i <= NF; i++) if ($i == "ListenOverflows") c = i; h = 1 } else print $c + 0 }' /proc/net/netstat; }
# nginx_ticks: CPU clock ticks (user + sys) used so far by our nginx's master and workers
nginx_ticks() {
  local pid t=0 p
  [ -s "$NGX/nginx.pid" ] && pid="$(cat "$NGX/nginx.pid")" || { echo 0; return; }
  for p in "$pid" $(pgrep -P "$pid" 2>/dev/null); do
    t=$(( t + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0) ))
  done
  echo "$t"
}
# nginx_fresh_workers: replace our nginx's workers with new ones and wait until only the new ones run
# and serve (SIGHUP: the master reads its config again, starts new workers, and the old ones finish and
# exit). A run then meets workers that have served nobody, whichever tool ran before it. Measured
# (crawl, 100,000 pages): a spate crawl right after wget2's left the two cores ~10 % idle (9.5-12.5 %,
# 23 runs, also 8 s after wget2 ended), against 3.6-9.2 % (most 4-6.5 %) after spate's own crawl or the
# libcurl floor, and 4.1-4.8 % with fresh workers after wget2. The state wget2's 100 threads leave lives
# in the worker processes (it outlasts the pause, and the TCP metrics cache is not it: flushing that
# changed nothing); what it is was not pinned down.
nginx_fresh_workers() {
  local pid old p left i code
  [ -s "$NGX/nginx.pid" ] && pid="$(cat "$NGX/nginx.pid")" || return 0
  old="$(pgrep -P "$pid" | tr '\n' ' ')"
  kill -HUP "$pid" 2>/dev/null || die "nginx (pid $pid) did not take SIGHUP"
  for i in $(seq 400); do
    left=0
    for p in $old; do kill -0 "$p" 2>/dev/null && left=1; done
    [ "$left" = 0 ] && [ "$(pgrep -P "$pid" | wc -l)" -ge "$NGINX_WORKERS" ] && break
    sleep 0.05
  done
  [ "$left" = 0 ] || note "nginx's old workers ($old) still ran 20 s after SIGHUP"
  for i in $(seq 100); do
    code="$(curl -s --noproxy '*' --max-time 2 -o /dev/null -w '%{http_code}' "$BASE/p/$(printf '%06d' "$N").html" 2>/dev/null)"
    [ "$code" = 200 ] && return 0
    sleep 0.05
  done
  die "nginx does not serve after its workers were replaced (log: $NGX/error.log)"
}
# busy_ticks: CPU clock ticks the whole machine has been busy or stolen (user nice system irq softirq steal, all cores)
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
CLK_TCK="$(getconf CLK_TCK 2>/dev/null || echo 100)"
# nginx_errors: [error]/[crit]/[alert]/[emerg] lines in our nginx's log so far
nginx_errors() { grep -cE '\[(error|crit|alert|emerg)\]' "$NGX/error.log" || true; }

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
