#!/usr/bin/env python3
"""A scriptable HTTP(S) fixture server for `spate fetch` tests (loopback only).

Standard library only (Python 3.11). Started by HTTPFixture.swift, or by hand:

    python3 http_fixture.py [--dir DIR] [--no-tls] [--watch-stdin] [--verbose]

Listens on 127.0.0.1 and ::1 (plain HTTP, the same port when it can get it) and on
127.0.0.1 and ::1 for HTTPS (a throw-away CA and server certificate made with the
`openssl` tool in DIR). Never on any other address. When ready it prints one JSON line:

    {"http4": P, "http6": P|null, "https4": P|null, "https6": P|null, "ca": "DIR/ca.pem"|null}

Behaviour is chosen by the request path (no scripting API); see ROUTES below or GET /.
Statistics (connections and requests, per listener, overall and per Host header) are
served by GET /__stats and zeroed by POST /__reset; those two never count themselves.
A connection is counted from its first counted request (so a connection that only ever
asks /__stats is not counted) until it closes; /__reset starts a new generation, and
connections or requests from an older generation are not counted again until they make
a new request.

Requests whose Host header (without its port) ends in `.crawl.test` are served from small
generated sites for `spate crawl` tests instead (see CRAWL_ROUTES below, also in GET /);
each such request is also appended to a request log, GET /__crawllog, cleared by /__reset.
"""

import argparse
import email.utils
import gzip
import html
import json
import os
import shutil
import signal
import socket
import socketserver
import secrets
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

VERBOSE = False
MAX_REQUEST_BODY = 64 << 20

# The title served by /html-entities, and what it reads as once entities are decoded and
# whitespace collapsed: "<b> Tom & Jerry's \u263a".
ENTITY_TITLE_RAW = "\n   &lt;b&gt; Tom \t &amp;\n    Jerry&#39;s   &#x263A;  \n"

