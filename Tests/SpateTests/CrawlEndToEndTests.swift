import Foundation
import Glibc
import Testing

/// End-to-end tests of the built `spate crawl` binary against the crawl sites of the loopback
/// HTTP fixture (`http_fixture.py`: hosts `NAME.crawl.test`, see its CRAWL_ROUTES), with every
/// name resolved by the loopback DNS fixture (`--resolver <fixture> --no-hosts-file
/// --resolv-conf <no search list>`), never the system resolver.
///
/// Each test checks what the server saw (GET /__crawllog: every request to a `.crawl.test`
/// host, with start and end times) as well as the records: the exact set of paths requested,
/// that none was requested twice, that robots.txt came first and once per host, and the exact
/// set of record URLs. Serialized: several tests measure concurrency or time at the server.
@Suite(.serialized) struct CrawlEndToEndTests {
    typealias Record = [String: Any]

    /// Every crawl site the tests use (each gets an A record for 127.0.0.1).
    static let sites = [
        "basic", "other", "robots-rules", "robots-404", "robots-500", "robots-slow", "robots-redirect",
        "robots-toomany", "robots-delay", "calendar", "session", "repeat", "farm", "slow", "ratelimited",
        "big", "dead", "sitemap", "sitemap-big", "nofollow-seen", "slower",
    ]

    // MARK: - Fixtures and runs

    struct Fixtures {
        let http: HTTPFixture
        let dns: DNSFixture

        init() throws {
            http = try HTTPFixture(tls: false)
            dns = try DNSFixture()
            for site in CrawlEndToEndTests.sites {
                dns.set("\(site).crawl.test", .records([.a("127.0.0.1", ttl: 300)]))
            }
        }

        func stop() {
            http.stop()
            dns.stop()
        }

        var port: Int { http.port4 }

        /// `site.crawl.test:PORT`: the Host header, and the key of /__stats "hosts".
        func authority(_ site: String) -> String { "\(site).crawl.test:\(port)" }

        /// `http://site.crawl.test:PORT` + `path`.
        func url(_ site: String, _ path: String) -> String { "http://\(authority(site))\(path)" }

        /// `spate crawl` with the DNS fixture as its only resolver.
        func args(_ extra: [String]) -> [String] {
            ["crawl", "--resolver", dns.address, "--no-hosts-file", "--resolv-conf", FetchTestSupport.resolvConf] + extra
        }

        /// Crawls from `seeds` (written to a file; `asArguments`: given as URL arguments
        /// instead) and collects the records and the server's request log.
        func crawl(_ seeds: [String], _ extra: [String] = [], asArguments: Bool = false, timeLimit: Double = 60)
            async throws -> CrawlRun
        {
            try http.reset()
            let result: SpateProcess.Result
            if asArguments {
                result = try await runSpate(args(extra + seeds), timeLimit: timeLimit)
            } else {
                let file = try TempFile(lines: seeds, name: "crawl")
                defer { file.remove() }
                result = try await runSpate(args(extra + [file.path]), timeLimit: timeLimit)
            }
            return CrawlRun(result: result, records: try EndToEndTests.records(result),
                            log: try http.crawlLog().map(LogEntry.init))
        }
    }

    /// One request the server saw.
    struct LogEntry: CustomStringConvertible {
        var host: String
        var path: String
        var start: Double
        var end: Double?
        var status: Int?

        init(_ raw: [String: Any]) {
            host = raw["host"] as? String ?? ""
            path = raw["path"] as? String ?? ""
            start = CrawlEndToEndTests.number(raw["start"]) ?? -1
            end = CrawlEndToEndTests.number(raw["end"])
            status = (raw["status"] as? NSNumber)?.intValue
        }

        var site: String { String(host.split(separator: ".").first ?? "") }
        var description: String {
            "\(host)\(path) \(status.map(String.init) ?? "-") @\(String(format: "%.1f", start))"
        }
    }

    struct CrawlRun {
        var result: SpateProcess.Result
        var records: [Record]
        var log: [LogEntry]

        /// Requests to `site`, in start order.
        func requests(_ site: String) -> [LogEntry] {
            log.filter { $0.site == site }.sorted { $0.start < $1.start }
        }

        /// The paths requested on `site`, robots.txt included.
        func paths(_ site: String) -> [String] { requests(site).map(\.path) }

        /// The records of robots.txt fetches.
        var robotsRecords: [Record] { records.filter { $0["robots_txt"] as? Bool == true } }
        /// Every other record (pages, denied and abandoned URLs).
        var pageRecords: [Record] { records.filter { $0["robots_txt"] as? Bool != true } }

        /// The records of `url` (compared with ``CrawlEndToEndTests/recordURL(_:)``).
        func records(for url: String) -> [Record] { records.filter { CrawlEndToEndTests.recordURL($0) == url } }
        func record(_ url: String) -> Record? {
            let found = records(for: url)
            return found.count == 1 ? found[0] : nil
        }

        /// The page records' URLs.
        var pageURLs: [String] { pageRecords.compactMap(CrawlEndToEndTests.recordURL) }

        /// `name count` pairs of the summary line "links not followed: …" (stderr).
        var notFollowed: [String: Int] { CrawlEndToEndTests.notFollowed(result.stderrText) }

        var describe: String {
            "\(EndToEndTests.describe(result))\nrequests: \(log.map(\.description).joined(separator: ", "))"
        }
    }

    // MARK: - Helpers

    static func number(_ any: Any?) -> Double? {
        if any is NSNull { return nil }
        if let d = any as? Double { return d }
        if let i = any as? Int { return Double(i) }
        return (any as? NSNumber)?.doubleValue
    }

    static func value(_ r: Record?) -> Record? { r?["value"] as? Record }
    static func exceptionType(_ r: Record?) -> String? { (r?["exception"] as? Record)?["type"] as? String }
    static func via(_ r: Record?) -> String? { (r?["discovered_via"] as? Record)?["type"] as? String }
    static func status(_ r: Record?) -> Int? { value(r)?["status"] as? Int }

    /// The URL a record is about: value.url when fetched, otherwise its input.
    static func recordURL(_ r: Record) -> String? {
        (value(r)?["url"] as? String) ?? (r["input"] as? String)
    }

