#!/usr/bin/env python3
"""Peer: gevent's c-ares resolver, one greenlet per name, gethostbyname semantics.

usage: gevent_ares.py NAMES_FILE CONC PORT
Resolves every name through socket.gethostbyname (monkey-patched; gevent's bundled c-ares)
against 127.0.0.1:PORT, at most CONC greenlets at a time (gevent.pool.Pool). This is the
gevent model spate mirrors:  jobs = [pool.spawn(gethostbyname, h) ...]; pool.join().
stdout: "NAME ADDR" per success, "NAME ERROR <ExceptionType>" per failure.
stderr: one JSON summary line (the benchmark does not trust it; check_dns.py does the counting).
"""
import os
import sys

if len(sys.argv) != 4:
    sys.exit(__doc__.strip())
NAMES, CONC, PORT = sys.argv[1], int(sys.argv[2]), sys.argv[3]

# gevent reads its configuration from the environment on first use: set it before importing.
os.environ["GEVENT_RESOLVER"] = "ares"
os.environ["GEVENT_RESOLVER_NAMESERVERS"] = "127.0.0.1"   # loopback only, never resolv.conf
os.environ["GEVENTARES_UDP_PORT"] = PORT
os.environ["GEVENTARES_TCP_PORT"] = PORT

from gevent import monkey  # noqa: E402

monkey.patch_all()

import json  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import gevent.pool  # noqa: E402


def main() -> None:
    with open(NAMES) as f:
        names = [s for s in (line.strip() for line in f) if s and not s.startswith("#")]
    out = []
    failed = 0

    def job(name):
        nonlocal failed
        try:
            out.append("%s %s\n" % (name, socket.gethostbyname(name)))
        except Exception as e:  # noqa: BLE001 - a peer reports every failure kind
            failed += 1
            out.append("%s ERROR %s\n" % (name, type(e).__name__))

    t0 = time.perf_counter()
    pool = gevent.pool.Pool(CONC)
    for name in names:
        pool.spawn(job, name)   # blocks while the pool is full (back-pressure)
    pool.join()
    wall = time.perf_counter() - t0
    sys.stdout.write("".join(out))
    sys.stdout.flush()
    print(json.dumps({"tool": "gevent", "version": gevent.__version__,
                      "resolver": type(gevent.get_hub().resolver).__module__,
                      "names": len(names), "failed": failed, "inner_wall_s": round(wall, 3)}),
          file=sys.stderr)


main()