# The crawl sites (Host header NAME.crawl.test[:PORT]; the site is the first label). PORT
# in the links below is the port of the request's Host header. Every page not listed is a
# 404 unless the site says otherwise; pages are text/html, "leaf" pages have no links.
CRAWL_ROUTES = """
Crawl sites: Host NAME.crawl.test[:PORT], site = first label; all other hosts: the routes above.
Every request to a .crawl.test host is counted (/__stats "hosts", by Host header) and logged:
GET /__crawllog -> {"requests": [{"seq", "host" (no port), "path" (path?query as requested),
"method", "start" (monotonic ms, request read), "end" (ms: the response's last write began;
null while running), "status"}...]} in start order. /robots.txt is a 404 unless a site says otherwise. Leaf pages: 200 text/html, no links.

basic  /            links, in this order: a.html (relative), /b.html, http://basic.crawl.test:PORT/c.html,
                    //basic.crawl.test:PORT/d.html, e.html#frag, e.html#other, /q?a=1&amp;b=2, /q?b=2&a=1,
                    /f.html only inside <!-- a comment --> and a <script> string (never a link),
                    mailto:x@y, javascript:void(0), /nofollow.html (rel="nofollow"), /doc.txt,
                    http://other.crawl.test:PORT/x.html, /redirect-in, /redirect-out, /sub/, /broken.html,
                    /meta-nofollow.html, /xrobots.html, /refresh.html, /canon.html
       /doc.txt     text/plain; its text holds <a href="/never.html"> (must not be parsed)
       /redirect-in 301 -> /g.html        /redirect-out  302 -> http://other.crawl.test:PORT/y.html
       /sub/        <base href="/base/"> and a link h.html (-> /base/h.html)
       /broken.html unclosed tags, unquoted attributes, stray "<", unterminated last tag;
                    links /i.html (unquoted) and /j.html (single quotes)
       /meta-nofollow.html  <meta name="robots" content="nofollow">, links /k.html
       /xrobots.html        header X-Robots-Tag: nofollow, links /l.html
       /refresh.html        <meta http-equiv="refresh" content="0; url=/m.html">
       /canon.html          <link rel="canonical" href="/a.html">
       leaves: /a.html /b.html /c.html /d.html /e.html /q (any query) /f.html /g.html /base/h.html
               /i.html /j.html /k.html /l.html /m.html /nofollow.html /never.html
       Default crawl of / (scope host) requests exactly: /robots.txt / /a.html /b.html /c.html
       /d.html /e.html /q?a=1&b=2 /q?b=2&a=1 /doc.txt /redirect-in /g.html /redirect-out /sub/
       /base/h.html /broken.html /i.html /j.html /meta-nofollow.html /xrobots.html /refresh.html
       /m.html /canon.html (with --sort-query: one /q request).
other (and any unknown site)  / links x.html and y.html; /x.html /y.html leaves
robots-rules  /robots.txt:  User-agent: *  / Disallow: /   (ignored by spate: its own group wins)
                            User-agent: otherbot + User-agent: Spate (one group):
                              Disallow: /private/    Allow: /private/open   Disallow: /*.pdf$
                              Disallow: /tmp         Allow: /tmp/ok         Disallow: /tie
                              Allow: /tie            Disallow: /*secret     Disallow: /shop/
                              Allow: /shop/*.html$   (no Crawl-delay)
                            Sitemap: http://robots-rules.crawl.test:PORT/sitemap.xml (404)
              / links: /public.html /private/secret.html /private/open.html /doc.pdf /doc.pdf?x=1
                 /tmp/file.html /tmp/ok/file.html /tmpfile.html /tie.html /a/b/secret-x.html
                 /shop/item.html /shop/item.php; every other path is a leaf.
              Allowed for "spate": / /public.html /private/open.html /doc.pdf?x=1 /tmp/ok/file.html
                 /tie.html /shop/item.html. Denied: /private/secret.html /doc.pdf /tmp/file.html
                 /tmpfile.html /a/b/secret-x.html /shop/item.php
robots-404    /robots.txt 404; / links /a.html /b.html; every other path a leaf
robots-500    /robots.txt 500; / links /a.html; every other path a leaf
robots-slow   /robots.txt 200 (Disallow nothing) after 3 s; / links /a.html
robots-redirect  /robots.txt 301 -> /robots-2.txt 302 -> /robots-final.txt (User-agent: * /
              Disallow: /no/); / links /no/x.html /yes.html
robots-toomany   /robots.txt 301 -> /rr/1.txt -> ... -> /rr/5.txt 301 -> /rr/6.txt (6 redirects);
              /rr/6.txt would say Disallow: / ; / links /a.html
robots-delay  /robots.txt: User-agent: * / Crawl-delay: 1; / links /p1.html ... /p4.html
calendar      / links /cal/2024/01; /cal/YYYY/MM links the next month (forever)
session       / links /p?n=0&sid=R; /p?n=N&sid=X links /p?n=N+1&sid=R1 (N < 20) and /p?n=N&sid=R2,
              R, R1, R2 fresh random hex each time; n > 20 is a 404
repeat        / links /r/; /r/S1/.../Sk/ (segments a|b) whose last segment is s links ./t/ and
              ../s/t/ (the same URL), t = b after a, else a: /r/ /r/a/ /r/a/b/ /r/a/b/a/ ... forever
farm          / links /farm/0.html ... /farm/2999.html (3000 links, in order); those are leaves
slow          / links /s/0.html ... /s/29.html; each answers after 200 ms (leaves)
slower        / links /s/0.html ... /s/9.html; each answers after 2 s (leaves)
nofollow-seen / links /a.html, /b.html, /c.html; /a.html links / and /b.html with rel="nofollow";
              /c.html has <meta name="robots" content="nofollow"> and links / and /a.html; /b.html leaf
              (every nofollow link points to a page already admitted: it is "nofollow", not "seen")
ratelimited   / links /p1.html /p2.html /p3.html; the first /p1.html (since /__reset) gets
              429 with Retry-After: 1, later ones 200
big           / links /n/000.html; /n/III.html (000..499) links /n/((I+1)%500) then
              (7I+3)%500, (13I+11)%500, (31I+7)%500, (97I+41)%500, (I*I+5)%500: 500 pages reachable
""" + """
Sitemap sites (A = http://sitemap.crawl.test:PORT, B = http://sitemap-big.crawl.test:PORT;
other.crawl.test is another host, out of scope for a crawl seeded on these):
sitemap  /robots.txt  User-agent: * / Disallow: /private/ / Sitemap: A/sitemap_index.xml /
                      Sitemap: A/sitemap.txt / Sitemap: A/broken.xml /
                      Sitemap: http://other.crawl.test:PORT/sitemap.xml (out of scope)
         /            links /linked-1.html /linked-2.html only (every page below is a leaf)
         /sitemap_index.xml  application/xml <sitemapindex> (default xmlns, <?xml?>, a comment):
                      A/sitemap1.xml (lastmod 2024-01-01), A/sitemap2.xml.gz, A/sitemap3.xml,
                      A/sitemap.txt (also in robots.txt), A/private/sitemap-hidden.xml (robots.txt
                      disallows it), http://other.crawl.test:PORT/sitemap-other.xml (out of scope)
         /sitemap1.xml  application/xml <urlset>, entries in order: A/only-sitemap-1.html (lastmod
                      2024-02-03, a changefreq), "  A/linked-1.html  " (whitespace; also linked from /),
                      A/q?x=1&amp;y=2 (-> /q?x=1&y=2), <![CDATA[A/cdata.html]]>, A/private/secret.html
                      (robots.txt disallows it), A/a/a/a/a/trap.html (trap guard: repeated segments),
                      http://other.crawl.test:PORT/x.html (out of scope), A/only-sitemap-1b.html (its
                      <image:image><image:loc>A/img/never.jpg</image:loc> is not an entry)
         /sitemap2.xml.gz  application/x-gzip, no Content-Encoding (gzip'd <urlset>, reaches the client
                      still compressed): A/only-sitemap-2.html, A/linked-2.html (also linked from /)
         /sitemap3.xml  application/xml with Content-Encoding: gzip (always; curl decodes it), prefixed
                      tags <sm:urlset xmlns:sm=...><sm:url><sm:loc>: A/only-sitemap-3.html,
                      A/only&#45;sitemap&#x2D;3b.html (-> A/only-sitemap-3b.html)
         /sitemap.txt   text/plain: A/only-text.html, a blank line, A/linked-1.html, "not a url"
                      (skipped), http://other.crawl.test:PORT/y.html (out of scope); no final newline
         /broken.xml    application/xml, malformed: <url> A/before-break.html, then <url> A/broken-entry.html
                      whose end tag breaks ("</url" then "<<garbage>>"), then <url> A/after-break.html.
                      The reader stops at the break (malformed): only A/before-break.html is an entry.
         /private/sitemap-hidden.xml  <urlset>: A/hidden.html (reachable only if robots.txt were ignored)
         leaves (200 tiny HTML): /linked-1.html /linked-2.html /only-sitemap-1.html /only-sitemap-1b.html
                      /only-sitemap-2.html /only-sitemap-3.html /only-sitemap-3b.html /only-text.html
                      /cdata.html /q (any query) /before-break.html /broken-entry.html /after-break.html
                      /hidden.html /private/secret.html /a/a/a/a/trap.html /img/never.jpg; others 404
         Crawl of A/ (scope host), sitemaps on (default): requests on sitemap.crawl.test exactly
                      /robots.txt / /linked-1.html /linked-2.html /sitemap_index.xml /sitemap.txt
                      /broken.xml /sitemap1.xml /sitemap2.xml.gz /sitemap3.xml /only-sitemap-1.html
                      /q?x=1&y=2 /cdata.html /only-sitemap-1b.html /only-sitemap-2.html
                      /only-sitemap-3.html /only-sitemap-3b.html /only-text.html /before-break.html
                      (19; each once), none on other.crawl.test. Not requested: /private/sitemap-hidden.xml
                      and /private/secret.html (robots_denied records), /a/a/a/a/trap.html (guard, no
                      record), /img/never.jpg, /broken-entry.html, /after-break.html, /hidden.html.
                      Depth (proposed): sitemaps 0 (robots.txt's and the index's children alike),
                      their pages 1; so with --max-depth 0 exactly /robots.txt / /sitemap_index.xml
                      /sitemap.txt /broken.xml /sitemap1.xml /sitemap2.xml.gz /sitemap3.xml.
         With --no-sitemaps: exactly /robots.txt / /linked-1.html /linked-2.html.
         --sitemap A/sitemap2.xml.gz --no-sitemaps, no seed: exactly /robots.txt /sitemap2.xml.gz
                      /only-sitemap-2.html /linked-2.html.
sitemap-big  /robots.txt  User-agent: * / Disallow: (nothing) / Sitemap: B/big.xml / Sitemap: B/bomb.xml.gz
         /            no links
         /big.xml     application/xml <urlset> of 50,010 entries B/p/0.html ... B/p/50009.html, made as
                      it is sent (chunked, 1000 entries a chunk; about 3.4 MB)
         /bomb.xml.gz application/x-gzip, 60 KiB that inflate to 60 MiB (concatenated gzip members):
                      <urlset> with B/bomb-1.html and B/bomb-2.html, then 60 MiB of whitespace, then
                      B/bomb-after.html (beyond the 50 MiB limit: never an entry) and </urlset>
         /p/N.html (N < 50010), /bomb-1.html /bomb-2.html /bomb-after.html: 200 tiny HTML; others 404
         Crawl of B/, sitemaps on: exactly /robots.txt / /big.xml /bomb.xml.gz /p/0.html ... /p/49999.html
                      /bomb-1.html /bomb-2.html (50,006 requests); /big.xml is truncated at 50,000
                      entries (max_entries), /bomb.xml.gz at 52,428,800 bytes (max_bytes).
         With --no-sitemaps: exactly /robots.txt /.
"""


ROUTES = """\
/                         200 text/html, <title>spate fixture</title>
/status/NNN               status NNN (200..599) with a small body (none for 204/304 or HEAD)
/page?title=T&size=N&ctype=CT   text/html (or CT) with <title>T</title> (raw), N bytes in all
/redirect?to=URL&code=C   C (301|302|303|307|308, default 302) to URL (absolute or relative)
/redirect-chain/N?code=C  N hops (/redirect-chain/N-1 ... /redirect-chain/0), then 200
/loop/a, /loop/b          302 to each other, forever
/slow-headers?ms=N        sleep N ms, then 200
/slow-body?ms=N&chunks=K&size=B   Content-Length K*B; K chunks of B bytes (default 16), N ms between
/reset-mid-body?ms=N      Content-Length 100000, 1000 bytes, wait N ms (default 50), then RST
/chunked?n=K              Transfer-Encoding: chunked, K chunks
/gzip?size=N&force=1      gzip of N bytes of text when Accept-Encoding allows it (or force=1)
/deflate?size=N&force=1   the same with Content-Encoding: deflate (zlib stream)
/gzip-bomb?mb=N&enc=gzip|deflate  a compressed body that decodes to N MiB of zeros (always sent)
/bad-gzip                 Content-Encoding: gzip with a body that is not gzip
/big?bytes=N              N bytes, application/octet-stream
/endless?ms=N             chunked, 16 KiB chunks (N ms apart), until the client goes away
/retry-after?key=K&fail=N&after=S&code=C&date=1   first N requests for key K: C (default 503)
                          with Retry-After: S (date=1: as an HTTP date S s ahead), then 200
/headers                  the request headers as JSON
/echo                     method, target, path, query, headers and body as JSON (any method)
/response-headers?K=V...  200 with each K: V added as a response header
/binary?size=N            application/octet-stream, bytes 0..255 repeated (default 256)
/html-entities            a title full of entities, newlines and extra spaces
/no-length                200 without Content-Length, body ends at connection close
/empty-reply              close the connection without a reply
/bad-response             a reply that is not HTTP, then close
/__hold?ms=N              200 after N ms (counted, for measuring concurrency)
/__stats                  the counters as JSON (not counted)
/__reset                  (POST or GET) zero the counters and clear the crawl log (not counted)
/__crawllog               the crawl request log as JSON (not counted; see below)
""" + CRAWL_ROUTES


