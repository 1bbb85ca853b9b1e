"""Shared helpers of the Benchmarks/ Python scripts: gen-zone.py and gen-site.py (writing data files),
check_dns.py and check_http.py (counting correct records), report_dns.py and report_http.py (Markdown
tables from the runs.tsv and meta.tsv that dns.sh and http.sh write). Standard library only.

The scripts import it from their own folder (Python puts a script's folder first on sys.path).
"""
import csv
import os
import statistics
import sys
from collections import Counter

median = statistics.median


def usage(doc: str) -> int:
    """Print a script's docstring as its usage message; returns the exit status 2."""
    print(doc.strip(), file=sys.stderr)
    return 2


# ---------------------------------------------------------------- generators

def write_if_changed(path: str, text: str) -> bool:
    """Write text to path (atomically, via path.tmp) unless the file already holds exactly that."""
    try:
        with open(path, encoding="ascii") as f:
            if f.read() == text:
                return False
    except FileNotFoundError:
        pass
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(text)
    os.replace(tmp, path)
    return True


def n_in_range(n: int) -> bool:
    """Names and pages are numbered with six digits: N must be in 1..999999 (else a message on stderr)."""
    if not 1 <= n <= 999_999:
        print("N must be in 1..999999", file=sys.stderr)
        return False
    return True


# ---------------------------------------------------------------- checkers

def read_jobs(path: str, key=lambda s: s) -> Counter:
    """The job list: key(line) -> how many times it occurs (blank and '#' lines skipped)."""
    wanted = Counter()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            s = line.strip()
            if s and not s.startswith("#"):
                wanted[key(s)] += 1
    return wanted


def failure_kind(rec: dict) -> str:
    """What a failed spate JSON Lines record counts as: its exception type, or unfinished:REASON."""
    exc = rec.get("exception") or {}
    return exc.get("type") or ("unfinished:%s" % rec.get("reason"))


def tally(got: Counter, wanted: Counter):
    """(correct, extra): correct answers, at most as many per job as it was listed; and the ones over that."""
    correct = sum(min(c, wanted[k]) for k, c in got.items())
    extra = sum(max(0, c - wanted[k]) for k, c in got.items())
    return correct, extra


# ---------------------------------------------------------------- reports

def num(x, default=0.0):
    try:
        return float(x)
    except (TypeError, ValueError):
        return default


def fmt_int(x):
    return "{:,}".format(int(round(x)))


def esc(s):
    """Text for a Markdown table cell."""
    return str(s).replace("|", "\\|")


def read_meta(path: str):
    """meta.tsv -> ([(key, value)] in order, [notes]); "note" lines may repeat."""
    meta, notes = [], []
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            if key == "note":
                notes.append(value)
            elif key:
                meta.append((key, value))
    return meta, notes


def read_runs(path: str):
    """runs.tsv -> one dict per run (tab-separated, no quoting)."""
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def by_tool(runs):
    """(group, tool) -> [run rows], in first-seen order."""
    tools = {}
    for r in runs:
        tools.setdefault((r["group"], r["tool"]), []).append(r)
    return tools


def header(title: str, meta):
    """The report's title and its key/value table of machine, versions and settings."""
    out = ["# " + title, ""]
    out += ["| | |", "|---|---|"]
    out += ["| %s | %s |" % (esc(k), esc(v)) for k, v in meta]
    out.append("")
    return out


def walls_rates(rs):
    """Per run: wall s, and correct records per wall second (0 when the wall time is 0)."""
    walls = [num(r["wall_s"]) for r in rs]
    rates = [num(r["correct"]) / w if w > 0 else 0.0 for r, w in zip(rs, walls)]
    return walls, rates


def inner_note(rs):
    """["in-script S s"]: median of the peers' own timing, when they reported one; else []."""
    inner = [num(r["inner"], None) for r in rs if r["inner"]]
    return ["in-script %.2f s" % median(inner)] if inner else []


def rss_ratio(mem, what: str):
    """For the two memory runs [(tool, row)]: the line on their peak-RSS ratio ([] if it does not apply)."""
    if len(mem) == 2 and num(mem[0][1]["rss_mb"]) > 0:
        small, big = num(mem[0][1]["rss_mb"]), num(mem[1][1]["rss_mb"])
        jobs = num(mem[1][1]["total"]) / max(num(mem[0][1]["total"]), 1)
        return ["", "Peak RSS ratio, %s× the %s: **%.2f×** (%.1f MB → %.1f MB)."
                % (fmt_int(jobs), what, big / small, small, big)]
    return []


def notes_section(notes):
    return ["", "## Notes", ""] + ["* " + esc(n) for n in notes] if notes else []
