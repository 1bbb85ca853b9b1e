#!/usr/bin/env python3
"""Generate the static site and the URL lists for spate's Benchmarks/http.sh and Benchmarks/crawl.sh.

usage: gen-site.py WWW_DIR DATA_DIR [N=100000] [LIST_SIZE ...]

WWW_DIR/p/NNNNNN.html   N small HTML pages (about 2 KB each, sizes vary between pages), page i
                        has <title>Page NNNNNN</title>, some text and links to other pages.
WWW_DIR/robots.txt      "User-agent: *" / "Disallow: /private/".
WWW_DIR/.complete       stamp "pages=N version=V", written last. When it already matches, the
                        pages are not written again (idempotent; an interrupted run starts over).
DATA_DIR/urls-K.txt     for each LIST_SIZE K: http://127.0.0.1:8080/p/NNNNNN.html, one per line,
                        pages 1..N cycled until K lines (K <= N: simply the first K pages).
                        Rewritten only if the content would change.

The link graph (version 2) makes the site a crawl benchmark with a known answer. With
C = min(20000, N):
  * page i <= C links to 5-10 pseudo-random pages in 1..C, plus page i+1 when i < C: a crawl
    from /p/000001.html reaches exactly pages 1..C;
  * page i > C links to 5-10 pseudo-random pages in 1..N, plus page i+1 when i < N: a crawl
    from /p/0(C+1).html reaches all N pages (checked after writing, see below);
  * hrefs are absolute-path ("/p/000123.html") or relative ("000123.html"), mixed;
  * about 1 page in 50 also links to /private/NNNNNN.html (as "/private/..." or
    "../private/..."), which robots.txt disallows and which does not exist: a crawler that
    obeys robots.txt never asks for it.
Targets come from a fixed integer hash of (page, slot), so every run writes the same site.
After writing, the generator reads the hrefs back from the files, resolves them and walks the
graph from both start pages; it fails if either reach set is not the one above.

Options via environment: HTTP_BASE (default http://127.0.0.1:8080).
The fetch checker (check_http.py) takes each page's expected size from the file itself and its
expected title from the URL, so the page text may change without touching it.
"""
import os
import re
import sys
from collections import deque

from benchlib import n_in_range, usage, write_if_changed

VERSION = "2"
COMPONENT = 20_000          # pages 1..COMPONENT form the closed crawl component
PRIVATE_ONE_IN = 50         # about this share of pages also links into /private/
ROBOTS = "User-agent: *\nDisallow: /private/\n"
WORDS = ("spate fetch crawl loopback nginx curl wget scrapy page link body title swift libcurl "
         "c-ares record jsonl transfer status bytes header keep-alive socket buffer epoll "
         "latency throughput memory flat stream queue worker frontier robots").split()
MASK = (1 << 64) - 1


def mix(a: int, b: int) -> int:
    """A 64-bit integer hash of (a, b) (splitmix64 finaliser): the site's only source of 'randomness'."""
    z = (a * 0x9E3779B97F4A7C15 + b * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E5F5) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def targets(i: int, n: int, comp: int):
    """Page i's link targets, in page order: 5-10 distinct pseudo-random pages, then i+1 if any."""
    hi = comp if i <= comp else n
    last = comp if i <= comp else n
    nxt = i + 1 if i < last else None
    want = 5 + mix(i, 0) % 6
    pool = hi - (1 if i <= hi else 0) - (1 if nxt else 0)
    want = min(want, pool)
    out, slot = [], 1
    while len(out) < want:
        t = mix(i, slot) % hi + 1
        slot += 1
        if t != i and t != nxt and t not in out:
            out.append(t)
    if nxt:
        out.append(nxt)
    return out


def href(i: int, j: int, t: int) -> str:
    """The href of page i's j-th link to page t: absolute-path or relative (about half each)."""
    return ("%06d.html" % t) if mix(i, 1000 + j) & 1 else ("/p/%06d.html" % t)


def private_href(i: int):
    """The /private/ link of page i, for about 1 page in PRIVATE_ONE_IN; else None."""
    if mix(i, 2000) % PRIVATE_ONE_IN:
        return None
    return ("../private/%06d.html" if i & 1 else "/private/%06d.html") % i


def page(i: int, n: int, comp: int) -> bytes:
    """Deterministic HTML for page i (1-based) of n. About 1.8-2.3 KB."""
    name = "%06d" % i
    items = ['<li><a href="%s">Page %06d</a></li>' % (href(i, j, t), t) for j, t in enumerate(targets(i, n, comp))]
    priv = private_href(i)
    if priv:
        items.append('<li><a href="%s">Private %s</a></li>' % (priv, name))
    paras = []
    x = i * 2654435761 % 4294967296
    for p in range(3 + i % 3):
        words = []
        for _ in range(16 + (i + p) % 9):
            x = (x * 1103515245 + 12345) % 2147483648
            words.append(WORDS[x % len(WORDS)])
        paras.append("<p>%s.</p>" % " ".join(words).capitalize())
    html = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Page %s</title>\n"
        '<meta name="description" content="Benchmark page %s of %d for spate fetch and crawl.">\n'
        "</head>\n<body>\n<h1>Page %s</h1>\n%s\n<ul>\n%s\n</ul>\n"
        "<footer>Generated by Benchmarks/gen-site.py (v%s).</footer>\n</body>\n</html>\n"
    ) % (name, name, n, name, "\n".join(paras), "\n".join(items), VERSION)
    data = html.encode("ascii")
    # pad short pages to about 2 KB with an HTML comment, so every page is near the target size
    target = 1800 + (i * 37) % 500
    if len(data) < target:
        data = data.replace(b"</body>", b"<!-- " + b"x" * (target - len(data) - 9) + b" -->\n</body>", 1)
    return data