def log(message):
    if VERBOSE:
        sys.stderr.write("http_fixture: %s\n" % message)
        sys.stderr.flush()


# ---------------------------------------------------------------------------------------
# Statistics


def _new_counters():
    return {
        "connections_open": 0,
        "connections_peak": 0,
        "connections_total": 0,
        "requests_active": 0,
        "requests_peak": 0,
        "requests_total": 0,
    }


class Stats:
    """All counters, behind one lock."""

    def __init__(self, listener_names):
        self.lock = threading.Lock()
        self.listener_names = list(listener_names)
        self.generation = 0
        self._zero()

    def _zero(self):
        self.listeners = {name: _new_counters() for name in self.listener_names}
        self.total = _new_counters()
        self.hosts = {}
        self.paths = {}
        self.retry_keys = {}
        self.tls_handshake_failures = 0

    def reset(self):
        with self.lock:
            self._zero()
            self.generation += 1

    def _groups(self, listener, host):
        host_counters = self.hosts.get(host)
        if host_counters is None:
            host_counters = self.hosts[host] = _new_counters()
        return (self.listeners[listener], self.total, host_counters)

    def request_started(self, conn, host, path):
        """Counts a request (and its connection, if not yet counted in this generation).
        Returns a token for request_finished."""
        with self.lock:
            gen = self.generation
            if conn.counted_generation != gen:
                conn.counted_generation = gen
                conn.counted_host = host
                for c in self._groups(conn.listener, host):
                    c["connections_open"] += 1
                    c["connections_total"] += 1
                    c["connections_peak"] = max(c["connections_peak"], c["connections_open"])
            for c in self._groups(conn.listener, host):
                c["requests_active"] += 1
                c["requests_total"] += 1
                c["requests_peak"] = max(c["requests_peak"], c["requests_active"])
            self.paths[path] = self.paths.get(path, 0) + 1
            return (gen, conn.listener, host)

    def request_finished(self, token):
        gen, listener, host = token
        with self.lock:
            if gen != self.generation:
                return
            for c in self._groups(listener, host):
                c["requests_active"] -= 1

    def connection_closed(self, conn):
        with self.lock:
            if conn.counted_generation != self.generation:
                return
            conn.counted_generation = -1
            for c in self._groups(conn.listener, conn.counted_host):
                c["connections_open"] -= 1

    def retry_hit(self, key):
        with self.lock:
            n = self.retry_keys.get(key, 0) + 1
            self.retry_keys[key] = n
            return n

    def handshake_failed(self):
        with self.lock:
            self.tls_handshake_failures += 1

    def snapshot(self):
        with self.lock:
            return {
                "generation": self.generation,
                "total": dict(self.total),
                "listeners": {k: dict(v) for k, v in self.listeners.items()},
                "hosts": {k: dict(v) for k, v in self.hosts.items()},
                "paths": dict(self.paths),
                "retry_keys": dict(self.retry_keys),
                "tls_handshake_failures": self.tls_handshake_failures,
            }


STATS = None  # set in main()

# Compressed bomb bodies, by (encoding, MiB).
_BOMBS = {}
_BOMBS_LOCK = threading.Lock()


def bomb_body(encoding, mib):
    key = (encoding, mib)
    with _BOMBS_LOCK:
        body = _BOMBS.get(key)
        if body is None:
            if encoding == "deflate":
                comp = zlib.compressobj(9, zlib.DEFLATED, 15)
            else:
                comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip wrapper
            block = bytes(1 << 20)
            parts = [comp.compress(block) for _ in range(mib)]
            parts.append(comp.flush())
            body = _BOMBS[key] = b"".join(parts)
        return body


TEXT_BLOCK = (
    b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    b"incididunt ut labore et dolore magna aliqua. 0123456789\n"
) * 512


def text_bytes(n):
    out = bytearray()
    while len(out) < n:
        out += TEXT_BLOCK[: n - len(out)]
    return bytes(out)


def accepts(header_value, coding):
    """True when an Accept-Encoding value allows `coding` (q-values honoured)."""
    if not header_value:
        return False
    star = None
    for item in header_value.split(","):
        parts = [p.strip() for p in item.split(";")]
        name = parts[0].lower()
        q = 1.0
        for p in parts[1:]:
            if p.lower().startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        if name == coding or (coding == "gzip" and name == "x-gzip"):
            return q > 0
        if name == "*":
            star = q > 0
    return bool(star)


# ---------------------------------------------------------------------------------------
# Servers


class ConnState:
    """Per-connection bookkeeping for the statistics."""

    __slots__ = ("listener", "counted_generation", "counted_host")

    def __init__(self, listener):
        self.listener = listener
        self.counted_generation = -1
        self.counted_host = ""


class FixtureServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True
    address_family = socket.AF_INET
    listener_name = "http4"
    tls_context = None

    def server_bind(self):
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        # Plain TCPServer.server_bind: HTTPServer's version does a reverse lookup
        # (getfqdn) that we do not want.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "localhost"
        self.server_port = self.server_address[1]

    def finish_request(self, request, client_address):
        # Runs in the per-connection thread, so a slow TLS handshake holds up nobody.
        if self.tls_context is not None:
            try:
                request.settimeout(10)
                request = self.tls_context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError) as e:
                STATS.handshake_failed()
                log("TLS handshake failed from %s: %s" % (client_address, e))
                return
            try:
                self.RequestHandlerClass(request, client_address, self)
            finally:
                try:
                    request.close()
                except OSError:
                    pass
        else:
            self.RequestHandlerClass(request, client_address, self)

    def handle_error(self, request, client_address):
        if VERBOSE:
            super().handle_error(request, client_address)


class FixtureServer6(FixtureServer):
    address_family = socket.AF_INET6


