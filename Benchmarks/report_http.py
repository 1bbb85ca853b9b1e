#!/usr/bin/env python3
"""Turn the runs of Benchmarks/http.sh into a Markdown report.

usage: report_http.py META_TSV RUNS_TSV > report.md

META_TSV: "key<TAB>value" lines (machine, versions, settings; key "note" may repeat).
RUNS_TSV: one line per run: group tool list run rc wall_s cpu_s rss_mb total correct failed wrong inner
listen_drops nginx_errors rate extra. Groups: "cap" (wrk), "fetch-K" (K URLs), "mem" (memory flatness).
Per tool and list: medians over its runs of wall time, URLs/s (correct URLs / wall s), CPU s (user+sys)
and peak RSS; correct/total is the worst run; exit lists the distinct exit codes.
"""
import sys

from benchlib import (by_tool, esc, fmt_int, header, inner_note, median, notes_section, num, read_meta,
                      read_runs, rss_ratio, usage, walls_rates)


def run_notes(rs):
    """Worst run's listen-queue overflows and new nginx error lines, the checker's findings, inner time."""
    bits = []
    ld = max(int(num(r["listen_drops"])) for r in rs)
    if ld > 0:
        bits.append("listen-queue overflows up to %s" % fmt_int(ld))
    ne = max(int(num(r["nginx_errors"])) for r in rs)
    if ne > 0:
        bits.append("nginx error-log lines up to %s" % fmt_int(ne))
    worst = min(rs, key=lambda r: int(num(r["correct"])))
    if worst.get("extra") and int(num(worst["correct"])) < int(num(worst["total"])):
        bits.append("worst run: " + worst["extra"])
    elif worst.get("extra"):
        bits.append(worst["extra"])
    bits += inner_note(rs)
    return "; ".join(esc(b) for b in bits)


def exits(rs):
    return ",".join(sorted({r["rc"] for r in rs}, key=lambda x: int(num(x))))


def main() -> int:
    if len(sys.argv) != 3:
        return usage(__doc__)
    meta, notes = read_meta(sys.argv[1])
    tools = by_tool(read_runs(sys.argv[2]))

    out = header("spate fetch vs. peers: HTTP GETs on loopback (nginx)", meta)

    ceiling = None
    cap = [(tool, rs) for (group, tool), rs in tools.items() if group == "cap"]
    if cap:
        out += ["## Ceiling: nginx on one page (wrk)", "",
                "| load generator | runs | requests/s | wall s | CPU s | peak RSS MB | exit | note |",
                "|---|---:|---:|---:|---:|---:|---:|---|"]
        for tool, rs in cap:
            rate = median(num(r["rate"]) for r in rs)
            ceiling = ceiling or rate
            out.append("| %s | %d | **%s** | %.2f | %.2f | %.1f | %s | %s |" % (
                esc(tool), len(rs), fmt_int(rate), median(num(r["wall_s"]) for r in rs),
                median(num(r["cpu_s"]) for r in rs),
                median(num(r["rss_mb"]) for r in rs), exits(rs),
                esc("; ".join(r["extra"] for r in rs if r["extra"]))))
        out.append("")

    groups = []
    for (group, _tool) in tools:
        if group.startswith("fetch-") and group not in groups:
            groups.append(group)
    for group in groups:
        k = int(group.split("-", 1)[1])
        out += ["## Fetch %s URLs (/p/NNNNNN.html, about 2 KB each, every URL once)" % fmt_int(k), "",
                "| tool | runs | correct / total (worst) | URLs/s (median) | % of wrk | wall s (median, min–max) "
                "| CPU s | peak RSS MB | exit | note |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for (g, tool), rs in tools.items():
            if g != group:
                continue
            walls, rates = walls_rates(rs)
            worst = min(rs, key=lambda r: int(num(r["correct"])))
            rate = median(rates)
            out.append("| %s | %d | %s / %s | **%s** | %s | %.2f (%.2f–%.2f) | %.2f | %.1f | %s | %s |" % (
                esc(tool), len(rs), fmt_int(num(worst["correct"])), fmt_int(num(worst["total"])),
                fmt_int(rate), "%.0f%%" % (100 * rate / ceiling) if ceiling else "–",
                median(walls), min(walls), max(walls),
                median(num(r["cpu_s"]) for r in rs),
                median(num(r["rss_mb"]) for r in rs), exits(rs), run_notes(rs)))
        out.append("")

    mem = [(tool, rs[0]) for (group, tool), rs in tools.items() if group == "mem"]
    if mem:
        out += ["## Memory flatness (spate, URLs cycled from the site's pages)", "",
                "| run | correct / total | URLs/s | wall s | CPU s | peak RSS MB | exit | note |",
                "|---|---:|---:|---:|---:|---:|---:|---|"]
        for tool, r in mem:
            w = num(r["wall_s"])
            out.append("| %s | %s / %s | %s | %.2f | %.2f | %.1f | %s | %s |" % (
                esc(tool), fmt_int(num(r["correct"])), fmt_int(num(r["total"])),
                fmt_int(num(r["correct"]) / w if w > 0 else 0), w, num(r["cpu_s"]),
                num(r["rss_mb"]), r["rc"], run_notes([r])))
        out += rss_ratio(mem, "URLs")
        out.append("")

    out += ["## How to read it", "",
            "* URLs/s = URLs fetched correctly per second of wall time (`/usr/bin/time -v`), median of the "
            "runs, which were interleaved across tools. Every URL is checked by `Benchmarks/check_http.py`: "
            "status 200 and the body size equal to the file's size for every tool (curl `-w "
            "%{size_download}`, wget2's CSV `Size`, aiohttp `len(body)`, spate `value.bytes`), and for "
            "spate also `input` == the URL and `value.title` == \"Page NNNNNN\". No tool's own summary "
            "is used.",
            "* % of wrk = URLs/s against wrk's requests/s. wrk asks for one page over and over on 100 "
            "kept-alive connections and looks at nothing but the status, so its rate is the ceiling of this "
            "nginx on this machine for a client that shares it, not a target a fetcher can reach.",
            "* wall s includes process start-up (the Python interpreter for aiohttp, reading the list and "
            "curl's config file). CPU s = user + sys of the client (and its children), median; nginx's CPU "
            "is not counted. On a small machine the client and nginx compete for the cores, so CPU s is the "
            "fairest efficiency figure.",
            "* peak RSS = largest single process of the run (`Maximum resident set size`), median.",
            "* exit = the distinct exit codes of the runs (124: hit the time limit).",
            "* listen-queue overflows = system-wide `TcpExt ListenOverflows` during the run (connections "
            "the kernel refused because nginx's accept queue was full); nginx error-log lines = new "
            "`[error]`/`[crit]`/`[alert]` lines in `run/nginx/error.log` during the run.",
            "* in-script = the aiohttp peer's own timing from the first request to the last response (no "
            "interpreter start-up); informational only."]
    out += notes_section(notes)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
