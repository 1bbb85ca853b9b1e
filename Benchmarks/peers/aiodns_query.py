#!/usr/bin/env python3
"""Peer: aiodns (pycares / c-ares) on asyncio, one coroutine per name, A queries.

usage: aiodns_query.py NAMES_FILE CONC PORT
Queries the A record of every name at 127.0.0.1:PORT, at most CONC in flight
(asyncio.Semaphore); the resolver gets 2 s per try and 3 tries.
stdout: "NAME ADDR" per success (first A record), "NAME ERROR <type>" per failure.
stderr: one JSON summary line (informational; check_dns.py does the counting).
"""
import asyncio
import json
import sys
import time

import aiodns


async def run(path: str, conc: int, port: int) -> None:
    with open(path) as f:
        names = [s for s in (line.strip() for line in f) if s and not s.startswith("#")]
    resolver = aiodns.DNSResolver(nameservers=["127.0.0.1"], udp_port=port, tcp_port=port,
                                  timeout=2.0, tries=3)
    sem = asyncio.Semaphore(conc)
    out = []
    failed = 0

    async def job(name: str) -> None:
        nonlocal failed
        async with sem:
            try:
                if hasattr(resolver, "query_dns"):          # aiodns >= 4
                    res = await resolver.query_dns(name, "A")
                    addrs = [rr.data.addr for rr in res.answer if rr.type == 1]
                else:                                      # aiodns 3
                    addrs = [rr.host for rr in await resolver.query(name, "A")]
            except Exception as e:  # noqa: BLE001
                failed += 1
                code = e.args[0] if e.args and isinstance(e.args[0], int) else None
                kind = type(e).__name__ + ("" if code is None else ":%d" % code)   # c-ares status
                out.append("%s ERROR %s\n" % (name, kind))
                return
        if addrs:
            out.append("%s %s\n" % (name, addrs[0]))
        else:
            failed += 1
            out.append("%s ERROR NoData\n" % name)

    t0 = time.perf_counter()
    await asyncio.gather(*(job(n) for n in names))
    wall = time.perf_counter() - t0
    sys.stdout.write("".join(out))
    sys.stdout.flush()
    print(json.dumps({"tool": "aiodns", "version": getattr(aiodns, "__version__", "?"),
                      "names": len(names), "failed": failed, "inner_wall_s": round(wall, 3)}),
          file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip())
    asyncio.run(run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