class Abort(Exception):
    """The handler already dealt with the connection (closed or reset it)."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "spate-fixture/1"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections and stuck writes end eventually

    # -- plumbing ------------------------------------------------------------------------

    def setup(self):
        super().setup()
        self.conn_state = ConnState(self.server.listener_name)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        STATS.connection_closed(self.conn_state)

    def handle(self):
        try:
            super().handle()
        except (OSError, ssl.SSLError, Abort) as e:
            # Client went away, reset, timed out, or we reset it on purpose.
            log("connection ended: %r" % (e,))
            self.close_connection = True

    def log_message(self, format, *args):
        log("%s %s" % (self.address_string(), format % args))

    def __getattr__(self, name):
        # Any method (GET, POST, PUT, DELETE, PATCH, OPTIONS, custom) goes to dispatch.
        if name.startswith("do_") and name != "do_CONNECT":
            return self.dispatch
        raise AttributeError(name)

    def read_request_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            body = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionResetError("eof in chunked request body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until an empty line
                    while True:
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                if len(body) + size > MAX_REQUEST_BODY:
                    raise ConnectionResetError("request body too large")
                body += self.rfile.read(size)
                self.rfile.readline(3)
            return bytes(body)
        length = self.headers.get("Content-Length")
        if length:
            n = int(length)
            if n < 0 or n > MAX_REQUEST_BODY:
                raise ConnectionResetError("bad request Content-Length")
            data = self.rfile.read(n)
            if len(data) != n:
                raise ConnectionResetError("eof in request body")
            return data
        return b""

    def wants_close(self):
        return self.close_connection

    def connection_header(self):
        return "close" if self.close_connection else "keep-alive"

    def send_all(self, data):
        self.last_write_at = time.monotonic()
        self.wfile.write(data)

    def head_bytes(self, status, headers):
        self.last_status = status
        reason = self.responses.get(status, ("Status",))[0]
        lines = ["HTTP/1.1 %d %s" % (status, reason)]
        names = {k.lower() for k, _ in headers}
        if "date" not in names:
            lines.append("Date: " + self.date_time_string())
        if "server" not in names:
            lines.append("Server: " + self.server_version)
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        if "connection" not in names:
            lines.append("Connection: " + self.connection_header())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")

    def respond(self, status, body=b"", ctype="text/plain; charset=utf-8", headers=()):
        """One complete response with Content-Length, sent in a single write."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        no_body = status in (204, 304) or 100 <= status < 200
        h = []
        if ctype is not None and not no_body:
            h.append(("Content-Type", ctype))
        h.extend(headers)
        if not no_body:
            h.append(("Content-Length", str(len(body))))
        data = self.head_bytes(status, h)
        if not no_body and self.command != "HEAD":
            data += body
        self.send_all(data)

    def respond_json(self, obj, status=200, headers=()):
        self.respond(status, json.dumps(obj) + "\n", "application/json", headers)

    def start_chunked(self, status=200, ctype="text/plain; charset=utf-8", headers=()):
        h = [("Content-Type", ctype), ("Transfer-Encoding", "chunked")]
        h.extend(headers)
        self.send_all(self.head_bytes(status, h))

    def send_chunk(self, data):
        if self.command == "HEAD":
            return
        if data:
            self.send_all(b"%x\r\n%s\r\n" % (len(data), data))

    def end_chunked(self):
        if self.command != "HEAD":
            self.send_all(b"0\r\n\r\n")

    def reset_connection(self):
        """Closes the socket with an RST (SO_LINGER {1, 0}), now."""
        self.close_connection = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        # detach() gives up the fd even though rfile still refers to the socket object, so
        # close() really closes it (and later shutdown/close calls fail harmlessly).
        try:
            fd = sock.detach()
            os.close(fd)
        except OSError:
            pass
        raise Abort("reset on purpose")

    def close_now(self):
        """Closes the connection (FIN), now, without a reply."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise Abort("closed on purpose")

    # -- dispatch ------------------------------------------------------------------------

    def dispatch(self):
        target = urlsplit(self.path)
        path = target.path or "/"
        self.query = parse_qs(target.query, keep_blank_values=True)
        try:
            self.request_body = self.read_request_body()
        except ValueError:
            self.close_connection = True
            self.respond(400, "bad request body framing\n")
            return
        if path == "/__stats":
            self.respond_json(STATS.snapshot())
            return
        if path == "/__reset":
            STATS.reset()
            CRAWL_LOG.reset()
            self.respond_json({"reset": True})
            return
        if path == "/__crawllog":
            self.respond_json(CRAWL_LOG.snapshot())
            return
        host = (self.headers.get("Host") or "").lower()
        name = host_without_port(host)
        token = STATS.request_started(self.conn_state, host, path)
        try:
            if name.endswith(CRAWL_SUFFIX) and len(name) > len(CRAWL_SUFFIX):
                site = name[: -len(CRAWL_SUFFIX)].split(".")[0]
                entry = CRAWL_LOG.start(name, self.path, self.command)
                self.last_status = None
                self.last_write_at = None
                try:
                    CrawlSite(self, site, host, path).serve()
                finally:
                    CRAWL_LOG.finish(entry, self.last_status, self.last_write_at)
            else:
                self.route(path)
        finally:
            STATS.request_finished(token)

    def q(self, name, default=None):
        values = self.query.get(name)
        return values[0] if values else default

    def qint(self, name, default, lo=0, hi=1 << 62):
        try:
            return max(lo, min(hi, int(self.q(name, default))))
        except (TypeError, ValueError):
            return default

    def route(self, path):
        parts = path.split("/")
        head = parts[1] if len(parts) > 1 else ""
        handler = getattr(self, "r_" + head.replace("-", "_"), None) if head else self.r_index
        if handler is None:
            self.respond(404, "not found: %s\n" % path)
            return
        handler(parts[2:])

    # -- routes --------------------------------------------------------------------------

    def r_index(self, rest):
        body = "<!doctype html><html><head><title>spate fixture</title></head><body><pre>\n%s</pre></body></html>\n"
        self.respond(200, body % ROUTES.replace("&", "&amp;").replace("<", "&lt;"), "text/html; charset=utf-8")

    def r_status(self, rest):
        try:
            code = int(rest[0])
        except (IndexError, ValueError):
            code = 0
        if not 200 <= code <= 599:
            self.respond(400, "status must be 200..599\n")
            return
        self.respond(code, "status %d\n" % code)

    def r_page(self, rest):
        title = self.q("title", "")
        size = self.qint("size", 0)
        ctype = self.q("ctype", "text/html; charset=utf-8")
        start = "<!doctype html>\n<html><head><title>%s</title></head><body>\n" % title
        end = "</body></html>\n"
        body = (start + end).encode("utf-8")
        pad = size - len(body)
        if pad > 0:
            body = start.encode("utf-8") + text_bytes(pad) + end.encode("utf-8")
        self.respond(200, body, ctype)

    def _redirect(self, code, location):
        self.respond(code, "redirect to %s\n" % location, headers=[("Location", location)])

    def r_redirect(self, rest):
        to = self.q("to")
        if to is None:
            self.respond(400, "missing to=\n")
            return
        code = self.qint("code", 302)
        if code not in (301, 302, 303, 307, 308):
            self.respond(400, "code must be 301|302|303|307|308\n")
            return
        self._redirect(code, to)

    def r_redirect_chain(self, rest):
        try:
            n = int(rest[0])
        except (IndexError, ValueError):
            self.respond(400, "usage: /redirect-chain/N\n")
            return
        if n <= 0:
            self.respond(200, "end of chain\n")
            return
        code = self.qint("code", 302)
        suffix = ("?code=%d" % code) if self.q("code") is not None else ""
        self._redirect(code, "/redirect-chain/%d%s" % (n - 1, suffix))

    def r_loop(self, rest):
        other = {"a": "/loop/b", "b": "/loop/a"}.get(rest[0] if rest else "")
        if other is None:
            self.respond(404, "only /loop/a and /loop/b\n")
            return
        self._redirect(302, other)

    def r_slow_headers(self, rest):
        time.sleep(self.qint("ms", 1000) / 1000.0)
        self.respond(200, "slow headers\n")

    def r_slow_body(self, rest):
        ms = self.qint("ms", 100)
        chunks = self.qint("chunks", 10)
        size = self.qint("size", 16, lo=1)
        self.send_all(self.head_bytes(200, [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(chunks * size)),
        ]))
        if self.command == "HEAD":
            return
        piece = text_bytes(size)
        for i in range(chunks):
            if i:
                time.sleep(ms / 1000.0)
            self.send_all(piece)

    def r_reset_mid_body(self, rest):
        self.send_all(self.head_bytes(200, [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", "100000"),
        ]) + text_bytes(1000))
        # Let the bytes leave the send buffer: an RST discards what is still queued.
        time.sleep(self.qint("ms", 50) / 1000.0)
        self.reset_connection()

    def r_chunked(self, rest):
        n = self.qint("n", 5)
        self.start_chunked()
        for i in range(n):
            self.send_chunk(b"chunk %d\n" % i)
        self.end_chunked()

    def _compressed(self, coding):
        size = self.qint("size", 1000)
        data = text_bytes(size)
        allowed = accepts(self.headers.get("Accept-Encoding", ""), coding) or self.q("force") == "1"
        if not allowed:
            self.respond(200, data, headers=[("Vary", "Accept-Encoding")])
            return
        if coding == "gzip":
            body = gzip.compress(data, mtime=0)
        else:
            body = zlib.compress(data)
        self.respond(200, body, headers=[("Content-Encoding", coding), ("Vary", "Accept-Encoding")])

    def r_gzip(self, rest):
        self._compressed("gzip")

    def r_deflate(self, rest):
        self._compressed("deflate")

    def r_gzip_bomb(self, rest):
        mib = self.qint("mb", 100, lo=0, hi=16384)
        enc = "deflate" if self.q("enc") == "deflate" else "gzip"
        self.respond(200, bomb_body(enc, mib), "text/html; charset=utf-8", [("Content-Encoding", enc)])

    def r_bad_gzip(self, rest):
        self.respond(200, b"this is not gzip at all " * 20, headers=[("Content-Encoding", "gzip")])

    def r_big(self, rest):
        n = self.qint("bytes", 1 << 20)
        self.send_all(self.head_bytes(200, [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(n)),
        ]))
        if self.command == "HEAD":
            return
        block = TEXT_BLOCK * 2  # 64 KiB-ish
        view = memoryview(block)
        left = n
        while left > 0:
            k = min(left, len(block))
            self.send_all(view[:k])
            left -= k

    def r_endless(self, rest):
        ms = self.qint("ms", 0)
        self.start_chunked(ctype="application/octet-stream")
        if self.command == "HEAD":
            self.end_chunked()
            return
        block = text_bytes(16384)
        while True:
            self.send_chunk(block)
            if ms:
                time.sleep(ms / 1000.0)

    def r_retry_after(self, rest):
        key = self.q("key", "")
        fail = self.qint("fail", 1)
        after = self.q("after", "1")
        code = self.qint("code", 503, lo=100, hi=599)
        n = STATS.retry_hit(key)
        if n <= fail:
            if self.q("date") == "1":
                try:
                    seconds = float(after)
                except ValueError:
                    seconds = 1.0
                value = email.utils.formatdate(time.time() + seconds, usegmt=True)
            else:
                value = after
            self.respond(code, "attempt %d of key %s: %d\n" % (n, key, code), headers=[("Retry-After", value)])
        else:
            self.respond(200, "attempt %d of key %s: ok\n" % (n, key))

    def _header_info(self):
        raw = [[k, v] for k, v in self.headers.items()]
        merged = {}
        for k, v in raw:
            k = k.lower()
            merged[k] = v if k not in merged else merged[k] + ", " + v
        return raw, merged

    def r_headers(self, rest):
        raw, merged = self._header_info()
        self.respond_json({"headers": merged, "raw_headers": raw})

    def r_echo(self, rest):
        raw, merged = self._header_info()
        target = urlsplit(self.path)
        self.respond_json({
            "method": self.command,
            "target": self.path,
            "path": target.path,
            "query": target.query,
            "version": self.request_version,
            "headers": merged,
            "raw_headers": raw,
            "body": self.request_body.decode("utf-8", "replace"),
            "body_length": len(self.request_body),
        })

    def r_response_headers(self, rest):
        extra = []
        for k, values in self.query.items():
            for v in values:
                extra.append((k, v))
        self.respond(200, json.dumps(extra) + "\n", "application/json", headers=extra)

    def r_binary(self, rest):
        size = self.qint("size", 256)
        data = (bytes(range(256)) * (size // 256 + 1))[:size]
        self.respond(200, data, "application/octet-stream")

    def r_html_entities(self, rest):
        body = "<!doctype html>\n<html><head>\n<title>%s</title>\n</head><body>entities</body></html>\n" % ENTITY_TITLE_RAW
        self.respond(200, body, "text/html; charset=utf-8")

    def r_no_length(self, rest):
        self.close_connection = True
        self.send_all(self.head_bytes(200, [("Content-Type", "text/plain; charset=utf-8")]))
        if self.command != "HEAD":
            self.send_all(text_bytes(self.qint("size", 1000)))

    def r_empty_reply(self, rest):
        self.close_now()

    def r_bad_response(self, rest):
        self.send_all(b"SPDY/9 what is this\r\n\x00\x01\x02 garbage\r\n\r\n")
        self.close_now()

    def r___hold(self, rest):
        time.sleep(self.qint("ms", 100) / 1000.0)
        self.respond(200, "held\n")


# ---------------------------------------------------------------------------------------
# Crawl sites (Host NAME.crawl.test): see CRAWL_ROUTES


class CrawlLog:
    """Every counted request to a .crawl.test host, in start order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []

    def start(self, host, path, method):
        entry = {
            "seq": 0,
            "host": host,
            "path": path,
            "method": method,
            "start": round(time.monotonic() * 1000.0, 3),
            "end": None,
            "status": None,
        }
        with self.lock:
            entry["seq"] = len(self.entries)
            self.entries.append(entry)
        return entry

    def finish(self, entry, status, last_write_at=None):
        """`end` is when the last write of the response began (before the client can have
        seen all of it), or now when nothing was written."""
        end = last_write_at if last_write_at is not None else time.monotonic()
        with self.lock:
            entry["end"] = round(end * 1000.0, 3)
            entry["status"] = status

    def reset(self):
        with self.lock:
            # Entries of requests still running are dropped; their finish() is harmless.
            self.entries = []

    def snapshot(self):
        with self.lock:
            return {"requests": [dict(e) for e in self.entries]}


