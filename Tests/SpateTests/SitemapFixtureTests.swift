import Foundation
import Testing
@testable import Spate

/// The sitemap crawl sites of `http_fixture.py` (`sitemap.crawl.test`, `sitemap-big.crawl.test`)
/// serve what CRAWL_ROUTES says: each route is fetched with the built `spate fetch --save`
/// (names through the loopback DNS fixture), and the saved bodies are read with
/// ``SitemapReader`` and ``RobotsRules``. The crawler's end-to-end tests rely on these
/// documents for their exact fetch sets.
@Suite(.serialized) struct SitemapFixtureTests {
    typealias Record = [String: Any]

    @Test func sitemapSitesServeWhatTheirCommentsSay() async throws {
        let http = try HTTPFixture(tls: false)
        let dns = try DNSFixture()
        defer {
            http.stop()
            dns.stop()
        }
        for site in ["sitemap", "sitemap-big"] {
            dns.set("\(site).crawl.test", .records([.a("127.0.0.1", ttl: 300)]))
        }
        let a = "http://sitemap.crawl.test:\(http.port4)"
        let b = "http://sitemap-big.crawl.test:\(http.port4)"
        let other = "http://other.crawl.test:\(http.port4)"

        let leaves = [
            "/linked-1.html", "/linked-2.html", "/only-sitemap-1.html", "/only-sitemap-1b.html", "/only-sitemap-2.html",
            "/only-sitemap-3.html", "/only-sitemap-3b.html", "/only-text.html", "/cdata.html", "/q?x=1&y=2",
            "/before-break.html", "/broken-entry.html", "/after-break.html", "/hidden.html", "/private/secret.html",
            "/a/a/a/a/trap.html", "/img/never.jpg",
        ].map { a + $0 } + ["/p/0.html", "/p/49999.html", "/p/50009.html", "/bomb-1.html", "/bomb-after.html"].map { b + $0 }
        let missing = [a + "/nothing.html", a + "/sitemap.xml", b + "/p/50010.html", b + "/p/007.html", b + "/p/x.html"]
        let documents = ["/robots.txt", "/", "/sitemap_index.xml", "/sitemap1.xml", "/sitemap2.xml.gz", "/sitemap3.xml",
                         "/sitemap.txt", "/broken.xml", "/private/sitemap-hidden.xml"].map { a + $0 }
            + ["/robots.txt", "/", "/big.xml", "/bomb.xml.gz"].map { b + $0 }

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spate-sitemap-fixture-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try TempFile(lines: documents + leaves + missing, name: "sitemap-fixture")
        defer { file.remove() }
        let result = try await runSpate(["fetch", "--resolver", dns.address, "--no-hosts-file", "--resolv-conf",
                                         FetchTestSupport.resolvConf, "--save", dir, file.path], timeLimit: 60)
        let records = try EndToEndTests.records(result)
        #expect(records.count == documents.count + leaves.count + missing.count, "\(EndToEndTests.describe(result))")
        var byURL: [String: Record] = [:]
        for r in records { if let input = r["input"] as? String { byURL[input] = r } }

        func value(_ url: String) -> Record? { byURL[url]?["value"] as? Record }
        func status(_ url: String) -> Int? { value(url)?["status"] as? Int }
        func body(_ url: String) throws -> [UInt8] {
            let path = try #require(value(url)?["saved"] as? String, "no saved body for \(url): \(String(describing: byURL[url]))")
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        func sitemap(_ url: String) throws -> (locs: [String], summary: SitemapSummary) {
            #expect(status(url) == 200, "\(url)")
            let r = SitemapReader.read(try body(url))
            return (r.entries.map(\.loc), r.summary)
        }

        for url in documents + leaves { #expect(status(url) == 200, "\(url): \(String(describing: byURL[url]))") }
        for url in missing { #expect(status(url) == 404, "\(url)") }

        // robots.txt: the Sitemap lines, and /private/ disallowed.
        let robots = RobotsRules(parsing: try body(a + "/robots.txt"), productToken: "spate")
        #expect(robots.sitemaps == [a + "/sitemap_index.xml", a + "/sitemap.txt", a + "/broken.xml", other + "/sitemap.xml"])
        #expect(!robots.decide("/private/sitemap-hidden.xml").allowed && !robots.decide("/private/secret.html").allowed)
        #expect(robots.decide("/sitemap1.xml").allowed && robots.decide("/a/a/a/a/trap.html").allowed)
        let bigRobots = RobotsRules(parsing: try body(b + "/robots.txt"), productToken: "spate")
        #expect(bigRobots.sitemaps == [b + "/big.xml", b + "/bomb.xml.gz"] && bigRobots.decide("/p/1.html").allowed)

        // The home pages link only what the comments say.
        let home = LinkExtractor.extract(try body(a + "/")).links.map(\.url)
        #expect(home == ["/linked-1.html", "/linked-2.html"])
        #expect(LinkExtractor.extract(try body(b + "/")).links.isEmpty)

        let index = try sitemap(a + "/sitemap_index.xml")
        #expect(index.summary.kind == .sitemapindex && index.summary.error == nil)
        #expect(index.locs == ["/sitemap1.xml", "/sitemap2.xml.gz", "/sitemap3.xml", "/sitemap.txt", "/private/sitemap-hidden.xml"].map { a + $0 }
                + [other + "/sitemap-other.xml"])

        let one = try sitemap(a + "/sitemap1.xml")
        #expect(one.summary.kind == .urlset && one.summary.error == nil && !one.summary.gzip)
        #expect(one.locs == ["/only-sitemap-1.html", "/linked-1.html", "/q?x=1&y=2", "/cdata.html", "/private/secret.html",
                             "/a/a/a/a/trap.html"].map { a + $0 } + [other + "/x.html", a + "/only-sitemap-1b.html"])

        // Served as application/x-gzip: still compressed when it arrives.
        #expect(value(a + "/sitemap2.xml.gz")?["content_type"] as? String == "application/x-gzip")
        let two = try sitemap(a + "/sitemap2.xml.gz")
        #expect(two.summary.kind == .urlset && two.summary.gzip && two.summary.error == nil)
        #expect(two.locs == [a + "/only-sitemap-2.html", a + "/linked-2.html"])

        // Content-Encoding: gzip: curl decodes it.
        let three = try sitemap(a + "/sitemap3.xml")
        #expect(three.summary.kind == .urlset && !three.summary.gzip && three.summary.error == nil)
        #expect(three.locs == [a + "/only-sitemap-3.html", a + "/only-sitemap-3b.html"])

        let text = try sitemap(a + "/sitemap.txt")
        #expect(text.summary.kind == .text && text.summary.skipped == 1 && text.summary.error == nil)
        #expect(text.locs == [a + "/only-text.html", a + "/linked-1.html", other + "/y.html"])

        let broken = try sitemap(a + "/broken.xml")
        #expect(broken.summary.error?.code == .malformed && broken.locs == [a + "/before-break.html"])

        #expect(try sitemap(a + "/private/sitemap-hidden.xml").locs == [a + "/hidden.html"])

        // sitemap-big: 50,010 entries, read up to 50,000; the bomb stops at 50 MiB.
        let big = try sitemap(b + "/big.xml")
        #expect(big.summary.truncated == .maxEntries && big.summary.error == nil)
        #expect(big.locs == (0..<50_000).map { b + "/p/\($0).html" })
        let bombBytes = try body(b + "/bomb.xml.gz")
        #expect(bombBytes.count < 100_000)
        let bomb = try sitemap(b + "/bomb.xml.gz")
        #expect(bomb.summary.truncated == .maxBytes && bomb.summary.gzip && bomb.summary.bytes == 52_428_800)
        #expect(bomb.locs == [b + "/bomb-1.html", b + "/bomb-2.html"])
        // Without the limit the last entry would be there: the bomb really is bigger than 50 MiB.
        var unlimited = SitemapLimits()
        unlimited.maxBytes = .max
        #expect(SitemapReader.read(bombBytes, limits: unlimited).entries.map(\.loc).last == b + "/bomb-after.html")
    }
}
