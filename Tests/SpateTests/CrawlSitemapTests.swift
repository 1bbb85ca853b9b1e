import Foundation
import Testing

/// Sitemaps in `spate crawl`, end to end against the fixture's sitemap sites (see
/// CRAWL_ROUTES in http_fixture.py: `sitemap.crawl.test` with an index, a gzip'd urlset, a
/// urlset sent with Content-Encoding: gzip, a text sitemap, a malformed one, entries out of
/// scope, disallowed by robots.txt and caught by a trap guard; `sitemap-big.crawl.test` with
/// a 50,010-entry urlset and a gzip bomb). The exact set of requests is asserted each time.
@Suite(.serialized) struct CrawlSitemapTests {
    typealias Record = [String: Any]
    typealias C = CrawlEndToEndTests

    static let leavesFromSitemaps = [
        "/only-sitemap-1.html", "/q?x=1&y=2", "/cdata.html", "/only-sitemap-1b.html", "/only-sitemap-2.html",
        "/only-sitemap-3.html", "/only-sitemap-3b.html", "/only-text.html", "/before-break.html",
    ]
    static let sitemapFiles = ["/sitemap_index.xml", "/sitemap.txt", "/broken.xml", "/sitemap1.xml", "/sitemap2.xml.gz", "/sitemap3.xml"]

    /// The fetched sitemaps' records, by URL.
    static func sitemapRecords(_ run: C.CrawlRun) -> [String: Record] {
        var out: [String: Record] = [:]
        for r in run.records where r["sitemap"] as? Bool == true && C.value(r) != nil {
            if let url = C.recordURL(r) { out[url] = r }
        }
        return out
    }

    static func summary(_ r: Record?) -> Record? { C.value(r)?["sitemap"] as? Record }

