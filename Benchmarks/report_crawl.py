#!/usr/bin/env python3
"""Turn the runs of Benchmarks/crawl.sh into a Markdown report.

usage: report_crawl.py META_TSV RUNS_TSV [SUMMARIES_TSV] > report.md

META_TSV: "key<TAB>value" lines (machine, versions, settings; key "note" may repeat).
RUNS_TSV: one line per run: group tool start run rc wall_s cpu_s rss_mb total correct missing unexpected
wrong requests duplicates private private_srv robots_denied failed listen_drops nginx_errors nginx_cpu_s
other_cpu_s inner finish extra. Groups: "crawl-NNNNNN" (start page). total = pages a complete crawl fetches, correct = those the
run fetched correctly (check_crawl.py).
SUMMARIES_TSV: "START<TAB>line" lines: spate's own stderr summary of an unmeasured run per start page.
Per tool and start page: medians over its runs of wall time, pages/s (correct pages / wall s), CPU s
(user+sys) and peak RSS; pages found is the worst run; requests, duplicates and /private/ requests are
the largest of the runs; exit lists the distinct exit codes.
"""
import os
import re
import sys

from benchlib import (by_tool, esc, fmt_int, header, inner_note, median, notes_section, num, read_meta,
                      read_runs, usage, walls_rates)


def worst(rs):
    return min(rs, key=lambda r: int(num(r["correct"])))


def most(rs, key):
    return max(int(num(r[key])) for r in rs)


def run_notes(rs):
    bits = []
    finishes = sorted({r["finish"] for r in rs if r["finish"]})
    if "closespider_timeout" in finishes:
        bits.append("**bounded**: stopped by CLOSESPIDER_TIMEOUT, crawl incomplete")
    elif finishes:
        bits.append("finish: " + ", ".join(finishes))
    denied = most(rs, "robots_denied")
    if denied:
        bits.append("%s /private/ links denied by robots.txt without a request" % fmt_int(denied))
    srv = most(rs, "private_srv")
    if srv != most(rs, "private"):
        bits.append("nginx logged up to %s /private/ requests" % fmt_int(srv))
    unexpected = most(rs, "unexpected")
    if unexpected:
        bits.append("%s pages outside the expected set" % fmt_int(unexpected))
    wrong = most(rs, "wrong")
    if wrong:
        bits.append("%s pages with a wrong size or title" % fmt_int(wrong))
    busy = [r for r in rs if num(r["other_cpu_s"]) > max(0.5, 0.1 * num(r["wall_s"]))]
    if busy:
        bits.append("rest of the machine busy in %d of %d runs (up to %.2f CPU s): disturbed"
                    % (len(busy), len(rs), max(num(r["other_cpu_s"]) for r in busy)))
    ld = most(rs, "listen_drops")
    if ld:
        bits.append("listen-queue overflows up to %s" % fmt_int(ld))
    ne = most(rs, "nginx_errors")
    if ne:
        bits.append("nginx error-log lines up to %s" % fmt_int(ne))
    w = worst(rs)
    if w.get("extra"):
        bits.append(("worst run: " if len(rs) > 1 else "") + w["extra"])
    bits += inner_note(rs)
    return "; ".join(esc(b) if not b.startswith("**") else b for b in bits)


TARGET = 1.3   # issue 4: spate crawl at >= 1.3x wget2's pages/s