CRAWL_LOG = CrawlLog()
CRAWL_SUFFIX = ".crawl.test"


def host_without_port(host):
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def html_page(title, body="", head=""):
    return (
        "<!doctype html>\n<html><head><title>%s</title>%s</head><body>\n%s</body></html>\n"
        % (html.escape(title), head, body)
    )


def link_list(hrefs):
    return "".join('<a href="%s">%s</a>\n' % (h, html.escape(h)) for h in hrefs)


ROBOTS_RULES_TXT = """\
# spate crawl fixture: robots-rules
User-agent: *
Disallow: /

User-agent: otherbot
User-agent: Spate
Disallow: /private/
Allow: /private/open
Disallow: /*.pdf$
Disallow: /tmp
Allow: /tmp/ok
Disallow: /tie
Allow: /tie
Disallow: /*secret
Disallow: /shop/
Allow: /shop/*.html$

Sitemap: http://%s/sitemap.xml
"""

ROBOTS_RULES_LINKS = [
    "/public.html", "/private/secret.html", "/private/open.html", "/doc.pdf", "/doc.pdf?x=1",
    "/tmp/file.html", "/tmp/ok/file.html", "/tmpfile.html", "/tie.html", "/a/b/secret-x.html",
    "/shop/item.html", "/shop/item.php",
]

BASIC_LEAVES = {
    "/a.html", "/b.html", "/c.html", "/d.html", "/e.html", "/q", "/f.html", "/g.html",
    "/base/h.html", "/i.html", "/j.html", "/k.html", "/l.html", "/m.html", "/nofollow.html",
    "/never.html",
}