    @Test func sitemapsListedInRobotsTxtAreRead() async throws {
        let f = try C.Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("sitemap", "/")], ["--per-host", "2"])
        C.checkInvariants(run)
        let expected = ["/robots.txt", "/", "/linked-1.html", "/linked-2.html"] + Self.sitemapFiles + Self.leavesFromSitemaps
        let paths = run.paths("sitemap")
        #expect(paths.sorted() == expected.sorted(), "\(run.describe)")
        #expect(run.paths("other").isEmpty, "nothing requested out of scope")
        #expect(run.result.status == 0, "\(run.describe)")

        // The sitemaps' own records.
        let sitemaps = Self.sitemapRecords(run)
        #expect(Set(sitemaps.keys) == Set(Self.sitemapFiles.map { f.url("sitemap", $0) }), "\(sitemaps.keys.sorted())")
        let index = sitemaps[f.url("sitemap", "/sitemap_index.xml")]
        #expect(Self.summary(index)?["kind"] as? String == "sitemapindex")
        #expect(C.via(index) == "robots" && index?["depth"] as? Int == 0)
        #expect(index?["parent"] as? String == f.url("sitemap", "/robots.txt"))
        let gz = sitemaps[f.url("sitemap", "/sitemap2.xml.gz")]
        #expect(Self.summary(gz)?["gzip"] as? Bool == true && Self.summary(gz)?["kind"] as? String == "urlset")
        #expect(C.via(gz) == "sitemap" && gz?["parent"] as? String == f.url("sitemap", "/sitemap_index.xml"))
        #expect(Self.summary(sitemaps[f.url("sitemap", "/sitemap.txt")])?["kind"] as? String == "text")
        let broken = Self.summary(sitemaps[f.url("sitemap", "/broken.xml")])
        #expect((broken?["error"] as? Record)?["type"] as? String == "malformed", "\(String(describing: broken))")
        #expect(broken?["entries"] as? Int == 1)

        // Pages found only in sitemaps: via sitemap, one deeper than their sitemap, parent it.
        let only3b = run.record(f.url("sitemap", "/only-sitemap-3b.html"))
        #expect(C.via(only3b) == "sitemap" && only3b?["depth"] as? Int == 1, "\(String(describing: only3b))")
        #expect(only3b?["parent"] as? String == f.url("sitemap", "/sitemap3.xml"))
        #expect(run.record(f.url("sitemap", "/q?x=1&y=2")) != nil, "&amp; in <loc> decoded")
        // robots.txt applies to sitemap entries and to sitemaps.
        for path in ["/private/secret.html", "/private/sitemap-hidden.xml"] {
            #expect(C.exceptionType(run.record(f.url("sitemap", path))) == "robots_denied", "\(path)")
        }
        // Trap guards apply: the repeated-segment entry is dropped and counted.
        #expect(run.notFollowed["guard:repeated_segments"] == 1, "\(run.result.stderrText)")
        #expect((run.notFollowed["out_of_scope"] ?? 0) >= 3, "\(run.result.stderrText)")
    }

    @Test func noSitemapsReadsNone() async throws {
        let f = try C.Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("sitemap", "/")], ["--no-sitemaps"])
        C.checkInvariants(run)
        #expect(run.paths("sitemap").sorted() == ["/", "/linked-1.html", "/linked-2.html", "/robots.txt"], "\(run.describe)")
    }

    @Test func sitemapFlagReadsASitemapWithoutSeeds() async throws {
        let f = try C.Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([], ["--no-sitemaps", "--sitemap", f.url("sitemap", "/sitemap2.xml.gz")], asArguments: true)
        C.checkInvariants(run)
        #expect(run.paths("sitemap").sorted() == ["/linked-2.html", "/only-sitemap-2.html", "/robots.txt", "/sitemap2.xml.gz"],
                "\(run.describe)")
        let gz = Self.sitemapRecords(run)[f.url("sitemap", "/sitemap2.xml.gz")]
        #expect(C.via(gz) == "seed" && Self.summary(gz)?["new"] as? Int == 2, "\(String(describing: gz))")
        #expect(run.result.status == 0, "\(run.describe)")
    }

    @Test func maxDepthZeroReadsSitemapsButNoEntries() async throws {
        let f = try C.Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("sitemap", "/")], ["--max-depth", "0"])
        C.checkInvariants(run)
        #expect(run.paths("sitemap").sorted() == (["/robots.txt", "/"] + Self.sitemapFiles).sorted(), "\(run.describe)")
    }

    /// `crawl --warc`: every fetch — robots.txt, sitemaps (a gzip file among them), pages —
    /// is archived, warcio reads it all back, and each record's `value.warc` lands on the
    /// response record of its URL.
    @Test func crawlWithWARCArchivesEveryFetch() async throws {
        let f = try C.Fixtures()
        defer { f.stop() }
        let dir = try WARCEndToEndTests.tempDir("crawl")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try await f.crawl([f.url("sitemap", "/")], ["--warc", dir + "/crawl.warc.gz"])
        C.checkInvariants(run)
        let files = try WARCEndToEndTests.warcFiles(dir)
        #expect(files == [dir + "/crawl-00000.warc.gz"])
        let fetched = run.records.filter { C.value($0) != nil }
        #expect(fetched.count == run.paths("sitemap").count, "one fetched record per request")
        var locations: [(String, Int)] = []
        var urls: [String] = []
        for r in fetched {
            let w = try #require(C.value(r)?["warc"] as? Record, "no value.warc in \(r)")
            locations.append((w["file"] as? String ?? "", w["offset"] as? Int ?? -1))
            urls.append(C.value(r)?["final_url"] as? String ?? "")
        }
        let report = try WARCEndToEndTests.warcio(files: files, locations: locations)
        let responses = try WARCEndToEndTests.checkStructure(report, files: files)
        #expect(responses.count == fetched.count, "\(responses.count) response records for \(fetched.count) fetches")
        let located = try #require(report["locations"] as? [Record])
        for (i, url) in urls.enumerated() {
            #expect(located[i]["type"] as? String == "response" && located[i]["target_uri"] as? String == url, "\(url): \(located[i])")
        }
        #expect(responses.contains { $0["target_uri"] as? String == f.url("sitemap", "/sitemap2.xml.gz") })
        #expect(responses.contains { $0["target_uri"] as? String == f.url("sitemap", "/robots.txt") })
    }

    @Test func oversizedSitemapsStopAtTheProtocolLimits() async throws {
        let f = try C.Fixtures()
        defer { f.stop() }
        // --max-depth 0: read the sitemaps, fetch none of their 50,000 entries.
        let run = try await f.crawl([f.url("sitemap-big", "/")], ["--max-depth", "0"], timeLimit: 120)
        C.checkInvariants(run)
        #expect(run.paths("sitemap-big").sorted() == ["/", "/big.xml", "/bomb.xml.gz", "/robots.txt"], "\(run.describe)")
        let sitemaps = Self.sitemapRecords(run)
        let big = Self.summary(sitemaps[f.url("sitemap-big", "/big.xml")])
        #expect(big?["entries"] as? Int == 50_000 && big?["truncated"] as? String == "max_entries", "\(String(describing: big))")
        let bomb = Self.summary(sitemaps[f.url("sitemap-big", "/bomb.xml.gz")])
        #expect(bomb?["entries"] as? Int == 2 && bomb?["truncated"] as? String == "max_bytes", "\(String(describing: bomb))")
        #expect(run.notFollowed["max_depth"] == 50_002, "\(run.result.stderrText)")
    }
}
