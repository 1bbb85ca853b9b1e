#!/usr/bin/env python3
"""Peer: aiohttp on asyncio, one coroutine per URL, GET and read the whole body.

usage: aiohttp_fetch.py URL_LIST CONC
At most CONC requests in flight (asyncio.Semaphore(CONC)) over one ClientSession whose
TCPConnector(limit=CONC) keeps at most CONC connections (keep-alive, reused). No proxy
(trust_env=False), 30 s total timeout per request.
stdout: "STATUS URL BYTES" per response (BYTES = body length after decoding),
        "ERR URL <type>" per failure.
stderr: one JSON summary line (informational; check_http.py does the counting).
"""
import asyncio
import json
import sys
import time

import aiohttp


async def run(path: str, conc: int) -> None:
    with open(path) as f:
        urls = [s for s in (line.strip() for line in f) if s and not s.startswith("#")]
    sem = asyncio.Semaphore(conc)
    out = sys.stdout
    failed = 0

    connector = aiohttp.TCPConnector(limit=conc, limit_per_host=0, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=30)

    t0 = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session:

        async def job(url: str) -> None:
            nonlocal failed
            async with sem:
                try:
                    async with session.get(url, allow_redirects=False) as resp:
                        body = await resp.read()
                        out.write("%d %s %d\n" % (resp.status, url, len(body)))
                except Exception as e:  # noqa: BLE001
                    failed += 1
                    out.write("ERR %s %s\n" % (url, type(e).__name__))

        await asyncio.gather(*(job(u) for u in urls))
    wall = time.perf_counter() - t0
    out.flush()
    print(json.dumps({"tool": "aiohttp", "version": aiohttp.__version__, "urls": len(urls),
                      "failed": failed, "inner_wall_s": round(wall, 3)}), file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip())
    asyncio.run(run(sys.argv[1], int(sys.argv[2])))