HREF_RX = re.compile(rb'href="([^"]*)"')


def resolve(ref: str) -> str:
    """An href found on a page under /p/, as an absolute path (enough for the forms written above)."""
    if ref.startswith("/"):
        return ref
    parts = ["p"]
    for seg in ref.split("/"):
        if seg == "..":
            parts = parts[:-1]
        elif seg not in (".", ""):
            parts.append(seg)
    return "/" + "/".join(parts)


def verify(pdir: str, n: int, comp: int) -> str:
    """Read every page's hrefs back from disk and walk the graph from page 1 and from page comp+1."""
    links = [()] * (n + 1)
    private = forms_rel = forms_abs = 0
    for i in range(1, n + 1):
        with open(os.path.join(pdir, "%06d.html" % i), "rb") as f:
            refs = [m.decode() for m in HREF_RX.findall(f.read())]
        out = []
        for r in refs:
            path = resolve(r)
            if path.startswith("/private/"):
                private += 1
                continue
            m = re.fullmatch(r"/p/(\d{6})\.html", path)
            if not m:
                raise SystemExit("page %d: unexpected link %r" % (i, r))
            out.append(int(m.group(1)))
            if r.startswith("/"):
                forms_abs += 1
            else:
                forms_rel += 1
        links[i] = tuple(out)

    def reach(start: int) -> int:
        seen = bytearray(n + 1)
        seen[start] = 1
        todo, count = deque([start]), 1
        while todo:
            for t in links[todo.popleft()]:
                if not seen[t]:
                    seen[t] = 1
                    count += 1
                    todo.append(t)
        return count if all(seen[1:count + 1]) else -count   # reach set must be exactly 1..count

    checks = [(1, comp)] + ([(comp + 1, n)] if n > comp else [])
    for start, want in checks:
        got = reach(start)
        if got != want:
            raise SystemExit("link graph: a crawl from page %d reaches %s, not exactly pages 1..%d"
                             % (start, ("%d pages" % got) if got > 0 else "a set other than 1..k", want))
    return ("links: %d absolute-path, %d relative, %d to /private/; from page 1: pages 1..%d%s"
            % (forms_abs, forms_rel, private, comp,
               "; from page %d: pages 1..%d" % (comp + 1, n) if n > comp else ""))


def main() -> int:
    if len(sys.argv) < 3:
        return usage(__doc__)
    www, data = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
    sizes = [int(a) for a in sys.argv[4:]]
    if not n_in_range(n):
        return 2
    comp = min(COMPONENT, n)
    base = os.environ.get("HTTP_BASE", "http://127.0.0.1:8080").rstrip("/")

    stamp_path = os.path.join(www, ".complete")
    stamp = "pages=%d version=%s\n" % (n, VERSION)
    try:
        with open(stamp_path) as f:
            done = f.read() == stamp
    except FileNotFoundError:
        done = False
    if done:
        print("unchanged: %d pages in %s" % (n, www), file=sys.stderr)
    else:
        pdir = os.path.join(www, "p")
        os.makedirs(pdir, exist_ok=True)
        try:
            os.unlink(stamp_path)
        except FileNotFoundError:
            pass
        total = 0
        for i in range(1, n + 1):
            blob = page(i, n, comp)
            total += len(blob)
            with open(os.path.join(pdir, "%06d.html" % i), "wb") as f:
                f.write(blob)
            if i % 20000 == 0:
                print("  %d/%d pages" % (i, n), file=sys.stderr)
        # pages of an earlier, larger N would be served and crawled: remove them
        for name in os.listdir(pdir):
            m = re.fullmatch(r"(\d{6})\.html", name)
            if m and int(m.group(1)) > n:
                os.unlink(os.path.join(pdir, name))
        print("wrote %d pages (%.1f MB, %.0f bytes on average) in %s"
              % (n, total / 1e6, total / n, www), file=sys.stderr)
        print(verify(pdir, n, comp), file=sys.stderr)
        with open(stamp_path, "w") as f:
            f.write(stamp)
    write_if_changed(os.path.join(www, "robots.txt"), ROBOTS)

    os.makedirs(data, exist_ok=True)
    for k in sizes:
        urls = ["%s/p/%06d.html" % (base, j % n + 1) for j in range(k)]
        changed = write_if_changed(os.path.join(data, "urls-%d.txt" % k), "\n".join(urls) + "\n")
        print("%s urls-%d.txt" % ("wrote" if changed else "unchanged:", k), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