BROKEN_HTML = """\
<html><head><title>broken page</title>
<body>
<div><p>an unclosed paragraph <b>bold <i>both
<a href=/i.html class=plain>i, unquoted</a>
<p>a stray < here, and 1 < 2 <- not tags; <> nothing either
<ul><li>one<li>two
<a title=x href='/j.html'>j, single quotes
<table><tr><td>cell<td>cell
<a href="/i.html"""


class CrawlSite:
    """Serves one request to a .crawl.test host. `handler` is the Handler."""

    def __init__(self, handler, site, authority, path):
        self.h = handler
        self.site = site
        self.authority = authority  # Host header as sent (name:port), for absolute links
        self.path = path

    def page(self, title, body="", head="", headers=()):
        self.h.respond(200, html_page(title, body, head), "text/html; charset=utf-8", headers)

    def leaf(self):
        self.page("%s %s" % (self.site, self.h.path), "<p>leaf</p>\n")

    def not_found(self):
        self.h.respond(404, "not found: %s on %s\n" % (self.h.path, self.site))

    def redirect(self, code, location):
        self.h.respond(code, "redirect to %s\n" % location, headers=[("Location", location)])

    def text(self, body, status=200):
        self.h.respond(status, body, "text/plain; charset=utf-8")

    def serve(self):
        name = "s_" + self.site.replace("-", "_")
        getattr(self, name, self.s_other)()

    # -- sites ---------------------------------------------------------------------------

    def s_other(self):
        if self.path == "/":
            self.page("%s home" % self.site, link_list(["x.html", "y.html"]))
        elif self.path in ("/x.html", "/y.html"):
            self.leaf()
        else:
            self.not_found()

    def s_basic(self):
        p, a = self.path, self.authority
        if p == "/":
            body = (
                '<a href="a.html">relative</a>\n'
                '<a href="/b.html">absolute path</a>\n'
                '<a href="http://%s/c.html">absolute URL</a>\n'
                '<a href="//%s/d.html">protocol-relative</a>\n'
                '<a href="e.html#frag">fragment one</a> <a href="e.html#other">fragment two</a>\n'
                '<a href="/q?a=1&amp;b=2">query a b</a> <a href="/q?b=2&a=1">query b a</a>\n'
                '<!-- <a href="/f.html">in a comment</a> -->\n'
                '<script>var s = \'<a href="/f.html">in a script</a>\'; document.write(s);</script>\n'
                '<a href="mailto:x@y">mail</a> <a href="javascript:void(0)">script</a>\n'
                '<a href="/nofollow.html" rel="nofollow">nofollow</a>\n'
                '<a href="/doc.txt">text</a>\n'
                '<a href="http://other.crawl.test:%s/x.html">other host</a>\n'
                '<a href="/redirect-in">redirect in</a> <a href="/redirect-out">redirect out</a>\n'
                '<a href="/sub/">sub</a> <a href="/broken.html">broken</a>\n'
                '<a href="/meta-nofollow.html">meta nofollow</a> <a href="/xrobots.html">x-robots</a>\n'
                '<a href="/refresh.html">refresh</a> <a href="/canon.html">canonical</a>\n'
            ) % (a, a, self.port())
            self.page("basic home", body)
        elif p == "/doc.txt":
            self.text('plain text, not HTML: <a href="/never.html">never</a> /never.html\n')
        elif p == "/redirect-in":
            self.redirect(301, "/g.html")
        elif p == "/redirect-out":
            self.redirect(302, "http://other.crawl.test:%s/y.html" % self.port())
        elif p == "/sub/":
            self.page("basic sub", '<a href="h.html">h</a>\n', '<base href="/base/">')
        elif p == "/broken.html":
            self.h.respond(200, BROKEN_HTML, "text/html; charset=utf-8")
        elif p == "/meta-nofollow.html":
            self.page("meta nofollow", '<a href="/k.html">k</a>\n', '<meta name="robots" content="nofollow">')
        elif p == "/xrobots.html":
            self.page("x-robots-tag", '<a href="/l.html">l</a>\n', headers=[("X-Robots-Tag", "nofollow")])
        elif p == "/refresh.html":
            self.page("refresh", "<p>moved</p>\n", '<meta http-equiv="refresh" content="0; url=/m.html">')
        elif p == "/canon.html":
            self.page("canonical", "<p>see a</p>\n", '<link rel="canonical" href="/a.html">')
        elif p in BASIC_LEAVES:
            self.leaf()
        else:
            self.not_found()

    def port(self):
        if ":" in self.authority and not self.authority.endswith("]"):
            return self.authority.rsplit(":", 1)[1]
        return str(self.h.server.server_port)

    def s_robots_rules(self):
        if self.path == "/robots.txt":
            self.text(ROBOTS_RULES_TXT % self.authority)
        elif self.path == "/sitemap.xml":
            self.not_found()
        elif self.path == "/":
            self.page("robots-rules home", link_list(ROBOTS_RULES_LINKS))
        else:
            self.leaf()

    def _robots_site(self, links, robots):
        if self.path == "/robots.txt":
            robots()
        elif self.path == "/":
            self.page("%s home" % self.site, link_list(links))
        else:
            self.leaf()

    def s_robots_404(self):
        self._robots_site(["/a.html", "/b.html"], self.not_found)

    def s_robots_500(self):
        self._robots_site(["/a.html"], lambda: self.text("robots.txt is broken\n", 500))

    def s_robots_slow(self):
        def slow():
            time.sleep(3)
            self.text("User-agent: *\nDisallow:\n")
        self._robots_site(["/a.html"], slow)

    def s_robots_redirect(self):
        if self.path == "/robots-2.txt":
            self.redirect(302, "/robots-final.txt")
        elif self.path == "/robots-final.txt":
            self.text("User-agent: *\nDisallow: /no/\n")
        else:
            self._robots_site(["/no/x.html", "/yes.html"], lambda: self.redirect(301, "/robots-2.txt"))

    def s_robots_toomany(self):
        p = self.path
        if p.startswith("/rr/") and p.endswith(".txt"):
            try:
                n = int(p[4:-4])
            except ValueError:
                n = -1
            if 1 <= n <= 5:
                self.redirect(301, "/rr/%d.txt" % (n + 1))
            elif n == 6:
                self.text("User-agent: *\nDisallow: /\n")
            else:
                self.not_found()
        else:
            self._robots_site(["/a.html"], lambda: self.redirect(301, "/rr/1.txt"))

    def s_robots_delay(self):
        self._robots_site(["/p1.html", "/p2.html", "/p3.html", "/p4.html"],
                          lambda: self.text("User-agent: *\nCrawl-delay: 1\n"))

    def s_calendar(self):
        p = self.path
        if p == "/":
            self.page("calendar home", link_list(["/cal/2024/01"]))
            return
        parts = p.split("/")
        if len(parts) == 4 and parts[1] == "cal" and parts[2].isdigit() and parts[3].isdigit():
            year, month = int(parts[2]), int(parts[3])
            if 1 <= month <= 12:
                ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
                self.page("calendar %04d-%02d" % (year, month), link_list(["/cal/%04d/%02d" % (ny, nm)]))
                return
        self.not_found()

    def s_session(self):
        if self.path == "/":
            self.page("session home", link_list(["/p?n=0&amp;sid=%s" % secrets.token_hex(8)]))
            return
        if self.path == "/p":
            try:
                n = int(self.h.q("n", ""))
            except ValueError:
                n = -1
            if 0 <= n <= 20:
                links = []
                if n < 20:
                    links.append("/p?n=%d&amp;sid=%s" % (n + 1, secrets.token_hex(8)))
                links.append("/p?n=%d&amp;sid=%s" % (n, secrets.token_hex(8)))
                self.page("session page %d" % n, link_list(links))
                return
        self.not_found()

    def s_repeat(self):
        p = self.path
        if p == "/":
            self.page("repeat home", link_list(["/r/"]))
            return
        if p.startswith("/r/") and p.endswith("/"):
            segments = [s for s in p[3:-1].split("/")] if p != "/r/" else []
            if all(s in ("a", "b") for s in segments):
                last = segments[-1] if segments else None
                nxt = "b" if last == "a" else "a"
                links = ["./%s/" % nxt]
                if last:
                    links.append("../%s/%s/" % (last, nxt))
                self.page("repeat %s" % p, link_list(links))
                return
        self.not_found()

    def s_farm(self):
        p = self.path
        if p == "/":
            self.page("farm home", link_list(["/farm/%d.html" % i for i in range(3000)]))
            return
        if p.startswith("/farm/") and p.endswith(".html") and p[6:-5].isdigit() and int(p[6:-5]) < 3000:
            self.leaf()
            return
        self.not_found()

    def s_slow(self):
        self.slow_leaves("slow home", 30, 0.2)

    def s_slower(self):
        self.slow_leaves("slower home", 10, 2)

    def slow_leaves(self, title, count, seconds):
        """/ links /s/0.html ... /s/(count-1).html; each of those answers after `seconds`."""
        p = self.path
        if p == "/":
            self.page(title, link_list(["/s/%d.html" % i for i in range(count)]))
        elif p.startswith("/s/") and p.endswith(".html") and p[3:-5].isdigit() and int(p[3:-5]) < count:
            time.sleep(seconds)
            self.leaf()
        else:
            self.not_found()

    def s_nofollow_seen(self):
        p = self.path
        if p == "/":
            self.page("nofollow-seen home", link_list(["/a.html", "/b.html", "/c.html"]))
        elif p == "/a.html":
            self.page("a", '<a href="/" rel="nofollow">home</a>\n<a href="/b.html" rel="nofollow">b</a>\n')
        elif p == "/c.html":
            self.page("c", link_list(["/", "/a.html"]), head='<meta name="robots" content="nofollow">\n')
        elif p == "/b.html":
            self.leaf()
        else:
            self.not_found()

    def s_ratelimited(self):
        p = self.path
        if p == "/":
            self.page("ratelimited home", link_list(["/p1.html", "/p2.html", "/p3.html"]))
        elif p == "/p1.html":
            n = STATS.retry_hit("crawl:%s:%s" % (self.authority, p))
            if n == 1:
                self.h.respond(429, "slow down\n", headers=[("Retry-After", "1")])
            else:
                self.leaf()
        elif p in ("/p2.html", "/p3.html"):
            self.leaf()
        else:
            self.not_found()

    @staticmethod
    def big_links(i):
        return [(i + 1) % 500, (7 * i + 3) % 500, (13 * i + 11) % 500, (31 * i + 7) % 500,
                (97 * i + 41) % 500, (i * i + 5) % 500]

    def s_big(self):
        p = self.path
        if p == "/":
            self.page("big home", link_list(["/n/000.html"]))
            return
        if p.startswith("/n/") and p.endswith(".html") and len(p) == 11 and p[3:6].isdigit():
            i = int(p[3:6])
            if i < 500:
                links = ["/n/%03d.html" % j for j in self.big_links(i)]
                self.page("big %03d" % i, link_list(links))
                return
        self.not_found()

    # -- sitemap sites (see CRAWL_ROUTES; bodies made by the sitemap_* functions below) ---

    def xml(self, body, headers=()):
        self.h.respond(200, body, "application/xml; charset=utf-8", headers)

    def s_sitemap(self):
        p, a = self.path, "http://" + self.authority
        other = "http://other.crawl.test:%s" % self.port()
        if p == "/robots.txt":
            self.text(sitemap_robots(a, other))
        elif p == "/":
            self.page("sitemap home", link_list(["/linked-1.html", "/linked-2.html"]))
        elif p == "/sitemap_index.xml":
            self.xml(sitemap_index(a, other))
        elif p == "/sitemap1.xml":
            self.xml(sitemap_one(a, other))
        elif p == "/sitemap2.xml.gz":
            self.h.respond(200, gzip.compress(sitemap_two(a).encode(), mtime=0), "application/x-gzip")
        elif p == "/sitemap3.xml":
            self.xml(gzip.compress(sitemap_three(a).encode(), mtime=0), [("Content-Encoding", "gzip")])
        elif p == "/sitemap.txt":
            self.text(sitemap_text(a, other))
        elif p == "/broken.xml":
            self.xml(sitemap_broken(a))
        elif p == "/private/sitemap-hidden.xml":
            self.xml(urlset([a + "/hidden.html"]))
        elif p in SITEMAP_LEAVES:
            self.leaf()
        else:
            self.not_found()

    def s_sitemap_big(self):
        p, b = self.path, "http://" + self.authority
        if p == "/robots.txt":
            self.text("User-agent: *\nDisallow:\n\nSitemap: %s/big.xml\nSitemap: %s/bomb.xml.gz\n" % (b, b))
        elif p == "/":
            self.page("sitemap-big home", "<p>no links</p>\n")
        elif p == "/big.xml":
            # Made as it is sent: the document is never whole in memory.
            self.h.start_chunked(ctype="application/xml; charset=utf-8")
            self.h.send_chunk(URLSET_OPEN.encode())
            for start in range(0, SITEMAP_BIG_ENTRIES, 1000):
                end = min(start + 1000, SITEMAP_BIG_ENTRIES)
                self.h.send_chunk("".join("<url><loc>%s/p/%d.html</loc></url>\n" % (b, i)
                                          for i in range(start, end)).encode())
            self.h.send_chunk(b"</urlset>\n")
            self.h.end_chunked()
        elif p == "/bomb.xml.gz":
            self.h.respond(200, sitemap_bomb(b), "application/x-gzip")
        elif p in ("/bomb-1.html", "/bomb-2.html", "/bomb-after.html"):
            self.leaf()
        elif (p.startswith("/p/") and p.endswith(".html") and p[3:-5].isdigit()
              and int(p[3:-5]) < SITEMAP_BIG_ENTRIES and str(int(p[3:-5])) == p[3:-5]):
            self.leaf()
        else:
            self.not_found()


