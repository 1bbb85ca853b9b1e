#!/usr/bin/env python3
"""Check a crawler's output against the benchmark site: which pages it fetched, how often, and
whether it asked for anything robots.txt forbids.

usage: check_crawl.py OUTPUT WWW_DIR EXPECTED
Prints one JSON object: {"format", "expected", "found", "missing", "unexpected", "wrong",
"requests", "robots_txt", "duplicates", "duplicate_urls", "private", "robots_denied", "failed",
"statuses": {status: count}, "failures": {type: count}, "other": n, "missing_sample": [...]}.

EXPECTED = K: a complete crawl fetches exactly pages 1..K (/p/000001.html ... /p/0K.html) once each,
plus /robots.txt, and nothing under /private/ (the site's robots.txt disallows it).
  found       distinct pages in 1..K fetched correctly: status 200 and a body of exactly the file's
              size (and, for spate, value.title "Page NNNNNN");
  missing     K - found; unexpected: pages outside 1..K fetched with status 200;
  wrong       responses for /p/ pages with status 200 but a wrong size or title;
  requests    responses received (every status, robots.txt included);
  duplicates  responses beyond the first for the same URL (duplicate_urls: URLs fetched twice or more);
  private     responses for URLs under /private/ (must be 0);
  robots_denied  spate only: records of /private/ URLs that spate found, checked against robots.txt
              and did not fetch (exception robots_denied; not requests);
  failed      spate only: records that failed without a response, by exception type (failures).
OUTPUT formats (detected):
  * spate crawl JSON Lines: a fetched record has "value" with "final_url", "status", "bytes",
    "title"; a record without a value has "exception": {"type": ...}
  * wget2 --stats-site=csv: header "ID,ParentID,URL,Status,...,Size,..."
  * "STATUS URL [BYTES]" lines (peers/scrapy_spider.py's URL file)
No tool's own summary is used.
"""
import csv
import json
import os
import re
import sys
from collections import Counter
from urllib.parse import urlsplit

from benchlib import failure_kind, usage

PAGE_RX = re.compile(r"^/p/(\d{6})\.html$")


def main() -> int:
    if len(sys.argv) != 4:
        return usage(__doc__)
    out_path, www, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sizes = {}

    def size(num: str) -> int:
        if num not in sizes:
            try:
                sizes[num] = os.stat(os.path.join(www, "p", num + ".html")).st_size
            except OSError:
                sizes[num] = -1
        return sizes[num]

    fetched = Counter()          # path -> responses
    found, unexpected = set(), set()
    statuses, failures = Counter(), Counter()
    wrong = private = robots_txt = robots_denied = other = 0

    def response(url: str, status, nbytes=None, title=None, check_title=False):
        """Count one response (any status) for url."""
        nonlocal wrong, private, robots_txt, other
        parts = urlsplit(url)
        path = parts.path + ("?" + parts.query if parts.query else "")
        fetched[path] += 1
        statuses[str(status)] += 1
        if path.startswith("/private/"):
            private += 1
            return
        if path == "/robots.txt":
            robots_txt += 1
            return
        m = PAGE_RX.match(path)
        if not m:
            other += 1
            return
        if status != 200:
            return
        num = m.group(1)
        if (nbytes is not None and nbytes != size(num)) or (check_title and title != "Page " + num):
            wrong += 1
            return
        (found if 1 <= int(num) <= expected else unexpected).add(int(num))

    fmt = "empty"
    with open(out_path, encoding="utf-8", errors="replace", newline="") as f:
        first = f.readline()
        f.seek(0)
        if first.startswith("ID,") and ",URL," in first and ",Status," in first:
            fmt = "wget2-csv"
            for row in csv.DictReader(f):
                url = (row.get("URL") or "").strip()
                if not url:
                    continue
                try:
                    status = int(row.get("Status") or -1)
                except ValueError:
                    status = -1
                nb = (row.get("Size") or "").strip()
                response(url, status, int(nb) if nb.isdigit() else None)
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
                        failures["bad json"] += 1
                        continue
                    v = rec.get("value")
                    if isinstance(v, dict) and "status" in v:
                        nb = v.get("bytes")
                        response(str(v.get("final_url") or v.get("url") or rec.get("input", "")), v.get("status"),
                                 nb if isinstance(nb, int) else -2, v.get("title"), check_title=True)
                        continue
                    kind = failure_kind(rec)
                    if kind == "robots_denied":
                        robots_denied += 1
                    else:
                        failures[kind] += 1
                    continue
                tok = s.split()
                if len(tok) < 2 or not tok[0].isdigit():
                    continue
                fmt = "status-url-lines"
                response(tok[1], int(tok[0]), int(tok[2]) if len(tok) > 2 and tok[2].isdigit() else None)

    dup_urls = sorted(p for p, c in fetched.items() if c > 1)
    missing = [i for i in range(1, expected + 1) if i not in found]
    print(json.dumps({
        "format": fmt, "expected": expected, "found": len(found), "missing": len(missing),
        "unexpected": len(unexpected), "wrong": wrong, "requests": sum(fetched.values()),
        "robots_txt": robots_txt, "duplicates": sum(c - 1 for c in fetched.values()),
        "duplicate_urls": len(dup_urls), "private": private, "robots_denied": robots_denied,
        "failed": sum(failures.values()), "other": other,
        "statuses": dict(statuses.most_common()), "failures": dict(failures.most_common()),
        "missing_sample": ["/p/%06d.html" % i for i in missing[:5]],
        "duplicate_sample": dup_urls[:5],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
