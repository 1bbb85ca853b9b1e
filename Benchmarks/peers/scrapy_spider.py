#!/usr/bin/env python3
"""Scrapy peer of Benchmarks/crawl.sh: crawl the benchmark site from one start page.

usage: scrapy_spider.py START_URL CONC TIMEOUT_S URLS_FILE

One spider, one start URL, every <a href> followed (response.follow_all(css="a::attr(href)")),
only on the start URL's host (allowed_domains). Settings: CONCURRENT_REQUESTS=CONC,
CONCURRENT_REQUESTS_PER_DOMAIN=CONC (Scrapy's default would cap one host at 8), DOWNLOAD_DELAY=0,
ROBOTSTXT_OBEY=True, LOG_LEVEL=WARNING, CLOSESPIDER_TIMEOUT=TIMEOUT_S (a safety bound: Scrapy
is too slow to finish the larger crawls in a reasonable time); the telnet console and the
remote-control extension (a second loopback server) are off. Everything else is Scrapy's default.

URLS_FILE gets one "STATUS URL BYTES" line per response Scrapy received (robots.txt included, and
any error status), so the checker can count pages, duplicates and requests to /private/ itself.
stdout (and stderr, as the last line): one JSON object {"tool", "scrapy", "concurrency",
"timeout_s", "pages_parsed", "responses", "robots_forbidden", "finish_reason", "wall_s",
"inner_wall_s", "pages_per_s"}; wall_s / inner_wall_s run from just before the crawl starts to
its end (no interpreter start-up, no imports).
"""
import json
import sys
import time
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.crawler import CrawlerProcess


class SiteSpider(scrapy.Spider):
    name = "benchsite"
    parsed = 0

    def parse(self, response):
        SiteSpider.parsed += 1
        yield from response.follow_all(css="a::attr(href)", callback=self.parse)


def main(argv) -> int:
    if len(argv) != 5:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    start, conc, timeout_s, urls_path = argv[1], int(argv[2]), float(argv[3]), argv[4]
    settings = {
        "CONCURRENT_REQUESTS": conc,
        "CONCURRENT_REQUESTS_PER_DOMAIN": conc,
        "DOWNLOAD_DELAY": 0,
        "ROBOTSTXT_OBEY": True,
        "LOG_LEVEL": "WARNING",
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "CLOSESPIDER_TIMEOUT": timeout_s,
    }
    urls = open(urls_path, "w", buffering=1 << 20)

    def received(response, request, spider):
        urls.write("%d %s %d\n" % (response.status, response.url, len(response.body)))

    process = CrawlerProcess(settings)
    crawler = process.create_crawler(SiteSpider)
    crawler.signals.connect(received, signal=signals.response_received)
    t0 = time.perf_counter()
    process.crawl(crawler, start_urls=[start], allowed_domains=[urlsplit(start).hostname])
    process.start()
    wall = time.perf_counter() - t0
    urls.close()

    stats = crawler.stats.get_stats()
    summary = {
        "tool": "scrapy",
        "scrapy": scrapy.__version__,
        "concurrency": conc,
        "timeout_s": timeout_s,
        "pages_parsed": SiteSpider.parsed,
        "responses": stats.get("response_received_count", 0),
        "robots_forbidden": stats.get("robotstxt/forbidden", 0),
        "finish_reason": stats.get("finish_reason"),
        "wall_s": round(wall, 3),
        "inner_wall_s": round(wall, 3),
        "pages_per_s": round(SiteSpider.parsed / wall, 1) if wall > 0 else 0,
    }
    line = json.dumps(summary)
    print(line)
    print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
