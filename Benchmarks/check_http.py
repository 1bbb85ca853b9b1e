#!/usr/bin/env python3
"""Check a fetcher's output against the benchmark site, URL by URL.

usage: check_http.py URL_LIST OUTPUT WWW_DIR
Prints one JSON object: {"total", "records", "correct", "wrong", "failed", "not_correct", "extra",
"unknown", "format", "problems": {kind: count}, "exceptions": {type: count}}.

total = lines in URL_LIST (blank and '#' lines skipped). A URL that occurs k times needs k correct
records (the memory run cycles the 100k URLs to 1M jobs). Accepted OUTPUT formats (detected):
  * spate JSON Lines: {"input": URL, "successful": true, "value": {"status": 200,
    "title": "Page NNNNNN", "bytes": <file size>, ...}, ...}: all four must hold
  * wget2 --stats-site=csv: header "ID,ParentID,URL,Status,...": Status 200 (and Size, when the
    column is there, equal to the file size)
  * peer text lines "STATUS URL [BYTES]" (curl -w, peers/aiohttp_fetch.py): STATUS 200 and, when
    given, BYTES equal to the file size. Failures may be printed as "ERR URL KIND".
The expected title and size come from the URL (/p/NNNNNN.html -> "Page NNNNNN", the size of
WWW_DIR/p/NNNNNN.html). No tool's own summary is used.
"""
import csv
import json
import os
import re
import sys
from collections import Counter

from benchlib import failure_kind, read_jobs, tally, usage

PATH_RX = re.compile(r"^https?://[^/]+/p/(\d{6})\.html$")


class Site:
    def __init__(self, www: str):
        self.www = www
        self.sizes = {}

    def size(self, num: str):
        s = self.sizes.get(num)
        if s is None:
            try:
                s = os.stat(os.path.join(self.www, "p", num + ".html")).st_size
            except OSError:
                s = -1
            self.sizes[num] = s
        return s


def main() -> int:
    if len(sys.argv) != 4:
        return usage(__doc__)
    wanted = read_jobs(sys.argv[1])
    total = sum(wanted.values())
    site = Site(sys.argv[3])

    got = Counter()
    records = wrong = failed = unknown = 0
    problems, exceptions = Counter(), Counter()

    def judge(url, status, nbytes=None, title=None, want_title=False):
        """Count one completed transfer; True if correct."""
        nonlocal wrong, unknown
        m = PATH_RX.match(url)
        if not m or url not in wanted:
            unknown += 1
            problems["url not in list"] += 1
            return
        num = m.group(1)
        bad = []
        if status != 200:
            bad.append("status %s" % status)
        if nbytes is not None and nbytes != site.size(num):
            bad.append("bytes")
        if want_title and title != "Page " + num:
            bad.append("title")
        if bad:
            wrong += 1
            for b in bad:
                problems[b] += 1
        else:
            got[url] += 1

    fmt = "empty"
    with open(sys.argv[2], encoding="utf-8", errors="replace", newline="") as f:
        first = f.readline()
        f.seek(0)
        if first.startswith("ID,") and ",URL," in first and ",Status," in first:
            fmt = "wget2-csv"
            for row in csv.DictReader(f):
                url = (row.get("URL") or "").strip()
                if not url:
                    continue
                records += 1
                try:
                    status = int(row.get("Status") or -1)
                except ValueError:
                    status = -1
                nbytes = None
                if (row.get("Size") or "").strip().lstrip("-").isdigit():
                    nbytes = int(row["Size"])
                judge(url, status, nbytes)
        else:
            for line in f:
                s = line.strip()
                if not s:
                    continue
                if s.startswith("{"):
                    fmt = "spate-jsonl"
                    try:
                        rec = json.loads(s)
                    except ValueError:
                        problems["bad json"] += 1
                        continue
                    records += 1
                    url = str(rec.get("input", ""))
                    if not rec.get("successful"):
                        failed += 1
                        exceptions[failure_kind(rec)] += 1
                        continue
                    v = rec.get("value") or {}
                    if not isinstance(v, dict):
                        wrong += 1
                        problems["value not an object"] += 1
                        continue
                    nbytes = v.get("bytes")
                    judge(url, v.get("status"), nbytes if isinstance(nbytes, int) else -2,
                          v.get("title"), want_title=True)
                    continue
                tok = s.split()
                if len(tok) < 2:
                    continue
                if fmt == "empty":
                    fmt = "text"
                if tok[0] == "ERR":
                    records += 1
                    failed += 1
                    exceptions[tok[2] if len(tok) > 2 else "?"] += 1
                    continue
                if not tok[0].isdigit():
                    continue
                records += 1
                status = int(tok[0])
                if status == 0:          # curl: no response at all
                    failed += 1
                    exceptions["no response (000)"] += 1
                    continue
                nbytes = int(tok[2]) if len(tok) > 2 and tok[2].isdigit() else None
                judge(tok[1], status, nbytes)

    correct, extra = tally(got, wanted)
    print(json.dumps({
        "total": total, "records": records, "correct": correct, "wrong": wrong,
        "failed": failed, "not_correct": total - correct, "extra": extra, "unknown": unknown,
        "format": fmt, "problems": dict(problems.most_common()),
        "exceptions": dict(exceptions.most_common()),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