def budget_section(tools, cores):
    """Per start page and round: what the 1.3x target leaves spate, from that round's own runs.

    A CPU-bound crawl on `cores` cores cannot end before (client CPU + nginx CPU) / cores. So to
    end within wget2's wall / 1.3, the client may spend at most cores x that - nginx's CPU (the
    least nginx needed in the round, any client). The libcurl floor's CPU is the transfers' own
    cost; what is left above it is all a crawler has for its HTML tokenizer, URL canonicalisation,
    dedupe, robots, politeness, records and threads."""
    def pick(group, prefix, conc):
        # the tool names carry the concurrency: "spate crawl, -c 100 …", "… 100 in flight", "--max-threads=100"
        for (g, tool), rs in tools.items():
            if g == group and tool.startswith(prefix) and re.search(r"(-c |=)%s\b|\b%s in flight" % (conc, conc), tool):
                return {r["run"]: r for r in rs}
        return {}
    out = []
    cases = sorted({(g, m.group(1)) for g, tool in tools
                    for m in [re.search(r"^wget2 -r .*--max-threads=(\d+)", tool)] if m})
    for group, conc in cases:
        spate, floor, wget2 = (pick(group, p, conc) for p in ("spate crawl, -c", "libcurl crawl floor", "wget2 -r"))
        rounds = [k for k in sorted(wget2, key=lambda k: int(num(k))) if k in floor and k in spate]
        if not rounds:
            continue
        if not out:
            out += ["## What %.1fx wget2 leaves spate (from each round's own runs)" % TARGET, "",
                    "target wall = wget2's wall / %.1f. On %d cores a run cannot end before (client CPU + nginx "
                    "CPU) / %d, so the client may spend at most %d x target wall - nginx CPU (the least nginx "
                    "needed in the round). The libcurl floor's CPU is what the transfers themselves cost; the "
                    "rest, per page, is all that is left for everything a crawler adds (HTML tokenizer, URL "
                    "canonicalisation, dedupe, robots, politeness, records, threads), even with no core ever "
                    "idle." % (TARGET, cores, cores, cores), ""]
        pages = int(num(next(iter(wget2.values()))["total"]))
        out += ["From /p/%s.html (%s pages, %s in flight):" % (group.split("-", 1)[1], fmt_int(pages), conc), "",
                "| round | wget2 pages/s | floor / wget2 | spate / wget2 | target wall s | client CPU allowed s "
                "| floor CPU s | left above the floor, µs/page | spate spends above the floor, µs/page |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for k in rounds:
            w, f, sp = wget2[k], floor[k], spate[k]
            ww, fw, sw = (num(r["wall_s"]) for r in (w, f, sp))
            if min(ww, fw, sw) <= 0:
                continue
            target = ww / TARGET
            allowed = cores * target - min(num(r["nginx_cpu_s"]) for r in (w, f, sp))
            fc, sc = num(f["cpu_s"]), num(sp["cpu_s"])
            out.append("| %s | %s | %.2fx | %.2fx | %.2f | %.2f | %.2f | %.1f | %.1f |" % (
                k, fmt_int(num(w["correct"]) / ww), ww / fw, ww / sw, target, allowed, fc,
                (allowed - fc) / pages * 1e6, (sc - fc) / pages * 1e6))
        out.append("")
    return out


def exits(rs):
    return ",".join(sorted({r["rc"] for r in rs}, key=lambda x: int(num(x))))


def main() -> int:
    if len(sys.argv) not in (3, 4):
        return usage(__doc__)
    meta, notes = read_meta(sys.argv[1])
    tools = by_tool(read_runs(sys.argv[2]))
    summaries = {}
    if len(sys.argv) == 4:
        with open(sys.argv[3]) as f:
            for line in f:
                start, _, text = line.rstrip("\n").partition("\t")
                summaries.setdefault(start, []).append(text)

    out = header("spate crawl vs. peers: crawling the benchmark site on loopback (nginx)", meta)

    groups = []
    for (group, _tool) in tools:
        if group not in groups:
            groups.append(group)
    for group in groups:
        start = group.split("-", 1)[1]
        rows = [(tool, rs) for (g, tool), rs in tools.items() if g == group]
        expected = int(num(rows[0][1][0]["total"]))
        out += ["## Crawl from /p/%s.html (a complete crawl: pages 1–%s, once each, + robots.txt)"
                % (start, fmt_int(expected)), "",
                "| tool | runs | pages found / expected (worst) | pages/s (median) | wall s (median, min–max) "
                "| CPU s | nginx CPU s | peak RSS MB | requests | duplicates | /private/ requests | exit | note |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for tool, rs in rows:
            walls, rates = walls_rates(rs)
            w = worst(rs)
            out.append("| %s | %d | %s / %s | **%s** | %.2f (%.2f–%.2f) | %.2f | %.2f | %.1f | %s | %s | %s | %s | %s |" % (
                esc(tool), len(rs), fmt_int(num(w["correct"])), fmt_int(num(w["total"])), fmt_int(median(rates)),
                median(walls), min(walls), max(walls), median(num(r["cpu_s"]) for r in rs),
                median(num(r["nginx_cpu_s"]) for r in rs), median(num(r["rss_mb"]) for r in rs), fmt_int(most(rs, "requests")),
                fmt_int(most(rs, "duplicates")), fmt_int(most(rs, "private")), exits(rs), run_notes(rs)))
        out.append("")

    runs = [r for rs in tools.values() for r in rs]
    if runs:
        out += ["## Every run", "",
                "| start | tool | run | pages found / expected | pages/s | wall s | CPU s | nginx CPU s "
                "| rest of machine CPU s | peak RSS MB | requests | duplicates | /private/ requests (tool / nginx) | exit |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in sorted(runs, key=lambda r: (r["start"], int(num(r["run"])))):
            w = num(r["wall_s"])
            out.append("| %s | %s | %s | %s / %s | %s | %.2f | %.2f | %.2f | %.2f | %.1f | %s | %s | %s / %s | %s |" % (
                r["start"], esc(r["tool"]), r["run"], fmt_int(num(r["correct"])), fmt_int(num(r["total"])),
                fmt_int(num(r["correct"]) / w if w > 0 else 0), w, num(r["cpu_s"]), num(r["nginx_cpu_s"]),
                num(r["other_cpu_s"]), num(r["rss_mb"]),
                fmt_int(num(r["requests"])), fmt_int(num(r["duplicates"])), fmt_int(num(r["private"])),
                fmt_int(num(r["private_srv"])), r["rc"]))
        out.append("")

    out += budget_section(tools, os.cpu_count() or 1)

    if summaries:
        out += ["## spate's own summary (one unmeasured run per start page, without -q)", ""]
        for start, lines in summaries.items():
            out += ["From /p/%s.html:" % start, "", "```"] + lines + ["```", ""]

    out += ["## How to read it", "",
            "* The site (`gen-site.py` v2) is a link graph with a known answer: pages 1–20,000 link only among "
            "themselves (and page i to i+1), so a crawl from `/p/000001.html` fetches exactly those 20,000 pages; "
            "from `/p/020001.html` it reaches all 100,000. Links are a mix of absolute-path (`/p/000123.html`) and "
            "relative (`000123.html`) hrefs. About 1 page in 50 also links to `/private/NNNNNN.html`, which "
            "`/robots.txt` disallows: no request may go there.",
            "* pages found = distinct pages of the expected set that the run fetched correctly (status 200 and "
            "the file's size; for spate also `value.title`), counted by `Benchmarks/check_crawl.py` from the "
            "tool's own output (spate's records, wget2's `--stats-site` CSV, the Scrapy spider's URL file). No "
            "tool's own summary is used. The worst run is shown. The floor's output is its \"STATUS URL BYTES\" "
            "lines.",
            "* libcurl crawl floor = `Benchmarks/floor/crawl_floor.c`: not a peer, but the least work a crawler on "
            "this libcurl can do per page here (one thread, curl's multi-socket API with spate's options, links "
            "found with memmem and deduplicated by a 64-bit hash, robots.txt `Disallow:` prefixes; no HTML "
            "tokenizer, URL canonicalisation, politeness or records).",
            "* pages/s = pages found / wall seconds, median of the runs, which were interleaved across tools. For "
            "a bounded (incomplete) Scrapy run it is the rate of the part it crawled.",
            "* requests = responses the tool received (robots.txt included), duplicates = responses beyond the "
            "first for the same URL, /private/ requests = responses for URLs under `/private/` (each also logged "
            "by nginx; a difference is noted). Largest over the runs.",
            "* wall s includes process start-up (the Python interpreter and Scrapy's imports for Scrapy). CPU s = "
            "user + sys of the client (and its children), median; nginx's CPU is not counted. On a small machine "
            "the client and nginx compete for the cores, so CPU s is the fairest efficiency figure.",
            "* nginx CPU s = user + sys of nginx's master and workers during the run (`/proc/PID/stat`), median. "
            "rest of machine CPU s (every run) = the machine's busy time during the run (`/proc/stat`, all cores) "
            "minus the client's and nginx's: other processes, kernel work not charged to a process (some "
            "loopback network processing lands here) and time the hypervisor stole from this VM. A run where it exceeds 0.5 s and 10% of the wall time is "
            "flagged as disturbed in the note.",
            "* peak RSS = largest single process of the run (`Maximum resident set size`), median.",
            "* exit = the distinct exit codes of the runs (124: hit the time limit).",
            "* in-script = the Scrapy spider's own timing of the crawl (no interpreter start-up); informational."]
    out += notes_section(notes)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
