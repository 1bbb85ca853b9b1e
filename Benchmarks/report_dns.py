#!/usr/bin/env python3
"""Turn the runs of Benchmarks/dns.sh into a Markdown report.

usage: report_dns.py META_TSV RUNS_TSV > report.md

META_TSV: "key<TAB>value" lines (machine, versions, settings; key "note" may repeat).
RUNS_TSV: one line per run: group tool run rc wall_s cpu_s rss_mb total correct udp_drops inner.
Per tool: medians over its runs of wall time, names/s (correct answers / wall s), CPU s (user+sys)
and peak RSS; correct/total is the worst run.
"""
import sys

from benchlib import (by_tool, fmt_int, header, inner_note, median, notes_section, num, read_meta,
                      read_runs, rss_ratio, usage, walls_rates)


def drop_note(rs):
    """Worst run's UDP receive-buffer drops, split into knotd's sockets and the rest (the client)."""
    worst = max(rs, key=lambda r: num(r["udp_drops"]))
    total, server = int(num(worst["udp_drops"])), int(num(worst.get("server_drops")))
    if total <= 0:
        return []
    return ["UDP drops up to %s (client %s, knotd %s)" % (fmt_int(total), fmt_int(max(total - server, 0)),
                                                         fmt_int(server))]


def main() -> int:
    if len(sys.argv) != 3:
        return usage(__doc__)
    meta, notes = read_meta(sys.argv[1])
    runs = read_runs(sys.argv[2])
    tools = by_tool(runs)

    out = header("spate resolve vs. peers: A lookups on loopback (Knot DNS)", meta)

    dns_total = max((int(r["total"]) for r in runs if r["group"] == "dns"), default=0)
    out += ["## Resolve %s names (hNNNNNN.bench.test, one A record each)" % fmt_int(dns_total), "",
            "| tool | runs | correct / total (worst) | names/s (median) | wall s (median, min–max) "
            "| CPU s | peak RSS MB | note |",
            "|---|---:|---:|---:|---:|---:|---:|---|"]
    for (group, tool), rs in tools.items():
        if group != "dns":
            continue
        walls, rates = walls_rates(rs)
        worst = min(rs, key=lambda r: int(r["correct"]))
        bits = []
        bad = sorted({r["rc"] for r in rs if r["rc"] != "0"})
        if bad:
            bits.append("exit " + ",".join(bad))
        bits += drop_note(rs)
        bits += inner_note(rs)
        out.append("| %s | %d | %s / %s | **%s** | %.2f (%.2f–%.2f) | %.2f | %.1f | %s |" % (
            tool, len(rs), fmt_int(int(worst["correct"])), fmt_int(int(worst["total"])),
            fmt_int(median(rates)), median(walls), min(walls), max(walls),
            median(num(r["cpu_s"]) for r in rs),
            median(num(r["rss_mb"]) for r in rs), "; ".join(bits)))
    out.append("")

    mem = [(tool, rs[0]) for (group, tool), rs in tools.items() if group == "mem"]
    if mem:
        out += ["## Memory flatness (spate, names cycled from the 100k)", "",
                "| run | correct / total | names/s | wall s | CPU s | peak RSS MB | exit |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for tool, r in mem:
            w = num(r["wall_s"])
            out.append("| %s | %s / %s | %s | %.2f | %.2f | %.1f | %s |" % (
                tool, fmt_int(int(r["correct"])), fmt_int(int(r["total"])),
                fmt_int(int(r["correct"]) / w if w > 0 else 0), w, num(r["cpu_s"]),
                num(r["rss_mb"]), r["rc"]))
        out += rss_ratio(mem, "jobs")
        drops = ["%s: %s" % (tool, drop_note([r])[0]) for tool, r in mem if drop_note([r])]
        if drops:
            out += [""] + ["* " + d for d in drops]
        out.append("")

    out += ["## How to read it", "",
            "* names/s = names that got exactly their expected 127.x.y.z address, per second of wall "
            "time (`/usr/bin/time -v`), median of the runs. Every answer is checked per name by "
            "`Benchmarks/check_dns.py`; no tool's own summary is used.",
            "* CPU s = user + sys of the client (and its children), median. knotd shares the machine "
            "and its CPU is not counted.",
            "* peak RSS = largest single process of the run (`Maximum resident set size`), median.",
            "* UDP drops = system-wide `RcvbufErrors` (/proc/net/snmp) during the run: datagrams lost "
            "because a socket's receive buffer was full; \"knotd\" counts those on the server's sockets "
            "(queries it never saw), \"client\" the rest (answers the client never read). Lost "
            "datagrams cost a retry after the client's per-try timeout.",
            "* in-script = the Python peers' own timing from first spawn to last answer (no interpreter "
            "start-up); informational only."]
    out += notes_section(notes)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