# ---------------------------------------------------------------------------------------
# Sitemap sites: the documents (A: "http://sitemap.crawl.test:PORT", OTHER: the other host)

URLSET_OPEN = '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
SITEMAP_BIG_ENTRIES = 50010
SITEMAP_LEAVES = {
    "/linked-1.html", "/linked-2.html", "/only-sitemap-1.html", "/only-sitemap-1b.html",
    "/only-sitemap-2.html", "/only-sitemap-3.html", "/only-sitemap-3b.html", "/only-text.html",
    "/cdata.html", "/q", "/before-break.html", "/broken-entry.html", "/after-break.html",
    "/hidden.html", "/private/secret.html", "/a/a/a/a/trap.html", "/img/never.jpg",
}


def urlset(locs):
    return URLSET_OPEN + "".join("<url><loc>%s</loc></url>\n" % html.escape(u) for u in locs) + "</urlset>\n"


def sitemap_robots(a, other):
    return (
        "User-agent: *\nDisallow: /private/\n\n"
        "Sitemap: %s/sitemap_index.xml\nSitemap: %s/sitemap.txt\nSitemap: %s/broken.xml\n"
        "Sitemap: %s/sitemap.xml\n" % (a, a, a, other)
    )


def sitemap_index(a, other):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<!-- spate fixture: a sitemap index -->\n"
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        "  <sitemap><loc>%s/sitemap1.xml</loc><lastmod>2024-01-01</lastmod></sitemap>\n"
        "  <sitemap><loc>%s/sitemap2.xml.gz</loc></sitemap>\n"
        "  <sitemap><loc>%s/sitemap3.xml</loc></sitemap>\n"
        "  <sitemap><loc>%s/sitemap.txt</loc></sitemap>\n"
        "  <sitemap><loc>%s/private/sitemap-hidden.xml</loc></sitemap>\n"
        "  <sitemap><loc>%s/sitemap-other.xml</loc></sitemap>\n"
        "</sitemapindex>\n" % (a, a, a, a, a, other)
    )


