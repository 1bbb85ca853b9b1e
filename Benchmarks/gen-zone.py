#!/usr/bin/env python3
"""Generate the benchmark DNS data for spate's Benchmarks/dns.sh.

Writes into OUT_DIR:
  bench.test.zone   SOA + NS + N A records: hNNNNNN.bench.test -> 127.(i>>16).((i>>8)&255).(i&255)
  names-N.txt       the N names, one per line, in order (h000001 .. hNNNNNN)

usage: gen-zone.py OUT_DIR [N=100000]

The address is a pure function of the name (see expected() in check_dns.py), so a checker can
verify every answer without reading the zone. Names are zero-padded to six digits, so N <= 999999.
Files are only rewritten when their content would change (keeps reruns fast and idempotent).
"""
import os
import sys

from benchlib import n_in_range, usage, write_if_changed


def address(i: int) -> str:
    return "127.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)


def main() -> int:
    if len(sys.argv) < 2:
        return usage(__doc__)
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    if not n_in_range(n):
        return 2
    os.makedirs(out, exist_ok=True)

    names = ["h%06d.bench.test" % i for i in range(1, n + 1)]
    zone = [
        "$ORIGIN bench.test.",
        "$TTL 3600",
        "@ IN SOA ns.bench.test. hostmaster.bench.test. 1 3600 600 86400 300",
        "@ IN NS ns.bench.test.",
        "ns IN A 127.0.0.1",
    ]
    zone += ["h%06d IN A %s" % (i, address(i)) for i in range(1, n + 1)]
    changed = write_if_changed(os.path.join(out, "bench.test.zone"), "\n".join(zone) + "\n")
    changed |= write_if_changed(os.path.join(out, "names-%d.txt" % n), "\n".join(names) + "\n")
    print("%s %d names in %s" % ("wrote" if changed else "unchanged:", n, out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