    /// The counts of the summary line "links not followed: name count, …" on stderr.
    static func notFollowed(_ stderr: String) -> [String: Int] {
        guard let line = stderr.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) })
            .first(where: { $0.hasPrefix("links not followed:") || $0.hasPrefix("not followed:") }),
            let colon = line.range(of: "not followed:")
        else { return [:] }
        var out: [String: Int] = [:]
        let words = line[colon.upperBound...]
            .split(whereSeparator: { $0 == " " || $0 == "," || $0 == ";" || $0 == "\t" }).map(String.init)
        var i = 0
        while i + 1 < words.count {
            if let n = Int(words[i + 1]) {
                out[words[i].trimmingCharacters(in: CharacterSet(charactersIn: ":="))] = n
                i += 2
            } else {
                i += 1
            }
        }
        return out
    }

    /// N of the summary's "spate crawl: N jobs, …" (stderr).
    static func summaryJobCount(_ stderr: String) -> Int? {
        guard let r = stderr.range(of: "spate crawl: ") else { return nil }
        let digits = stderr[r.upperBound...].prefix { $0.isNumber || $0 == "," }.filter { $0 != "," }
        return Int(digits)
    }

    static func isRobotsPath(_ path: String) -> Bool {
        path == "/robots.txt" || path == "/robots-2.txt" || path == "/robots-final.txt" || path.hasPrefix("/rr/")
    }

    /// What every crawl must do at the server and in its records:
    /// - no path requested twice on a host (but those in `repeats`);
    /// - robots.txt (and its redirect chain) requested once per host, first, and answered
    ///   before any other request to that host starts (unless `robots` is false: never);
    /// - every record's job unique, and at most one record per URL;
    /// - each host crawled has one robots.txt record.
    static func checkInvariants(_ run: CrawlRun, robots: Bool = true, repeats: Set<String> = [],
                                robotsTries: Int = 1, sourceLocation: SourceLocation = #_sourceLocation)
    {
        let d = run.describe
        // One record per job: the summary's job count is the number of records.
        let summaryJobs = summaryJobCount(run.result.stderrText)
        let jobsText = summaryJobs.map(String.init) ?? "-"
        #expect(summaryJobs == run.records.count, "summary: \(jobsText) jobs, \(run.records.count) records; \(d)",
                sourceLocation: sourceLocation)
        var jobs: Set<Int> = []
        for r in run.records {
            let job = r["job"] as? Int ?? -1
            #expect(job >= 0 && jobs.insert(job).inserted, "job \(job) twice or missing: \(r)", sourceLocation: sourceLocation)
        }
        var urls: [String: Int] = [:]
        for r in run.records { if let u = recordURL(r) { urls[u, default: 0] += 1 } }
        for (u, n) in urls where n > 1 {
            Issue.record("\(n) records for \(u)", sourceLocation: sourceLocation)
        }

        let hosts = Set(run.log.map(\.host))
        for host in hosts.sorted() {
            let entries = run.log.filter { $0.host == host }.sorted { $0.start < $1.start }
            var counts: [String: Int] = [:]
            for e in entries { counts[e.path, default: 0] += 1 }
            for (path, n) in counts where n > 1 && !repeats.contains(path) && !(isRobotsPath(path) && n == robotsTries) {
                Issue.record("\(host)\(path) requested \(n) times; \(d)", sourceLocation: sourceLocation)
            }
            let robotsEntries = entries.filter { isRobotsPath($0.path) }
            let pages = entries.filter { !isRobotsPath($0.path) }
            if !robots {
                #expect(robotsEntries.isEmpty, "\(host): robots.txt fetched with --ignore-robots; \(d)",
                        sourceLocation: sourceLocation)
                continue
            }
            #expect(counts["/robots.txt"] == robotsTries, "\(host): /robots.txt requested \(counts["/robots.txt"] ?? 0) times; \(d)",
                    sourceLocation: sourceLocation)
            #expect(entries.first?.path == "/robots.txt", "\(host): first request \(entries.first?.path ?? "-"); \(d)",
                    sourceLocation: sourceLocation)
            if let last = robotsEntries.last, let first = pages.first {
                // `end` is noted as the response's last write begins: before the client has it.
                let end = last.end ?? .infinity
                #expect(first.start >= end, "\(host): \(first.path) started before robots.txt was answered; \(d)",
                        sourceLocation: sourceLocation)
                #expect(robotsEntries.allSatisfy { $0.start <= first.start }, "\(host): robots chain after a page; \(d)",
                        sourceLocation: sourceLocation)
            }
            let site = host.replacingOccurrences(of: ".crawl.test", with: "")
            let robotsRecords = run.robotsRecords.filter { recordURL($0)?.contains("//\(site).crawl.test:") == true }
            #expect(robotsRecords.count == 1, "\(host): \(robotsRecords.count) robots.txt records",
                    sourceLocation: sourceLocation)
        }
        if !robots {
            #expect(run.robotsRecords.isEmpty, "robots.txt records with --ignore-robots", sourceLocation: sourceLocation)
        }
    }

    /// Checks that every non-robots record was fetched successfully with a 2xx or 3xx status.
    static func checkAllFetched(_ run: CrawlRun, sourceLocation: SourceLocation = #_sourceLocation) {
        for r in run.pageRecords {
            #expect(r["started"] as? Bool == false && r["ready"] as? Bool == true && r["successful"] as? Bool == true,
                    "\(r)", sourceLocation: sourceLocation)
            #expect(r["exception"] is NSNull, "\(r)", sourceLocation: sourceLocation)
            let s = status(r) ?? 0
            #expect(s >= 200 && s < 400, "\(r)", sourceLocation: sourceLocation)
        }
    }

    /// The start gaps (ms) between consecutive requests of `entries` (in start order).
    static func gaps(_ entries: [LogEntry]) -> [Double] {
        zip(entries.dropFirst(), entries).map { $0.start - $1.start }
    }

    // MARK: - 1. The basic site: link extraction and following

    /// Paths the default crawl of basic / requests (robots.txt aside).
    static let basicPaths: Set<String> = [
        "/", "/a.html", "/b.html", "/c.html", "/d.html", "/e.html", "/q?a=1&b=2", "/q?b=2&a=1", "/doc.txt",
        "/redirect-in", "/g.html", "/redirect-out", "/sub/", "/base/h.html", "/broken.html", "/i.html", "/j.html",
        "/meta-nofollow.html", "/xrobots.html", "/refresh.html", "/m.html", "/canon.html",
    ]

    @Test func basicSiteFollowsExactlyTheRightLinks() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("basic", "/")], ["--links"])
        let d = run.describe
        #expect(run.result.exited && run.result.status == 0, "\(d)")
        Self.checkInvariants(run)
        Self.checkAllFetched(run)

        // At the server: exactly these, and nothing on other.crawl.test (out of scope).
        #expect(Set(run.paths("basic")) == Self.basicPaths.union(["/robots.txt"]), "\(d)")
        #expect(run.paths("other").isEmpty, "\(d)")
        #expect(f.dns.queries(for: "other.crawl.test").isEmpty, "an out-of-scope host was resolved")
        // Never: a link in a comment or a script string, text/plain, nofollow in any form.
        for never in ["/f.html", "/never.html", "/nofollow.html", "/k.html", "/l.html"] {
            #expect(!run.paths("basic").contains(never), "\(never) was fetched")
        }

        // Records: one per admitted URL, robots.txt one of them.
        #expect(Set(run.pageURLs) == Set(Self.basicPaths.map { f.url("basic", $0) }), "\(run.pageURLs.sorted())")
        #expect(run.pageRecords.count == Self.basicPaths.count)
        #expect(run.robotsRecords.map(Self.recordURL) == [f.url("basic", "/robots.txt")])
        let robots = run.robotsRecords.first
        #expect(Self.status(robots) == 404 && Self.via(robots) == "robots", "\(String(describing: robots))")

        // The seed.
        let root = try #require(run.record(f.url("basic", "/")), "no single record for /")
        let rootURL = f.url("basic", "/")
        #expect(Self.via(root) == "seed" && root["depth"] as? Int == 0, "\(root)")
        #expect(root["parent"] is NSNull, "\(root)")
        #expect(Self.value(root)?["title"] as? String == "basic home")
        #expect(Self.value(root)?["content_type"] as? String == "text/html; charset=utf-8")
        #expect((Self.value(root)?["body_sha256"] as? String)?.count == 64)

        // Links found on /: each relative form resolved; fragments dropped; entities decoded.
        for path in ["/a.html", "/b.html", "/c.html", "/d.html", "/e.html", "/q?a=1&b=2", "/q?b=2&a=1", "/doc.txt",
                     "/redirect-in", "/redirect-out", "/sub/", "/broken.html", "/meta-nofollow.html", "/xrobots.html",
                     "/refresh.html", "/canon.html"]
        {
            let r = run.record(f.url("basic", path))
            #expect(Self.via(r) == "link", "\(path): \(String(describing: r))")
            #expect(r?["depth"] as? Int == 1 && r?["parent"] as? String == rootURL, "\(path): \(String(describing: r))")
            let via = r?["discovered_via"] as? Record
            #expect(via?["tag"] as? String == "a" && via?["attribute"] as? String == "href", "\(path): \(String(describing: via))")
        }
        let links = try #require(Self.value(root)?["links"] as? [Record], "--links: no value.links on /")
        func linkStatus(_ url: String) -> [String] {
            links.filter { $0["url"] as? String == url }.compactMap { $0["status"] as? String }
        }
        #expect(linkStatus(f.url("basic", "/a.html")) == ["new"], "\(links)")
        #expect(linkStatus(f.url("basic", "/e.html")).sorted() == ["new", "seen"], "fragments: \(links)")
        #expect(linkStatus(f.url("basic", "/q?a=1&b=2")) == ["new"], "\(links)")
        #expect(linkStatus(f.url("basic", "/nofollow.html")) == ["nofollow"], "\(links)")
        #expect(linkStatus(f.url("other", "/x.html")) == ["out_of_scope"], "\(links)")
        #expect(linkStatus("mailto:x@y") == ["not_http"], "\(links)")
        #expect(linkStatus("javascript:void(0)") == ["not_http"], "\(links)")
        #expect(!links.contains { ($0["url"] as? String)?.contains("/f.html") == true }, "comment/script link: \(links)")
        let nofollowLink = links.first { $0["url"] as? String == f.url("basic", "/nofollow.html") }
        #expect(nofollowLink?["nofollow"] as? Bool == true && nofollowLink?["rel"] as? String == "nofollow",
                "\(String(describing: nofollowLink))")
        #expect(links.first { $0["url"] as? String == f.url("basic", "/a.html") }?["in_scope"] as? Bool == true)
        let outlinks = Self.value(root)?["outlinks"] as? Record
        // 21 links (f.html is in a comment and a script: none); 18 in scope (not mailto:,
        // javascript:, other.crawl.test); 16 new (e.html twice, /nofollow.html not followed).
        #expect(outlinks?["total"] as? Int == 21 && outlinks?["in_scope"] as? Int == 18 && outlinks?["new"] as? Int == 16,
                "\(String(describing: outlinks))")

        // Redirects: the 3xx page is its own record; its in-scope target a new one.
        let redirectIn = run.record(f.url("basic", "/redirect-in"))
        #expect(Self.status(redirectIn) == 301, "\(String(describing: redirectIn))")
        let g = run.record(f.url("basic", "/g.html"))
        #expect(Self.via(g) == "redirect" && g?["parent"] as? String == f.url("basic", "/redirect-in"), "\(String(describing: g))")
        #expect(g?["depth"] as? Int == 1, "a redirect keeps its page's depth: \(String(describing: g))")
        #expect(redirectIn?["depth"] as? Int == 1)
        #expect(Self.status(run.record(f.url("basic", "/redirect-out"))) == 302)
        #expect(run.records(for: f.url("other", "/y.html")).isEmpty, "out-of-scope redirect target got a record")

        // <base href>, broken HTML, text/plain.
        let h = run.record(f.url("basic", "/base/h.html"))
        #expect(h?["depth"] as? Int == 2 && h?["parent"] as? String == f.url("basic", "/sub/"), "\(String(describing: h))")
        #expect(run.record(f.url("basic", "/i.html"))?["parent"] as? String == f.url("basic", "/broken.html"))
        #expect(run.record(f.url("basic", "/j.html"))?["parent"] as? String == f.url("basic", "/broken.html"))
        let doc = Self.value(run.record(f.url("basic", "/doc.txt")))
        #expect(doc?["content_type"] as? String == "text/plain; charset=utf-8")
        #expect((doc?["outlinks"] as? Record)?["total"] as? Int == 0, "text/plain was parsed: \(String(describing: doc))")

        // Page-level nofollow, meta refresh, canonical.
        let metaNofollow = Self.value(run.record(f.url("basic", "/meta-nofollow.html")))
        #expect((metaNofollow?["meta_robots"] as? String)?.contains("nofollow") == true, "\(String(describing: metaNofollow))")
        let xrobots = Self.value(run.record(f.url("basic", "/xrobots.html")))
        #expect((xrobots?["x_robots_tag"] as? String)?.contains("nofollow") == true, "\(String(describing: xrobots))")
        #expect(xrobots?["noindex"] as? Bool == false)
        let m = run.record(f.url("basic", "/m.html"))
        #expect(m?["parent"] as? String == f.url("basic", "/refresh.html") && m?["depth"] as? Int == 2, "\(String(describing: m))")
        let mVia = m?["discovered_via"] as? Record
        #expect(mVia?["tag"] as? String == "meta" && mVia?["attribute"] as? String == "content", "\(String(describing: mVia))")
        // rel_canonical is the href as written (spate does not resolve it).
        let canon = Self.value(run.record(f.url("basic", "/canon.html")))
        let relCanonical = canon?["rel_canonical"] as? String
        #expect(relCanonical == "/a.html" || relCanonical == f.url("basic", "/a.html"), "\(String(describing: canon))")
        #expect(Self.value(run.record(f.url("basic", "/a.html")))?["rel_canonical"] is NSNull)

        // Summary: the links not followed, by reason.
        // Out of scope: other.crawl.test/x.html (link) and /y.html (redirect). Nofollow:
        // /nofollow.html (rel), /k.html (meta robots), /l.html (X-Robots-Tag). Seen: e.html#other
        // and <link rel=canonical href=/a.html> (not the unterminated <a href="/i.html at the end
        // of /broken.html: a tag cut by the end of file is dropped).
        let nf = run.notFollowed
        #expect(nf["not_http"] == 2, "\(nf); \(run.result.stderrText)")
        #expect(nf["out_of_scope"] == 2, "\(nf)")
        #expect(nf["nofollow"] == 3, "\(nf)")
        #expect(nf["seen"] == 2, "\(nf)")
    }

    @Test func sortQueryMergesQueryOrderDuplicates() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("basic", "/")], ["--sort-query"])
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run)
        let q = run.paths("basic").filter { $0.hasPrefix("/q") }
        #expect(q.count == 1, "query-order duplicates fetched \(q.count) times: \(q)")
        let expected = Self.basicPaths.subtracting(["/q?a=1&b=2", "/q?b=2&a=1"]).union(["/robots.txt"])
        #expect(Set(run.paths("basic").filter { !$0.hasPrefix("/q") }) == expected, "\(run.describe)")
        #expect(run.pageRecords.count == Self.basicPaths.count - 1)
    }

    @Test func followNofollowFollowsEveryKindOfNofollow() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("basic", "/")], ["--follow-nofollow"])
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run)
        Self.checkAllFetched(run)
        let expected = Self.basicPaths.union(["/robots.txt", "/nofollow.html", "/k.html", "/l.html"])
        #expect(Set(run.paths("basic")) == expected, "\(run.describe)")
        #expect(run.paths("other").isEmpty)
    }

    @Test func scopeAnyFollowsOffsiteLinksAndRedirects() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("basic", "/")], ["--scope", "any"])
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run)
        Self.checkAllFetched(run)
        #expect(Set(run.paths("basic")) == Self.basicPaths.union(["/robots.txt"]), "\(run.describe)")
        #expect(Set(run.paths("other")) == ["/robots.txt", "/x.html", "/y.html"], "\(run.describe)")
        let y = run.record(f.url("other", "/y.html"))
        #expect(Self.via(y) == "redirect", "\(String(describing: y))")
        #expect(y?["parent"] as? String == f.url("basic", "/redirect-out"))
        #expect(Self.via(run.record(f.url("other", "/x.html"))) == "link")
        #expect(run.pageRecords.count == Self.basicPaths.count + 2)
    }

    @Test func excludeAndIncludePatterns() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        // --exclude: b.html and c.html are not followed (the seed itself is never filtered).
        let run = try await f.crawl([f.url("basic", "/")], ["--exclude", "/[bc]\\.html$"])
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run)
        #expect(Set(run.paths("basic")) == Self.basicPaths.subtracting(["/b.html", "/c.html"]).union(["/robots.txt"]),
                "\(run.describe)")
        #expect(run.notFollowed["excluded"] == 2, "\(run.notFollowed)")

        // --include: only links matching it are followed.
        let only = try await f.crawl([f.url("basic", "/")], ["--include", "/[ab]\\.html$"])
        Self.checkInvariants(only)
        #expect(Set(only.paths("basic")) == ["/robots.txt", "/", "/a.html", "/b.html"], "\(only.describe)")
    }

    // MARK: - 2. robots.txt

    @Test func robotsRulesLongestMatchTiesWildcardsAndAnchors() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        // (robots.txt's Sitemap line, a 404, is left out here: CrawlSitemapTests covers sitemaps.)
        let run = try await f.crawl([f.url("robots-rules", "/")], ["--links", "--no-sitemaps"])
        let d = run.describe
        #expect(run.result.exited && run.result.status == 0, "denied URLs are declined, not failures: \(d)")
        Self.checkInvariants(run)
        let allowed: Set<String> = ["/", "/public.html", "/private/open.html", "/doc.pdf?x=1", "/tmp/ok/file.html",
                                    "/tie.html", "/shop/item.html"]
        let denied: Set<String> = ["/private/secret.html", "/doc.pdf", "/tmp/file.html", "/tmpfile.html",
                                   "/a/b/secret-x.html", "/shop/item.php"]
        #expect(Set(run.paths("robots-rules")) == allowed.union(["/robots.txt"]), "\(d)")
        #expect(Set(run.pageURLs) == Set(allowed.union(denied).map { f.url("robots-rules", $0) }), "\(run.pageURLs.sorted())")
        for path in allowed {
            let r = run.record(f.url("robots-rules", path))
            #expect(r?["successful"] as? Bool == true && Self.status(r) == 200, "\(path): \(String(describing: r))")
        }
        for path in denied {
            let r = run.record(f.url("robots-rules", path))
            #expect(Self.exceptionType(r) == "robots_denied", "\(path): \(String(describing: r))")
            #expect(r?["successful"] as? Bool == false && r?["value"] is NSNull, "\(path): \(String(describing: r))")
            #expect(r?["robots"] is Record, "\(path): no robots decision: \(String(describing: r))")
        }
        // The robots.txt record: the Spate group (not *), no Crawl-delay, the sitemap (not fetched).
        let robots = try #require(run.robotsRecords.first)
        #expect(Self.status(robots) == 200)
        let info = try #require(Self.value(robots)?["robots"] as? Record, "no value.robots: \(robots)")
        #expect(info["crawl_delay"] is NSNull, "\(info)")
        #expect(info["sitemaps"] as? [String] == [f.url("robots-rules", "/sitemap.xml")], "\(info)")
        #expect(info["group"] as? String != "*" && !(info["group"] is NSNull), "\(info)")
    }

    @Test func robotsGroupIsChosenByTheUserAgentToken() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        // otherbot shares the Spate group.
        let other = try await f.crawl([f.url("robots-rules", "/")], ["--user-agent", "otherbot/2.0 (+test)", "--no-sitemaps"])
        Self.checkInvariants(other)
        #expect(Set(other.paths("robots-rules")) == ["/robots.txt", "/", "/public.html", "/private/open.html", "/doc.pdf?x=1",
                                                    "/tmp/ok/file.html", "/tie.html", "/shop/item.html"], "\(other.describe)")
        // Any other token falls to "User-agent: *", which disallows everything.
        let stranger = try await f.crawl([f.url("robots-rules", "/")], ["--user-agent", "strangebot/1.0", "--no-sitemaps"])
        #expect(stranger.result.exited && stranger.result.status == 0, "\(stranger.describe)")
        Self.checkInvariants(stranger)
        #expect(stranger.paths("robots-rules") == ["/robots.txt"], "\(stranger.describe)")
        #expect(stranger.pageRecords.count == 1)
        #expect(Self.exceptionType(stranger.record(f.url("robots-rules", "/"))) == "robots_denied")
        // --ignore-robots: robots.txt is never asked for; every link is followed.
        let ignoring = try await f.crawl([f.url("robots-rules", "/")], ["--user-agent", "strangebot/1.0", "--ignore-robots"])
        Self.checkInvariants(ignoring, robots: false)
        #expect(ignoring.paths("robots-rules").count == 13, "\(ignoring.describe)")
        #expect(!ignoring.pageRecords.contains { Self.exceptionType($0) == "robots_denied" }, "\(ignoring.records)")
    }

    @Test func robots404AllowsEverything() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("robots-404", "/")])
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run)
        Self.checkAllFetched(run)
        #expect(Set(run.paths("robots-404")) == ["/robots.txt", "/", "/a.html", "/b.html"], "\(run.describe)")
        #expect(Set(run.pageURLs) == Set(["/", "/a.html", "/b.html"].map { f.url("robots-404", $0) }))
    }

    // robots.txt that answers 5xx, times out or cannot be reached: nothing else is fetched
    // (RFC 9309 fails closed). spate gives the URLs `robots_unreachable` — a failure, unlike
    // the policy decision `robots_denied` (README) — so the run exits 1.
    @Test func robots500DisallowsEverything() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("robots-500", "/")])
        #expect(run.result.exited && run.result.status == 1, "\(run.describe)")
        Self.checkInvariants(run)
        #expect(run.paths("robots-500") == ["/robots.txt"], "\(run.describe)")
        #expect(run.pageURLs == [f.url("robots-500", "/")])
        let seed = run.pageRecords.first
        #expect(Self.exceptionType(seed) == "robots_unreachable", "\(String(describing: seed))")
        #expect(seed?["successful"] as? Bool == false && seed?["ready"] as? Bool == true && seed?["value"] is NSNull)
        #expect((seed?["robots"] as? Record)?["allowed"] as? Bool == false, "\(String(describing: seed))")
        let robots = run.robotsRecords.first
        #expect(Self.status(robots) == 500 && robots?["successful"] as? Bool == true, "\(String(describing: robots))")
    }

    @Test func robotsTimeoutDisallowsEverything() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        // --retries 0: robots.txt is asked for once, and given up after --max-time.
        let run = try await f.crawl([f.url("robots-slow", "/")], ["--max-time", "1", "--retries", "0"])
        Self.checkInvariants(run)
        #expect(run.result.exited && run.result.status == 1, "\(run.describe)")
        #expect(run.result.seconds < 2.5, "waited for the slow robots.txt: \(run.result.seconds) s")
        #expect(run.paths("robots-slow") == ["/robots.txt"], "\(run.describe)")
        #expect(run.pageURLs == [f.url("robots-slow", "/")])
        #expect(Self.exceptionType(run.pageRecords.first) == "robots_unreachable", "\(run.records)")
        #expect(Self.exceptionType(run.robotsRecords.first) == "timeout", "\(run.robotsRecords)")

        // Default --retries 2: robots.txt is tried three times, still one record each.
        let retried = try await f.crawl([f.url("robots-slow", "/")], ["--max-time", "1"])
        #expect(retried.result.exited && retried.result.status == 1, "\(retried.describe)")
        Self.checkInvariants(retried, robotsTries: 3)
        #expect(retried.paths("robots-slow") == ["/robots.txt", "/robots.txt", "/robots.txt"], "\(retried.describe)")
        #expect(retried.records.count == 2, "\(retried.records)")
        #expect(Self.exceptionType(retried.pageRecords.first) == "robots_unreachable", "\(retried.records)")
        #expect(Self.exceptionType(retried.robotsRecords.first) == "timeout", "\(retried.robotsRecords)")
        #expect(Self.value(retried.robotsRecords.first) == nil)
    }

    @Test func robotsUnreachableHostGivesEverySeedOneRecord() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let closed = try FetchTestSupport.closedPort()
        let seeds = (1...5).map { "http://dead.crawl.test:\(closed)/\($0).html" }
        let run = try await f.crawl(seeds, ["--retries", "0", "--max-host-errors", "2"])
        #expect(run.result.exited && run.result.status == 1, "\(run.describe)")
        #expect(run.records.count == 6, "\(run.records)")
        for seed in seeds {
            let found = run.records(for: seed)
            #expect(found.count == 1, "\(seed): \(found)")
            #expect(Self.exceptionType(found.first) == "robots_unreachable", "\(String(describing: found.first))")
        }
        #expect(run.robotsRecords.map(Self.exceptionType) == ["connect_refused"], "\(run.robotsRecords)")
    }

    /// The robots.txt redirect chain is followed (one record), and its final rules apply.
    /// Run up to five times: / has /no/x.html (denied) before /yes.html, and a denied first
    /// link has been seen to end the crawl early, intermittently without --delay (see
    /// ``aDeniedFirstLinkDoesNotEndTheCrawl()``).
    @Test func robotsRedirectsAreFollowed() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        for attempt in 1...5 {
            let run = try await f.crawl([f.url("robots-redirect", "/")])
            #expect(run.result.exited && run.result.status == 0, "run \(attempt): \(run.describe)")
            Self.checkInvariants(run)
            #expect(run.paths("robots-redirect") == ["/robots.txt", "/robots-2.txt", "/robots-final.txt", "/", "/yes.html"],
                    "run \(attempt): \(run.describe)")
            #expect(Set(run.pageURLs) == Set(["/", "/yes.html", "/no/x.html"].map { f.url("robots-redirect", $0) }),
                    "run \(attempt): \(run.records)")
            #expect(Self.exceptionType(run.record(f.url("robots-redirect", "/no/x.html"))) == "robots_denied")
            #expect(Self.status(run.record(f.url("robots-redirect", "/yes.html"))) == 200, "run \(attempt)")
            let robots = run.robotsRecords.first
            #expect(Self.status(robots) == 200 && Self.value(robots)?["final_url"] as? String == f.url("robots-redirect", "/robots-final.txt"),
                    "\(String(describing: robots))")
            #expect((Self.value(robots)?["redirects"] as? [Any])?.count == 2, "\(String(describing: robots))")
            if run.result.status != 0 || run.records.count != 4 { break }
        }
    }

    /// A page whose first link is denied by robots.txt, and whose later links are allowed,
    /// when nothing else is queued or running: the later links must still be crawled. (With
    /// `--delay`, the allowed link waits in the queue, which makes an early end certain.)
    @Test func aDeniedFirstLinkDoesNotEndTheCrawl() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("robots-redirect", "/")], ["--delay", "0.1"])
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run)
        #expect(run.paths("robots-redirect") == ["/robots.txt", "/robots-2.txt", "/robots-final.txt", "/", "/yes.html"],
                "\(run.describe)")
        #expect(run.records.count == 4, "4 jobs, 4 records: \(run.records)")
        #expect(Self.status(run.record(f.url("robots-redirect", "/yes.html"))) == 200, "\(run.records)")
    }

    @Test func robotsWithTooManyRedirectsAllowsEverything() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("robots-toomany", "/")])
        // The robots.txt record is a failure (too_many_redirects), so the exit status is 1.
        #expect(run.result.exited && !run.result.timedOut, "\(run.describe)")
        Self.checkInvariants(run)
        let paths = run.paths("robots-toomany")
        #expect(!paths.contains("/rr/6.txt"), "followed a sixth redirect: \(paths)")
        #expect(paths == ["/robots.txt", "/rr/1.txt", "/rr/2.txt", "/rr/3.txt", "/rr/4.txt", "/rr/5.txt", "/", "/a.html"],
                "\(run.describe)")
        Self.checkAllFetched(run)
        #expect(Set(run.pageURLs) == Set(["/", "/a.html"].map { f.url("robots-toomany", $0) }))
        #expect(Self.exceptionType(run.robotsRecords.first) == "too_many_redirects", "\(run.robotsRecords)")
    }

    @Test func robotsCrawlDelayIsHonoured() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("robots-delay", "/")])
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run)
        Self.checkAllFetched(run)
        let pages = run.requests("robots-delay").filter { $0.path != "/robots.txt" }
        #expect(Set(pages.map(\.path)) == ["/", "/p1.html", "/p2.html", "/p3.html", "/p4.html"], "\(run.describe)")
        let gaps = Self.gaps(pages)
        #expect(gaps.allSatisfy { $0 >= 950 }, "Crawl-delay 1: gaps \(gaps) ms")
        let info = Self.value(run.robotsRecords.first)?["robots"] as? Record
        #expect(Self.number(info?["crawl_delay"]) == 1, "\(String(describing: info))")
    }

    // MARK: - 3. Politeness: per-host slots, delays, Retry-After

    /// With one hub and with several (`--hubs`: pages fetched and parsed on each), the
    /// per-host limit is the peak at the server, for requests and for connections.
    @Test(arguments: [(hubs: 1, perHost: 2), (hubs: 1, perHost: 5), (hubs: 3, perHost: 2), (hubs: 2, perHost: 5), (hubs: 4, perHost: 1)])
    func perHostLimitIsThePeakAtTheServer(_ c: (hubs: Int, perHost: Int)) async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("slow", "/")], ["--per-host", "\(c.perHost)", "-c", "50", "--hubs", "\(c.hubs)"])
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run)
        Self.checkAllFetched(run)
        let expected = ["/robots.txt", "/"] + (0..<30).map { "/s/\($0).html" }
        #expect(run.paths("slow").sorted() == expected.sorted(), "\(run.describe)")
        let peak = try f.http.counter("hosts", f.authority("slow"), "requests_peak")
        #expect(peak == c.perHost, "--hubs \(c.hubs) --per-host \(c.perHost): peak \(peak) requests in flight at the server")
        #expect(try f.http.counter("hosts", f.authority("slow"), "connections_peak") <= c.perHost)
        // 30 pages of 200 ms each, perHost at a time.
        #expect(run.result.seconds >= Double(30 / c.perHost) * 0.2 * 0.9, "\(run.result.seconds) s")
    }

    /// `--job-timeout` ends a page's fetch where it is (on either hub, fetched with or without
    /// a task): the record says `job_timeout`, and the crawl does not wait for the server.
    @Test(arguments: [1, 2])
    func jobTimeoutEndsSlowPages(_ hubs: Int) async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("slower", "/")], ["--job-timeout", "0.5", "--per-host", "10", "-c", "50", "--hubs", "\(hubs)"])
        #expect(run.result.exited, "\(run.describe)")
        Self.checkInvariants(run)
        let slow = (0..<10).map { f.url("slower", "/s/\($0).html") }
        for url in slow {
            let r = run.record(url)
            #expect(r?["ready"] as? Bool == true && r?["successful"] as? Bool == false, "\(url): \(String(describing: r))")
            #expect((r?["exception"] as? Record)?["type"] as? String == "job_timeout", "\(url): \(String(describing: r))")
            // The server answers after 2 s: a page let run to its answer took longer.
            #expect((CrawlEndToEndTests.number(r?["elapsed_ms"]) ?? 1e9) < 1900, "\(url): \(String(describing: r))")
        }
        #expect(run.record(f.url("slower", "/"))?["successful"] as? Bool == true, "\(run.describe)")
        // All 10 in flight at once, each given up after 0.5 s of the server's 2 s.
        #expect(run.result.seconds < 1.9, "\(run.result.seconds) s")
    }

    /// A nofollow link is "nofollow" in the summary even when its target was admitted
    /// already (the check comes before the seen-set's, for a link's own rel and for a page's
    /// meta robots alike), and `--follow-nofollow` makes the same links "seen"; in the
    /// pages' `outlinks` they are in scope and not new either way.
    @Test func nofollowLinksToSeenPagesCountAsNofollow() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("nofollow-seen", "/")])
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        #expect(Set(run.paths("nofollow-seen")) == ["/robots.txt", "/", "/a.html", "/b.html", "/c.html"], "\(run.describe)")
        #expect(run.notFollowed["nofollow"] == 4, "\(run.notFollowed)")
        #expect(run.notFollowed["seen"] == nil, "\(run.notFollowed)")
        let following = try await f.crawl([f.url("nofollow-seen", "/")], ["--follow-nofollow"])
        #expect(following.notFollowed["nofollow"] == nil, "\(following.notFollowed)")
        #expect(following.notFollowed["seen"] == 4, "\(following.notFollowed)")
        // Either way each of those links is in scope and not new, in its page's `outlinks`.
        for crawl in [run, following] {
            for (path, total, new) in [("/", 3, 3), ("/a.html", 2, 0), ("/c.html", 2, 0), ("/b.html", 0, 0)] {
                let value = crawl.record(f.url("nofollow-seen", path))?["value"] as? Record
                let outlinks = value?["outlinks"] as? Record
                #expect(outlinks?["total"] as? Int == total && outlinks?["in_scope"] as? Int == total && outlinks?["new"] as? Int == new,
                        "\(path): \(String(describing: outlinks))")
            }
        }
    }

    @Test func delaySpacesRequestStarts() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("big", "/n/000.html")], ["--delay", "0.3", "--max-pages", "6"])
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run)
        Self.checkAllFetched(run)
        let requests = run.requests("big")
        let pages = requests.filter { $0.path != "/robots.txt" }
        #expect(pages.count == 6 && run.pageRecords.count == 6, "\(run.describe)")
        // Node 000 and its first five distinct links (in document order).
        #expect(Set(pages.map(\.path)) == ["/n/000.html", "/n/001.html", "/n/003.html", "/n/011.html", "/n/007.html",
                                           "/n/041.html"], "\(run.describe)")
        let gaps = Self.gaps(requests)
        #expect(gaps.allSatisfy { $0 >= 280 }, "--delay 0.3: gaps \(gaps) ms (robots.txt included)")
        #expect((run.notFollowed["max_pages"] ?? 0) >= 1, "\(run.notFollowed)")
    }

    @Test func retryAfterIsHonoured() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("ratelimited", "/")])
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run, repeats: ["/p1.html"])
        Self.checkAllFetched(run)
        let p1 = run.requests("ratelimited").filter { $0.path == "/p1.html" }
        #expect(p1.map(\.status) == [429, 200], "\(run.describe)")
        if p1.count == 2 {
            #expect(p1[1].start - p1[0].start >= 900, "Retry-After 1: retried after \(p1[1].start - p1[0].start) ms")
        }
        #expect(Set(run.paths("ratelimited")) == ["/robots.txt", "/", "/p1.html", "/p2.html", "/p3.html"])
        // attempts counts the requests made for the URL (as fetch counts them), re-queues included.
        let record = run.record(f.url("ratelimited", "/p1.html"))
        #expect(Self.status(record) == 200 && Self.value(record)?["attempts"] as? Int == 2, "\(String(describing: record))")
        #expect(run.pageRecords.count == 4)
    }

    // MARK: - 4. Traps and limits

    @Test func calendarStopsAtMaxDepth() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("calendar", "/")], ["--max-depth", "5"], asArguments: true)
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run)
        Self.checkAllFetched(run)
        let expected = ["/", "/cal/2024/01", "/cal/2024/02", "/cal/2024/03", "/cal/2024/04", "/cal/2024/05"]
        #expect(Set(run.paths("calendar")) == Set(expected + ["/robots.txt"]), "\(run.describe)")
        #expect(run.pageRecords.count == 6)
        for (depth, path) in expected.enumerated() {
            #expect(run.record(f.url("calendar", path))?["depth"] as? Int == depth, "\(path)")
        }
        #expect(run.notFollowed["max_depth"] == 1, "\(run.notFollowed); \(run.result.stderrText)")
    }

    @Test func calendarStopsAtMaxPagesPerHost() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("calendar", "/")], ["--max-pages-per-host", "20"])
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run)
        Self.checkAllFetched(run)
        let months = (0..<19).map { String(format: "/cal/%04d/%02d", 2024 + $0 / 12, $0 % 12 + 1) }
        #expect(Set(run.paths("calendar")) == Set(["/robots.txt", "/"] + months), "\(run.describe)")
        #expect(run.pageRecords.count == 20, "\(run.pageURLs)")
        #expect((run.notFollowed["guard:pages_per_host"] ?? 0) >= 1, "\(run.notFollowed)")
    }

    @Test func sessionIDsDoNotMakeNewPages() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("session", "/")], ["--max-pages", "200"])
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run)
        Self.checkAllFetched(run)
        let pages = run.paths("session").filter { $0.hasPrefix("/p?") }
        var byN: [Int: Int] = [:]
        for p in pages {
            let n = URLComponents(string: p)?.queryItems?.first { $0.name == "n" }?.value.flatMap { Int($0) } ?? -1
            byN[n, default: 0] += 1
        }
        #expect(byN == Dictionary(uniqueKeysWithValues: (0...20).map { ($0, 1) }), "pages by n: \(byN)")
        #expect(run.pageRecords.count == 22, "\(run.pageURLs.sorted())")
        #expect(Set(run.paths("session")).subtracting(pages) == ["/robots.txt", "/"])
        // Every page's link to itself with another sid is seen.
        #expect(run.notFollowed["seen"] == 21, "\(run.notFollowed)")
    }

    /// /r/, then /r/a/, /r/a/b/, … while no segment occurs more than `limit` times.
    static func repeatChain(limit: Int) -> [String] {
        var out = ["/r/"]
        var path = "/r/"
        var counts: [String: Int] = [:]
        var next = "a"
        while true {
            counts[next, default: 0] += 1
            if counts[next]! > limit { return out }
            path += next + "/"
            out.append(path)
            next = next == "a" ? "b" : "a"
        }
    }

    @Test(arguments: [3, 5]) func repeatedSegmentsStopTheCrawl(limit: Int) async throws {
        let f = try Fixtures()
        defer { f.stop() }
        var extra = ["--max-pages", "100"]  // a safety net, far above the expected count
        if limit != 3 { extra += ["--max-repeated-segments", "\(limit)"] }
        let run = try await f.crawl([f.url("repeat", "/")], extra)
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run)
        Self.checkAllFetched(run)
        let chain = Self.repeatChain(limit: limit)
        #expect(chain.count == 2 * limit + 1)
        #expect(Set(run.paths("repeat")) == Set(["/robots.txt", "/"] + chain), "\(run.describe)")
        #expect(run.pageRecords.count == chain.count + 1)
        // Each chain page links the next one twice (./t/ and ../s/t/): the second is seen; the
        // last page's two links are both over the limit.
        #expect(run.notFollowed["guard:repeated_segments"] == 2, "\(run.notFollowed); \(run.result.stderrText)")
        #expect(run.notFollowed["seen"] == 2 * limit - 1, "\(run.notFollowed)")
    }

    @Test func farmOutlinksAreCapped() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("farm", "/")], ["--max-outlinks", "100", "-c", "50", "--per-host", "8"])
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run)
        Self.checkAllFetched(run)
        let expected = Set(["/robots.txt", "/"] + (0..<100).map { "/farm/\($0).html" })
        #expect(Set(run.paths("farm")) == expected, "\(run.paths("farm").count) requests")
        #expect(run.pageRecords.count == 101)
        let outlinks = Self.value(run.record(f.url("farm", "/")))?["outlinks"] as? Record
        #expect(outlinks?["new"] as? Int == 100, "\(String(describing: outlinks))")
        #expect(run.notFollowed["guard:outlinks"] == 2900, "\(run.notFollowed)")
    }

    @Test func bigGraphIsCrawledExactlyOnce() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("big", "/n/000.html")], ["--per-host", "8"], timeLimit: 180)
        #expect(run.result.exited && run.result.status == 0, "\(EndToEndTests.describe(run.result))")
        Self.checkInvariants(run)
        Self.checkAllFetched(run)
        let pages = (0..<500).map { String(format: "/n/%03d.html", $0) }
        let paths = run.paths("big")
        #expect(paths.count == 501, "\(paths.count) requests")
        #expect(Set(paths) == Set(["/robots.txt"] + pages))
        #expect(Set(run.pageURLs) == Set(pages.map { f.url("big", $0) }))
        #expect(run.pageRecords.count == 500)
        // Every page but the seed has a parent that links to it, one hop shallower.
        var byURL: [String: Record] = [:]
        for r in run.pageRecords { if let u = Self.recordURL(r) { byURL[u] = r } }
        for r in run.pageRecords where Self.via(r) != "seed" {
            let url = Self.recordURL(r) ?? ""
            let parent = (r["parent"] as? String).flatMap { byURL[$0] }
            let parentPath = (parent.flatMap(Self.recordURL) ?? "").replacingOccurrences(of: f.url("big", ""), with: "")
            let i = Int(parentPath.dropFirst(3).prefix(3)) ?? -1
            let child = Int(url.replacingOccurrences(of: f.url("big", "/n/"), with: "").prefix(3)) ?? -2
            #expect(i >= 0 && Self.bigLinks(i).contains(child), "\(url) has parent \(parentPath)")
            #expect(r["depth"] as? Int == (parent?["depth"] as? Int).map { $0 + 1 }, "\(url)")
        }
    }

    /// The links of big's /n/III.html (as http_fixture.py makes them).
    static func bigLinks(_ i: Int) -> [Int] {
        [(i + 1) % 500, (7 * i + 3) % 500, (13 * i + 11) % 500, (31 * i + 7) % 500, (97 * i + 41) % 500, (i * i + 5) % 500]
    }

    @Test func maxPagesCountsSeedsAndLinks() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let run = try await f.crawl([f.url("big", "/n/000.html"), f.url("calendar", "/")], ["--max-pages", "10"])
        #expect(run.result.exited && run.result.status == 0, "\(run.describe)")
        Self.checkInvariants(run)
        #expect(run.pageRecords.count == 10, "\(run.pageURLs)")
        let fetched = run.log.filter { !Self.isRobotsPath($0.path) }.count
        #expect(fetched == 10, "\(run.describe)")
    }

    // MARK: - 5. Failures and Ctrl-C

    @Test func deadHostIsAbandonedAfterMaxHostErrors() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let closed = try FetchTestSupport.closedPort()
        let seeds = (1...5).map { "http://dead.crawl.test:\(closed)/\($0).html" }
        let run = try await f.crawl(seeds, ["--retries", "0", "--max-host-errors", "2", "--per-host", "1", "--ignore-robots"])
        #expect(run.result.exited && run.result.status == 1, "\(run.describe)")
        #expect(run.records.count == 5, "\(run.records)")
        var types: [String: Int] = [:]
        for seed in seeds {
            let found = run.records(for: seed)
            #expect(found.count == 1, "\(seed): \(found)")
            let r = found.first
            #expect(r?["successful"] as? Bool == false && r?["ready"] as? Bool == true, "\(String(describing: r))")
            types[Self.exceptionType(r) ?? "none", default: 0] += 1
        }
        #expect(types == ["connect_refused": 2, "host_abandoned": 3], "\(types)")
    }

    /// The id, name and nice value of each thread of process `pid` (/proc/PID/task/TID/stat:
    /// the name in parentheses, then fields 3…; nice is field 19).
    static func threadNices(_ pid: Int32) -> [(tid: Int32, name: String, nice: Int32)] {
        let dir = "/proc/\(pid)/task"
        guard let tids = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        return tids.compactMap { tid in
            guard let stat = try? String(contentsOfFile: "\(dir)/\(tid)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 16, let nice = Int32(fields[16]), let id = Int32(tid) else { return nil }
            return (id, String(stat[stat.index(after: open)..<close]), nice)
        }
    }

    /// A crawl's hubs after the first run nicer than the process (`--helper-hub-nice`, 10 by
    /// default), so the hub that carries the crawler (frontier, link decisions, records) gets
    /// the CPU first; `--helper-hub-nice 0` leaves them alike; no other thread is nicer than
    /// the process. Read from /proc while the crawl runs.
    @Test(arguments: [(nil, Int32(10)), ("0", 0), ("3", 3)] as [(String?, Int32)])
    func helperHubsGiveWayToTheCrawlersHub(_ c: (option: String?, nice: Int32)) async throws {
        let f = try Fixtures()
        defer { f.stop() }
        try f.http.reset()
        let file = try TempFile(lines: [f.url("big", "/n/000.html")], name: "crawl-nice")
        defer { file.remove() }
        let option = c.option.map { ["--helper-hub-nice", $0] } ?? []
        let process = try SpateProcess(f.args(["--hubs", "3", "--delay", "0.05", "--per-host", "1"] + option + [file.path]))
        var threads: [(tid: Int32, name: String, nice: Int32)] = []
        let start = Date()
        // Until pages are being fetched (so the crawl is running and handles Ctrl-C) and the
        // three hubs are seen.
        while Date().timeIntervalSince(start) < 10 {
            threads = Self.threadNices(process.pid)
            if threads.filter({ $0.name.hasPrefix("spate-hub") }).count == 3, ((try? f.http.crawlLog().count) ?? 0) >= 3 { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        process.interrupt()
        let result = await process.finish(timeLimit: 15)
        #expect(result.exited && result.status == 130, "\(EndToEndTests.describe(result))")
        // The process's own nice value: its main thread's (what `nice spate …` sets).
        let base = threads.first { $0.tid == process.pid }?.nice ?? 0
        let hubs = threads.filter { $0.name.hasPrefix("spate-hub") }
        #expect(hubs.map(\.name).sorted() == ["spate-hub", "spate-hub-1", "spate-hub-2"], "threads \(threads)")
        let helper = min(19, base + c.nice)
        for t in threads {
            // Only the helpers are nicer: no other thread (writer, seeds, the Swift pool) inherited
            // it. (Dispatch gives its overcommit thread a lower nice value when it may.)
            if t.name.hasPrefix("spate-hub-") {
                #expect(t.nice == helper, "\(t.name): nice \(t.nice); threads \(threads)")
            } else {
                #expect(t.nice <= base, "\(t.name): nice \(t.nice); threads \(threads)")
            }
        }
    }

    /// `--helper-hub-nice` outside 0...19 is a usage error (exit 2, no record); `fetch` has
    /// no such option (its hubs are alike, and its writer thread may start on any hub).
    @Test func helperHubNiceOutOfRangeIsAUsageError() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let file = try TempFile(lines: [f.url("basic", "/")], name: "crawl-nice-usage")
        defer { file.remove() }
        for value in ["20", "-1", "x"] {
            let run = try await runSpate(f.args(["--helper-hub-nice", value, file.path]))
            #expect(run.exited && run.status == 2, "--helper-hub-nice \(value): \(EndToEndTests.describe(run))")
            #expect(run.stdout.isEmpty && !run.stderr.isEmpty, "--helper-hub-nice \(value): \(EndToEndTests.describe(run))")
        }
        let fetch = try await runSpate(["fetch", "--helper-hub-nice", "5", file.path])
        #expect(fetch.exited && fetch.status == 2 && fetch.stdout.isEmpty, "\(EndToEndTests.describe(fetch))")
    }

    @Test func interruptEndsTheCrawlWithUnfinishedRecords() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        try f.http.reset()
        let file = try TempFile(lines: [f.url("big", "/n/000.html")], name: "crawl-sigint")
        defer { file.remove() }
        let process = try SpateProcess(f.args(["--delay", "0.05", "--per-host", "1", file.path]))
        let start = Date()
        while Date().timeIntervalSince(start) < 5, ((try? f.http.crawlLog().count) ?? 0) < 5 {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let left = 1.0 - Date().timeIntervalSince(start)
        if left > 0 { try await Task.sleep(nanoseconds: UInt64(left * 1e9)) }
        let interruptedAt = Date()
        process.interrupt()
        let result = await process.finish(timeLimit: 15)
        let log = try f.http.crawlLog().map(LogEntry.init)
        let d = EndToEndTests.describe(result)
        #expect(result.exited && result.status == 130, "\(d)")
        #expect(Date().timeIntervalSince(interruptedAt) < 3, "took \(Date().timeIntervalSince(interruptedAt)) s to stop")
        let records = try EndToEndTests.records(result)
        #expect(log.count >= 5 && log.count < 501, "\(log.count) requests")
        var jobs: Set<Int> = []
        for r in records {
            let job = r["job"] as? Int ?? -1
            #expect(jobs.insert(job).inserted, "job \(job) twice")
        }
        let unfinished = records.filter { $0["ready"] as? Bool == false }
        #expect(!unfinished.isEmpty, "no unfinished records: the crawl had 500 pages to go")
        #expect(Self.summaryJobCount(result.stderrText) == records.count, "\(d)")
        for r in unfinished {
            #expect(r["successful"] as? Bool == false && r["value"] is NSNull && r["exception"] is NSNull, "\(r)")
            #expect(r["reason"] as? String == "interrupted", "\(r)")
        }
        for r in records where r["ready"] as? Bool == true {
            #expect(r["successful"] as? Bool == true, "\(r)")
        }
        // Everything the server was asked for has a record.
        let recorded = Set(records.compactMap(Self.recordURL))
        for e in log {
            #expect(recorded.contains(f.url("big", e.path)), "\(e.path) was requested but has no record")
        }
        var counts: [String: Int] = [:]
        for e in log { counts[e.path, default: 0] += 1 }
        #expect(counts.values.allSatisfy { $0 == 1 }, "\(counts.filter { $0.value > 1 })")
    }
}

/// The documented crawl record (README, docs/crawl.schema.json) against what the binary
/// writes: every field is in the schema, required fields are there, exception types and
/// link statuses are from the closed lists.
extension CrawlEndToEndTests {
    static func crawlSchema() throws -> [String: Any] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("docs/crawl.schema.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func recordsMatchTheCrawlSchema() async throws {
        let schema = try Self.crawlSchema()
        let properties = Set(try #require(schema["properties"] as? [String: Any]).keys)
        let required = try #require(schema["required"] as? [String])
        let defs = try #require(schema["$defs"] as? [String: Any])
        let valueDef = try #require(defs["value"] as? [String: Any])
        let valueProperties = try #require(valueDef["properties"] as? [String: Any])
        let exceptionTypes = Set(try #require((defs["exceptionType"] as? [String: Any])?["enum"] as? [String]))
        let linkDef = try #require((valueProperties["links"] as? [String: Any])?["items"] as? [String: Any])
        let linkProperties = Set(try #require(linkDef["properties"] as? [String: Any]).keys)
        let linkStatuses = Set(try #require((linkDef["properties"] as? [String: Any])?["status"] as? [String: Any])?["enum"] as? [String] ?? [])
        #expect(!linkStatuses.isEmpty)

        let f = try Fixtures()
        defer { f.stop() }
        let runs = [
            try await f.crawl([f.url("basic", "/")], ["--links"]),
            try await f.crawl([f.url("robots-500", "/"), "http://127.0.0.1:1/dead", "mailto:x@y.z", f.url("basic", "/"), f.url("basic", "/")],
                              ["--retries", "0"]),
            try await f.crawl([f.url("sitemap", "/")]),
        ]
        let sitemapProperties = Set(try #require((valueProperties["sitemap"] as? [String: Any])?["properties"] as? [String: Any]).keys)
        var sitemapRecords = 0
        var seenTypes: Set<String> = []
        var records = 0
        for run in runs {
            for r in run.records {
                records += 1
                let keys = Set(r.keys)
                #expect(keys.isSubset(of: properties), "fields outside the schema: \(keys.subtracting(properties))")
                #expect(Set(required).isSubset(of: keys), "required fields missing in \(r)")
                for k in ["depth", "parent", "discovered_via", "canonical", "robots"] { #expect(keys.contains(k), "\(k) missing in \(r)") }
                if let e = r["exception"] as? Record, let t = e["type"] as? String {
                    seenTypes.insert(t)
                    #expect(exceptionTypes.contains(t), "exception type \(t) not in the schema")
                }
                if let v = r["value"] as? Record {
                    let vk = Set(v.keys)
                    #expect(vk.isSubset(of: Set(valueProperties.keys)), "value fields outside the schema: \(vk.subtracting(Set(valueProperties.keys)))")
                    if let sm = v["sitemap"] as? Record {
                        sitemapRecords += 1
                        #expect(Set(sm.keys) == sitemapProperties, "value.sitemap fields: \(sm.keys.sorted())")
                    }
                    for link in (v["links"] as? [Record]) ?? [] {
                        #expect(Set(link.keys).isSubset(of: linkProperties), "link fields outside the schema: \(link.keys)")
                        if let s = link["status"] as? String { #expect(linkStatuses.contains(s), "link status \(s) not in the schema") }
                    }
                }
            }
        }
        #expect(records > 30)
        #expect(sitemapRecords >= 6, "sitemap records checked: \(sitemapRecords)")
        // The shapes that matter all appeared.
        for t in ["robots_unreachable", "connect_refused", "protocol_denied", "duplicate"] {
            #expect(seenTypes.contains(t), "no \(t) record in \(seenTypes)")
        }
    }
}