def sitemap_one(a, other):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"\n'
        '        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">\n'
        "  <url><loc>%s/only-sitemap-1.html</loc><lastmod>2024-02-03</lastmod><changefreq>daily</changefreq></url>\n"
        "  <url><loc>\n    %s/linked-1.html  \n  </loc></url>\n"
        "  <url><loc>%s/q?x=1&amp;y=2</loc></url>\n"
        "  <url><loc><![CDATA[%s/cdata.html]]></loc></url>\n"
        "  <url><loc>%s/private/secret.html</loc></url>\n"
        "  <url><loc>%s/a/a/a/a/trap.html</loc></url>\n"
        "  <url><loc>%s/x.html</loc></url>\n"
        "  <url><loc>%s/only-sitemap-1b.html</loc>\n"
        "    <image:image><image:loc>%s/img/never.jpg</image:loc></image:image></url>\n"
        "</urlset>\n" % (a, a, a, a, a, a, other, a, a)
    )


def sitemap_two(a):
    return urlset([a + "/only-sitemap-2.html", a + "/linked-2.html"])


def sitemap_three(a):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<sm:urlset xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        "  <sm:url><sm:loc>%s/only-sitemap-3.html</sm:loc></sm:url>\n"
        "  <sm:url><sm:loc>%s/only&#45;sitemap&#x2D;3b.html</sm:loc></sm:url>\n"
        "</sm:urlset>\n" % (a, a)
    )


def sitemap_text(a, other):
    return "%s/only-text.html\n\n%s/linked-1.html\nnot a url\n%s/y.html" % (a, a, other)


def sitemap_broken(a):
    return (
        URLSET_OPEN
        + "<url><loc>%s/before-break.html</loc></url>\n" % a
        + "<url><loc>%s/broken-entry.html</loc></url\n<<garbage>>\n" % a
        + "<url><loc>%s/after-break.html</loc></url>\n</urlset>\n" % a
    )


SITEMAP_FILLER_MEMBER = None


def sitemap_bomb(b):
    """Concatenated gzip members: the head with two entries, 60 x 1 MiB of spaces (each one
    small member), then a last entry beyond the 50 MiB limit and the end of the urlset."""
    global SITEMAP_FILLER_MEMBER
    if SITEMAP_FILLER_MEMBER is None:
        SITEMAP_FILLER_MEMBER = gzip.compress(b" " * (1 << 20), compresslevel=9, mtime=0)
    head = URLSET_OPEN + "<url><loc>%s/bomb-1.html</loc></url>\n<url><loc>%s/bomb-2.html</loc></url>\n" % (b, b)
    tail = "<url><loc>%s/bomb-after.html</loc></url>\n</urlset>\n" % b
    return (gzip.compress(head.encode(), mtime=0) + SITEMAP_FILLER_MEMBER * 60
            + gzip.compress(tail.encode(), mtime=0))


# ---------------------------------------------------------------------------------------
# Start-up


def make_certificates(directory):
    """A throw-away CA and a server certificate for localhost, 127.0.0.1, ::1 and
    *.fixture.test, made with the openssl tool. Returns (ca, cert, key) paths or None."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    ca_key = os.path.join(directory, "ca.key")
    ca = os.path.join(directory, "ca.pem")
    key = os.path.join(directory, "server.key")
    csr = os.path.join(directory, "server.csr")
    cert = os.path.join(directory, "server.pem")
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w") as f:
        f.write(
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid\n"
            "subjectAltName=DNS:localhost,DNS:*.fixture.test,IP:127.0.0.1,IP:::1\n"
        )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    commands = [
        [openssl, "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "30",
         "-subj", "/CN=spate fixture test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        [openssl, "req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        [openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-set_serial",
         str(int(time.time() * 1000)), "-out", cert, "-days", "30", "-sha256", "-extfile", ext],
    ]
    for cmd in commands:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            log("openssl failed: %s\n%s" % (" ".join(cmd), r.stderr.decode(errors="replace")))
            return None
    return ca, cert, key


def tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def make_server(cls, host, port, name, ctx=None):
    server = cls((host, port), Handler)
    server.listener_name = name
    server.tls_context = ctx
    return server


def bind_pair(name4, name6, ctx=None):
    """127.0.0.1 and ::1 listeners, on the same port when possible. The ::1 one is None
    when IPv6 loopback is unavailable."""
    last = None
    for _ in range(50):
        s4 = make_server(FixtureServer, "127.0.0.1", 0, name4, ctx)
        port = s4.server_address[1]
        try:
            s6 = make_server(FixtureServer6, "::1", port, name6, ctx)
            return s4, s6
        except OSError as e:
            last = e
            s4.server_close()
    log("no common port for 127.0.0.1 and ::1 (%s); separate ports" % (last,))
    s4 = make_server(FixtureServer, "127.0.0.1", 0, name4, ctx)
    try:
        s6 = make_server(FixtureServer6, "::1", 0, name6, ctx)
    except OSError as e:
        log("no ::1 listener: %s" % (e,))
        s6 = None
    return s4, s6


def main():
    global VERBOSE, STATS
    parser = argparse.ArgumentParser(description="spate fetch test fixture (loopback only)")
    parser.add_argument("--dir", help="directory for the CA and certificates (default: a temp dir)")
    parser.add_argument("--no-tls", action="store_true", help="no HTTPS listeners")
    parser.add_argument("--watch-stdin", action="store_true", help="exit when stdin reaches end of file")
    parser.add_argument("--verbose", action="store_true", help="log to stderr")
    args = parser.parse_args()
    VERBOSE = args.verbose

    # A parent that started us from a thread with signals blocked passes its mask on.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    signal.signal(signal.SIGINT, stop)

    own_dir = None
    directory = args.dir
    if directory is None:
        directory = own_dir = tempfile.mkdtemp(prefix="spate-http-fixture-")
    else:
        os.makedirs(directory, exist_ok=True)

    try:
        servers = []
        http4, http6 = bind_pair("http4", "http6")
        servers += [http4] + ([http6] if http6 else [])
        ca = None
        https4 = https6 = None
        if not args.no_tls:
            made = make_certificates(directory)
            if made:
                ca, cert, key = made
                ctx = tls_context(cert, key)
                https4, https6 = bind_pair("https4", "https6", ctx)
                servers += [https4] + ([https6] if https6 else [])
        STATS = Stats(s.listener_name for s in servers)
        for s in servers:
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.25},
                             name="serve-" + s.listener_name, daemon=True).start()
        ready = {
            "http4": http4.server_address[1],
            "http6": http6.server_address[1] if http6 else None,
            "https4": https4.server_address[1] if https4 else None,
            "https6": https6.server_address[1] if https6 else None,
            "ca": ca,
        }
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        if args.watch_stdin:
            while os.read(sys.stdin.fileno(), 4096):
                pass
        else:
            while True:
                signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        if own_dir:
            shutil.rmtree(own_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
