import Testing
@testable import Spate

/// The crawler's parts that need no network: fingerprints and the seen-set, the
/// frontier's scheduling, scope and trap guards, session ids, robots meta directives.
@Suite struct CrawlUnitTests {
    static func url(_ s: String) throws -> CrawlURL {
        guard case let .success(u) = CrawlURL.parse(s) else { throw CrawlTestError("bad URL \(s)") }
        return u
    }

    struct CrawlTestError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    // MARK: fingerprints

    @Test func xxHash64MatchesTheReferenceVectors() {
        // Published XXH64 values (seed 0).
        #expect(URLFingerprint.of("") == 0xEF46_DB37_51D8_E999)
        #expect(URLFingerprint.of("a") == 0xD24E_C4F1_A98C_6E5B)
        #expect(URLFingerprint.of("abc") == 0x44BC_2CF5_AD77_0999)
        #expect(URLFingerprint.of("Nobody inspects the spammish repetition") == 0xFBCE_A83C_8A37_8BF1)
    }

    @Test func fingerprintSetAgreesWithASetAcrossGrowth() {
        let set = FingerprintSet(capacity: 16)
        var reference = Set<UInt64>()
        var x: UInt64 = 0x1234_5678
        for i in 0..<200_000 {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            // Every third value repeats an earlier one; 0 must be storable too.
            let v = i % 3 == 0 ? (x >> 44) : (i == 7 ? 0 : x)
            #expect(set.insert(v) == reference.insert(v).inserted)
        }
        #expect(set.count == reference.count)
        for v in reference.prefix(1000) { #expect(set.contains(v)) }
        #expect(!set.contains(0xDEAD_BEEF_0000_0001))
        // 8 bytes per slot, load ≤ 0.75: well under 200 MB for 10 million URLs.
        #expect(set.memoryBytes <= 8 * 2 * (reference.count * 4 / 3 + 1))
    }

    // MARK: frontier

    static func entry(_ job: Int, _ u: String, depth: Int = 0, robots: Bool = false) throws -> FrontierEntry {
        let e = FrontierEntry(job: job, url: try url(u), depth: depth, parent: nil, via: Discovery(.link), canonical: u, input: u)
        e.isRobots = robots
        return e
    }

    @Test func perHostSlotsAndRoundRobinAcrossHosts() throws {
        let f = MemoryFrontier(perHost: 2, delay: 0)
        let a = f.host("http://a.test:80"), b = f.host("http://b.test:80")
        a.robots = .ignored
        b.robots = .ignored
        for i in 0..<5 { f.push(try Self.entry(i, "http://a.test/\(i)"), host: a, retry: false) }
        for i in 5..<8 { f.push(try Self.entry(i, "http://b.test/\(i)"), host: b, retry: false) }
        var started: [Int] = []
        while let (e, _) = f.next(now: monotonicNanos(), admit: { _, _ in .start }) { started.append(e.job) }
        // Two per host, alternating hosts; the rest wait for a release.
        #expect(started == [0, 5, 1, 6])
        #expect(f.pending == 4)
        f.release(a, now: monotonicNanos())
        let next = f.next(now: monotonicNanos(), admit: { _, _ in .start })
        #expect(next?.0.job == 2)
        #expect(f.next(now: monotonicNanos(), admit: { _, _ in .start }) == nil)
    }

    @Test func breadthFirstByDepthWithinAHost() throws {
        let f = MemoryFrontier(perHost: 100, delay: 0)
        let h = f.host("http://a.test:80")
        h.robots = .ignored
        f.push(try Self.entry(0, "http://a.test/d2", depth: 2), host: h, retry: false)
        f.push(try Self.entry(1, "http://a.test/d1", depth: 1), host: h, retry: false)
        f.push(try Self.entry(2, "http://a.test/d2b", depth: 2), host: h, retry: false)
        f.push(try Self.entry(3, "http://a.test/d0", depth: 0), host: h, retry: false)
        var order: [Int] = []
        while let (e, _) = f.next(now: monotonicNanos(), admit: { _, _ in .start }) { order.append(e.job) }
        #expect(order == [3, 1, 0, 2])
    }

    @Test func aHostWaitsForItsRobotsAndItsDelay() throws {
        let f = MemoryFrontier(perHost: 4, delay: 0.5)
        let h = f.host("http://a.test:80")
        f.push(try Self.entry(1, "http://a.test/page"), host: h, retry: false)
        // robots unknown: the page is not ready.
        #expect(f.next(now: monotonicNanos(), admit: { _, _ in .start }) == nil)
        f.push(try Self.entry(0, "http://a.test/robots.txt", robots: true), host: h, retry: false)
        let now = monotonicNanos()
        #expect(f.next(now: now, admit: { _, _ in .start })?.0.job == 0)
        h.robots = .known(KnownRobots(rules: .allowAll, fetchedAt: now, note: "", unreachable: false))
        f.update(h, now: now)
        // The delay counts from the robots.txt request's start.
        #expect(f.next(now: now, admit: { _, _ in .start }) == nil)
        let wake = try #require(f.nextWake())
        #expect(wake >= now + 490_000_000)
        #expect(f.next(now: wake, admit: { _, _ in .start })?.0.job == 1)
    }

    @Test func consumedEntriesTakeNoSlotAndPutBackGoesFirst() throws {
        let f = MemoryFrontier(perHost: 1, delay: 0)
        let h = f.host("http://a.test:80")
        h.robots = .ignored
        for i in 0..<4 { f.push(try Self.entry(i, "http://a.test/\(i)"), host: h, retry: false) }
        // 0 and 1 are decided without a request (e.g. robots.txt denies them).
        let first = f.next(now: monotonicNanos(), admit: { e, _ in e.job < 2 ? .consumed : .start })
        #expect(first?.0.job == 2)
        #expect(h.active == 1)
        f.release(h, now: monotonicNanos())
        var calls = 0
        let again = f.next(now: monotonicNanos(), admit: { e, _ in
            calls += 1
            return calls == 1 ? .putBack : .start
        })
        #expect(again?.0.job == 3)
        #expect(f.pending == 0)
        f.release(h, now: monotonicNanos())
        let drained = f.drainAll()
        #expect(drained.isEmpty)
    }

    @Test func retriesGoToTheFrontAndDrainReturnsEverything() throws {
        let f = MemoryFrontier(perHost: 1, delay: 0)
        let h = f.host("http://a.test:80")
        h.robots = .ignored
        for i in 0..<3 { f.push(try Self.entry(i, "http://a.test/\(i)"), host: h, retry: false) }
        f.push(try Self.entry(9, "http://a.test/retry"), host: h, retry: true)
        #expect(f.next(now: monotonicNanos(), admit: { _, _ in .start })?.0.job == 9)
        #expect(f.drain(h).map(\.job) == [0, 1, 2])
        #expect(f.pending == 0)
    }

    // MARK: scope, guards, session ids

    @Test func scopesHostDomainPrefixAny() throws {
        var c = CrawlConfiguration()
        c.scope = .host
        let host = try CrawlScope(c)
        host.addSeed(try Self.url("https://www.example.co.uk/docs/a.html"))
        #expect(host.inScope(try Self.url("http://www.example.co.uk:8080/x")))
        #expect(!host.inScope(try Self.url("https://example.co.uk/")))

        c.scope = .domain
        let domain = try CrawlScope(c)
        domain.addSeed(try Self.url("https://www.example.co.uk/docs/a.html"))
        #expect(domain.inScope(try Self.url("https://shop.example.co.uk/")))
        // co.uk is a public suffix: another registrable domain under it is another site.
        #expect(!domain.inScope(try Self.url("https://other.co.uk/")))

        c.scope = .prefix
        let prefix = try CrawlScope(c)
        prefix.addSeed(try Self.url("https://www.example.co.uk/docs/a.html"))
        #expect(prefix.inScope(try Self.url("https://www.example.co.uk/docs/deep/b.html")))
        #expect(!prefix.inScope(try Self.url("https://www.example.co.uk/blog/")))
        #expect(!prefix.inScope(try Self.url("http://www.example.co.uk/docs/b.html")))

        c.scope = .any
        #expect(try CrawlScope(c).inScope(try Self.url("https://anything.test/")))
    }

    @Test func publicSuffixListFromDebian() {
        #expect(PublicSuffix.registrableDomain("www.example.co.uk") == "example.co.uk")
        #expect(PublicSuffix.registrableDomain("a.b.example.com") == "example.com")
        #expect(PublicSuffix.registrableDomain("127.0.0.1") == "127.0.0.1")
        #expect(PublicSuffix.registrableDomain("co.uk") == "co.uk")
        #expect(!PublicSuffix.source.isEmpty)
    }

    @Test func includeExcludePatterns() throws {
        var c = CrawlConfiguration()
        c.include = ["/docs/"]
        c.exclude = ["/docs/old/", "\\.pdf$"]
        let s = try CrawlScope(c)
        #expect(!s.filteredOut("https://a.test/docs/x"))
        #expect(s.filteredOut("https://a.test/blog/x"))
        #expect(s.filteredOut("https://a.test/docs/old/x"))
        #expect(s.filteredOut("https://a.test/docs/x.pdf"))
        c.include = ["(unclosed"]
        #expect(throws: CrawlScopeError.self) { try CrawlScope(c) }
    }

    @Test func trapGuards() throws {
        var c = CrawlConfiguration()
        c.maxURLLength = 40
        c.maxRepeatedSegments = 2
        c.maxQueryParams = 3
        let s = try CrawlScope(c)
        func check(_ u: String) throws -> String? {
            let url = try Self.url(u)
            return s.trapGuard(url)
        }
        #expect(try check("http://a.test/ok") == nil)
        #expect(try check("http://a.test/" + String(repeating: "x", count: 40)) == "url_length")
        #expect(try check("http://a.test/a/b/a/b") == nil)
        #expect(try check("http://a.test/a/b/a/b/a") == "repeated_segments")
        #expect(try check("http://a.test/?a=1&b=2&c=3") == nil)
        #expect(try check("http://a.test/?a=1&b=2&c=3&d=4") == "query_params")
        // The length is the display form's: userinfo and fragment do not count.
        #expect(try check("http://user:secret@a.test/" + String(repeating: "x", count: 25) + "#" + String(repeating: "f", count: 30)) == nil)
        #expect(try check("http://user:secret@a.test/" + String(repeating: "x", count: 27)) == "url_length")
        for u in ["http://a.test/", "https://user:pw@a.test:8443/p?q=1#frag", "http://u@[::1]:8080/x#", "http://a.test/#",
                  "https://b.test?x", "http://:pw@c.test/", "HTTP://Ex.COM:80/a/./b/../c#x", "http://a.test/ünï/çødé?q=ü#ß"] {
            let url = try Self.url(u)
            #expect(url.displayUTF8Count == url.display.utf8.count, "\(u): \(url.displayUTF8Count) vs '\(url.display)'")
            // The guards count on the serialization's bytes; the parts' strings agree.
            #expect(url.pathSlashCount == url.path.utf8.filter { $0 == UInt8(ascii: "/") }.count, "\(u)")
            let q = url.query ?? ""
            #expect(url.queryParameterCount == (q.isEmpty ? 0 : 1 + q.utf8.filter { $0 == UInt8(ascii: "&") }.count), "\(u)")
        }
        // A fragment's `&` is not a parameter; an empty query has none.
        #expect(try check("http://a.test/?a&b&c#x&y&z") == nil)
        #expect(try check("http://a.test/?a&b&c&d#x") == "query_params")
        #expect(try check("http://a.test/p?") == nil)
    }

    @Test func sessionIDsLeaveTheDedupeKey() {
        #expect(SessionIDs.strip("http://a.test/p?n=1&sid=abc") == "http://a.test/p?n=1")
        #expect(SessionIDs.strip("http://a.test/p?PHPSESSID=x&n=1") == "http://a.test/p?n=1")
        #expect(SessionIDs.strip("http://a.test/p;jsessionid=XYZ?n=1") == "http://a.test/p?n=1")
        #expect(SessionIDs.strip("http://a.test/p?ASPSESSIONIDQ=1") == "http://a.test/p")
        #expect(SessionIDs.strip("http://a.test/p?side=1") == "http://a.test/p?side=1")
        #expect(SessionIDs.strip("http://a.test/plain") == "http://a.test/plain")
    }

    @Test func robotsMetaDirectives() {
        #expect(RobotsMeta.has("noindex, nofollow", "nofollow"))
        #expect(RobotsMeta.has("NONE", "noindex"))
        #expect(!RobotsMeta.has("index, follow", "nofollow"))
        #expect(RobotsMeta.applicable("googlebot: nofollow, noarchive", token: "spate") == "")
        #expect(RobotsMeta.applicable("spate: nofollow", token: "spate") == "nofollow")
        #expect(RobotsMeta.applicable("noindex", token: "spate") == "noindex")
        #expect(RobotsMeta.applicable("unavailable_after: 2030-01-01", token: "spate") == "unavailable_after: 2030-01-01")
    }

    @Test func productTokenFromTheUserAgent() {
        #expect(robotsProductToken("spate/0.2 (+https://github.com/spate/spate)") == "spate")
        #expect(robotsProductToken("My-Bot_2/1.0") == "My-Bot_")
        #expect(robotsProductToken("/weird") == "spate")
    }

    @Test func seedLines() throws {
        #expect(try Crawler.parseSeed("example.org/docs").get().display == "https://example.org/docs")
        #expect(try Crawler.parseSeed("http://example.org").get().display == "http://example.org/")
        #expect(try Crawler.parseSeed("localhost:8080/x").get().display == "https://localhost:8080/x")
        guard case .failure(.unsupportedScheme("mailto")) = Crawler.parseSeed("mailto:a@b.c") else {
            Issue.record("mailto seed not refused"); return
        }
        guard case .failure(.invalid) = Crawler.parseSeed("http://a\u{0}b/") else { Issue.record("NUL accepted"); return }
    }
}
