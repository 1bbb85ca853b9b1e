#!/usr/bin/env python3
"""Check a resolver's output against the benchmark zone, name by name.

usage: check_dns.py NAMES_FILE OUTPUT_FILE
Prints one JSON object: {"total", "records", "correct", "wrong", "failed", "not_correct",
"extra", "exceptions": {type: count}}.

total = job lines in NAMES_FILE (blank and '#' lines skipped). An input name that occurs k times
needs k correct answers (the memory run cycles the 100k names to 1M jobs). Accepted output lines:
  * spate JSON Lines:   {"input": NAME, "successful": true, "value": "127.x.y.z", ...}
  * peer text:          NAME ADDR            (gevent/aiodns peers in Benchmarks/peers/)
  * adnshost -a -f:     NAME A ADDR          (its "ID N ok ..." status lines are skipped)
The expected address is a pure function of the name: hNNNNNN.bench.test ->
127.(i>>16).((i>>8)&255).(i&255). The tool's own summary is never trusted.
"""
import json
import re
import sys
from collections import Counter

from benchlib import failure_kind, read_jobs, tally, usage

NAME_RX = re.compile(r"^h(\d{6})\.bench\.test\.?$")
IPV4_RX = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")


def expected(name: str):
    m = NAME_RX.match(name)
    if not m:
        return None
    i = int(m.group(1))
    return "127.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)


def main() -> int:
    if len(sys.argv) != 3:
        return usage(__doc__)
    wanted = read_jobs(sys.argv[1], key=lambda s: s.rstrip(".").lower())
    total = sum(wanted.values())

    got = Counter()          # correct answers per name
    records = wrong = failed = 0
    exceptions = Counter()
    with open(sys.argv[2], encoding="utf-8", errors="replace") as f:
        for line in f:
            s = line.strip()
            if not s or s.startswith(";"):
                continue
            if s.startswith("{"):
                try:
                    rec = json.loads(s)
                except ValueError:
                    continue
                records += 1
                name = str(rec.get("input", "")).rstrip(".").lower()
                if not rec.get("successful"):
                    failed += 1
                    exceptions[failure_kind(rec)] += 1
                    continue
                addr = rec.get("value")
            else:
                tok = s.split()
                if len(tok) >= 2 and tok[0].isdigit() and not IPV4_RX.match(tok[0]):
                    tok = tok[1:]           # adnshost query id prefix
                if len(tok) < 2:
                    continue
                name = tok[0].rstrip(".").lower()
                if expected(name) is None:
                    continue                # not an answer line
                records += 1
                addr = tok[-1]
                if not IPV4_RX.match(addr):
                    failed += 1
                    # peers print "NAME ERROR <kind>"; anything else is counted by its 2nd field
                    kind = tok[2] if tok[1] == "ERROR" and len(tok) > 2 else tok[1]
                    exceptions[kind] += 1
                    continue
            if addr == expected(name):
                got[name] += 1
            else:
                wrong += 1

    correct, extra = tally(got, wanted)
    print(json.dumps({
        "total": total, "records": records, "correct": correct, "wrong": wrong,
        "failed": failed, "not_correct": total - correct, "extra": extra,
        "exceptions": dict(exceptions.most_common()),
    }, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
