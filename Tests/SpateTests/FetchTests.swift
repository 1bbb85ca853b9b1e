import Foundation
import Glibc
import Testing
@testable import Spate

/// `Fetcher` at the library level (docs/SPEC-fetch.md) against the loopback fixtures: the
/// HTTP(S) fixture for responses and the DNS fixture for every name (never the system
/// resolver). Serialized: several tests measure time or count requests at the server.
@Suite(.serialized) struct FetchTests {
    /// A hub, a DNS fixture, an HTTP fixture, a resolver pointed at the DNS fixture and a
    /// fetcher; torn down by `close()`.
    struct Setup {
        let hub: Hub
        let dns: DNSFixture
        let http: HTTPFixture
        let resolver: Resolver
        let fetcher: Fetcher

        static func make(tls: Bool = false, dnsTimeout: Double = 1, tries: Int = 2,
                         configure: (inout FetchConfiguration) -> Void = { _ in }) async throws -> Setup {
            var fc = FetchConfiguration()
            fc.defaultScheme = "http"
            configure(&fc)
            let http = try HTTPFixture(tls: tls)
            let dns = try DNSFixture()
            // Names the tests use: a/b → 127.0.0.1 (and ::1), v6 → ::1 only.
            dns.set("a.fixture.test", .records([.a("127.0.0.1", ttl: 60), .aaaa("::1", ttl: 60)]))
            dns.set("b.fixture.test", .records([.a("127.0.0.1", ttl: 60), .aaaa("::1", ttl: 60)]))
            dns.set("v6.fixture.test", .records([.aaaa("::1", ttl: 60)]))
            dns.set("drop.fixture.test", .drop)
            let hub = try Hub()
            var rc = ResolverConfiguration()
            rc.servers = [try DNSServer(parsing: dns.address)]
            rc.resolvConfPath = FetchTestSupport.resolvConf
            rc.tryTimeout = dnsTimeout
            rc.tries = tries
            let resolver = try await Resolver.start(on: hub, configuration: rc)
            let fetcher = await Fetcher.start(on: hub, resolver: resolver, configuration: fc)
            return Setup(hub: hub, dns: dns, http: http, resolver: resolver, fetcher: fetcher)
        }

        func close() {
            hub.shutdown()
            dns.stop()
            http.stop()
        }

        func fetch(_ text: String, saveName: String? = nil) async throws -> FetchOutcome {
            let url = try FetchURL.parse(text).get()
            return await fetcher.fetch(url, saveName: saveName)
        }

        /// The value of a completed transfer (fails the test otherwise).
        func value(_ text: String) async throws -> JSONValue {
            let o = try await fetch(text)
            switch o.result {
            case let .success(v): return v.json
            case let .failure(e):
                Issue.record("\(text): expected a completed transfer, got \(e)")
                throw e
            }
        }

        /// The error of a failed fetch (nil, with an issue recorded, when it succeeded).
        func error(_ text: String) async throws -> FetchError? {
            let o = try await fetch(text)
            if case let .failure(e) = o.result { return e }
            Issue.record("\(text): expected a failure, got \(o.result)")
            return nil
        }
    }

    // MARK: - FetchURL

    @Test func urlParsingNormalisesAndDeniesOtherSchemes() throws {
        let u = try FetchURL.parse("HTTP://User:Secret@example.org:8080/a/b?x=1#frag").get()
        #expect(u.scheme == "http")
        #expect(u.host == "example.org")
        #expect(u.port == 8080)
        #expect(u.display == "http://example.org:8080/a/b?x=1")
        #expect(!u.display.contains("Secret") && !u.display.contains("User"))
        #expect(u.full.contains("Secret"), "the request URL keeps the userinfo: \(u.full)")
        #expect(!u.full.contains("frag"))
        #expect(u.origin == "http://example.org:8080")

        let bare = try FetchURL.parse("example.org/path").get()
        #expect(bare.display == "https://example.org/path")
        #expect(bare.port == 443)
        let http = try FetchURL.parse("example.org", defaultScheme: "http").get()
        #expect(http.display == "http://example.org/")
        #expect(http.port == 80)
        let v6 = try FetchURL.parse("http://[::1]:81/x").get()
        #expect(v6.host == "::1" && v6.port == 81 && v6.hostIsLiteral)
        #expect(v6.origin == "http://[::1]:81")

        for denied in ["file:///etc/passwd", "gopher://example.org/", "ftp://example.org/x", "mailto:a@example.org",
                       "javascript:alert(1)", "FILE:///etc/passwd"] {
            #expect(FetchURL.parse(denied).failureValue?.code == .protocolDenied, "\(denied): \(FetchURL.parse(denied))")
        }
        for invalid in ["http://exa mple/", "http://", "http://127.0.0.1:99999/", "http://bad_host!/"] {
            #expect(FetchURL.parse(invalid).failureValue?.code == .invalidURL, "\(invalid): \(FetchURL.parse(invalid))")
        }
        #expect(FetchURL.redactUserinfo("http://u:p@h/x@y") == "http://h/x@y")
    }

    @Test func redirectLocationsResolveRelativeAndAbsolute() throws {
        let base = try FetchURL.parse("http://a.test:8080/dir/page?q=1").get()
        #expect(try base.resolve("/root").get().display == "http://a.test:8080/root")
        #expect(try base.resolve("other").get().display == "http://a.test:8080/dir/other")
        #expect(try base.resolve("../up?z=2").get().display == "http://a.test:8080/up?z=2")
        #expect(try base.resolve("//b.test/x").get().display == "http://b.test/x")
        #expect(try base.resolve("https://c.test/y").get().display == "https://c.test/y")
        #expect(base.resolve("file:///etc/passwd").failureValue?.code == .protocolDenied)
    }

    @Test func statusFilterParsesExactAndClasses() throws {
        let f = try StatusFilter(parsing: "200, 3xx,404")
        #expect(f.matches(200) && f.matches(301) && f.matches(399) && f.matches(404))
        #expect(!f.matches(201) && !f.matches(403) && !f.matches(500))
        #expect(throws: FetchError.self) { try StatusFilter(parsing: "2x") }
        #expect(throws: FetchError.self) { try StatusFilter(parsing: "700") }
    }

    // MARK: - Record values

    @Test func valueFieldsMatchAKnownResponse() async throws {
        let s = try await Setup.make()
        defer { s.close() }
        let url = s.http.url("/page?title=Hello&size=300")
        let v = try await s.value(url)
        #expect(v["url"]?.string == url)
        #expect(v["final_url"]?.string == url)
        #expect(v["status"]?.int == 200)
        #expect(v["http_version"]?.string == "1.1")
        #expect(v["ip"]?.string == "127.0.0.1")
        #expect(v["port"]?.int == s.http.port4)
        #expect(v["redirects"] == .array([]))
        #expect(v["content_type"]?.string == "text/html; charset=utf-8")
        #expect(v["content_length"]?.int == 300)
        #expect(v["bytes"]?.int == 300)
        #expect(v["title"]?.string == "Hello")
        #expect(v["attempts"]?.int == 1)
        let expected = try FetchTestSupport.sha256OfDownload(url)
        #expect(v["body_sha256"]?.string == expected)
        let timings = try #require(v["timings"])
        for key in ["dns", "connect", "tls", "ttfb", "total"] {
            let t = try #require(timings[key]?.number, "timings.\(key) missing: \(timings)")
            #expect(t >= 0, "timings.\(key) = \(t)")
        }
        #expect(v["headers"] == nil, "headers without includeHeaders")
        #expect(v["saved"] == nil, "saved without a save directory")
        // The documented field order.
        if case let .object(fields) = v {
            #expect(fields.map(\.0) == ["url", "final_url", "status", "http_version", "ip", "port", "redirects", "content_type",
                                       "content_length", "bytes", "title", "body_sha256", "timings", "attempts"])
        }
    }

    /// A fetch nobody awaits (`fetch(_:overrides:handle:done:)`, the crawler's) ends as the
    /// awaited one does: without a task when one transfer can start at once (an address
    /// literal or cached, a free slot on the origin, no retries, no redirect to follow), in a
    /// task otherwise (a name not looked up yet, a busy origin, redirects followed) — and
    /// its handle cancels it either way.
    /// A handle that passes the outcome on.
    final class Handing: FetchHandle, @unchecked Sendable {
        let onDone: @Sendable (FetchOutcome) -> Void
        init(on fetcher: Fetcher, _ onDone: @escaping @Sendable (FetchOutcome) -> Void) {
            self.onDone = onDone
            super.init(on: fetcher)
        }
        override func finished(_ outcome: FetchOutcome) { onDone(outcome) }
    }

    @Test func aFetchNobodyAwaitsEndsAsTheAwaitedOneDoes() async throws {
        let s = try await Setup.make { $0.retries = 0; $0.perHost = 1 }
        defer { s.close() }
        let p = s.http.port4
        /// The outcome without its timings.
        func summary(_ o: FetchOutcome) -> String {
            switch o.result {
            case let .success(v):
                guard case let .object(fields) = v.json else { return "?" }
                let kept = JSONValue.object(fields.filter { $0.0 != "timings" })
                var w = JSONWriter(capacity: 256)
                kept.write(to: &w)
                return "\(o.status ?? -1) \(o.bytes) \(o.attempts) \(o.location ?? "-") " + String(decoding: w.bytes, as: UTF8.self)
            case let .failure(e):
                return "\(e.code.rawValue) \(o.attempts)"
            }
        }
        func unawaited(_ text: String, follow: Bool = false, cancelAfter: Double? = nil) async throws -> (FetchOutcome, Bool) {
            let url = try FetchURL.parse(text).get()
            var overrides = FetchOverrides()
            overrides.followRedirects = follow
            let options = overrides
            final class Box: @unchecked Sendable { var handle: Handing? }   // set before the fetch starts
            let box = Box()
            let outcome: FetchOutcome = await withCheckedContinuation { c in
                let handle = Handing(on: s.fetcher) { c.resume(returning: $0) }
                box.handle = handle
                s.hub.execute { s.fetcher.assumeIsolated { $0.fetch(url, overrides: options, handle: handle) } }
                if let d = cancelAfter { s.hub.schedule(afterNanos: nanoseconds(seconds: d)) { handle.cancel() } }
            }
            return (outcome, box.handle!.withoutTask)
        }
        func awaited(_ text: String, follow: Bool = false) async throws -> FetchOutcome {
            var overrides = FetchOverrides()
            overrides.followRedirects = follow
            return await s.fetcher.fetch(try FetchURL.parse(text).get(), overrides: overrides)
        }
        let name = "http://a.fixture.test:\(p)/page?title=Named"
        let cases: [(url: String, follow: Bool, withoutTask: Bool)] = [
            ("http://127.0.0.1:\(p)/page?title=Hello&size=3000", false, true),
            ("http://127.0.0.1:\(p)/status/404", false, true),
            ("http://127.0.0.1:\(p)/redirect?to=/status/200&code=301", false, true),   // not followed: the 301 itself
            ("http://127.0.0.1:\(p)/redirect?to=/status/200&code=301", true, false),   // followed: in a task
            ("http://127.0.0.1:1/", false, true),                                        // refused: a failure
            (name, false, false),                                                        // not looked up yet: a task
            (name, false, true),                                                         // cached now
        ]
        for c in cases {
            let (outcome, withoutTask) = try await unawaited(c.url, follow: c.follow)
            let expected = try await awaited(c.url, follow: c.follow)
            #expect(summary(outcome) == summary(expected), "\(c.url)")
            #expect(withoutTask == c.withoutTask, "\(c.url): without a task \(withoutTask)")
        }
        // A busy origin (--per-host 1): of two started in one turn of the hub, the second
        // waits for the slot in a task, then completes.
        let urls = try ["http://127.0.0.1:\(p)/slow-headers?ms=300", "http://127.0.0.1:\(p)/status/200"].map { try FetchURL.parse($0).get() }
        final class Results: @unchecked Sendable { var list: [FetchOutcome] = []; var handles: [Handing] = [] }   // on the hub only
        let results = Results()
        let both: [FetchOutcome] = await withCheckedContinuation { c in
            s.hub.execute {
                s.fetcher.assumeIsolated { f in
                    for url in urls {
                        let handle = Handing(on: s.fetcher) { o in
                            results.list.append(o)
                            if results.list.count == 2 { c.resume(returning: results.list) }
                        }
                        results.handles.append(handle)
                        f.fetch(url, overrides: FetchOverrides(), handle: handle)
                    }
                }
            }
        }
        let handles = results.handles
        #expect(both.map(\.status) == [200, 200], "the status/200 one waited for the slow one's slot")
        #expect(handles.map(\.withoutTask) == [true, false])
        // Cancelled through the handle, with or without a task: a `cancelled` failure, at once.
        for url in ["http://127.0.0.1:\(p)/slow-headers?ms=5000", "http://b.fixture.test:\(p)/slow-headers?ms=5000"] {
            let t0 = monotonicNanos()
            let (o, _) = try await unawaited(url, cancelAfter: 0.2)
            #expect(summary(o) == "cancelled 1", "\(url): \(summary(o))")
            #expect(monotonicNanos() - t0 < 3_000_000_000, "\(url): not cancelled at once")
        }
    }

    /// curl's download buffer (allocated and freed per transfer in 7.88) comes from the
    /// hub thread's cache after the first transfer (`cspate_curl_global_init`), and bodies
    /// still arrive whole: several callbacks' worth each, digests as curl's own download.
    @Test func curlsDownloadBufferIsReusedOnTheHub() async throws {
        let s = try await Setup.make()
        defer { s.close() }
        func reuses() async -> UInt {
            await withCheckedContinuation { c in s.hub.execute { c.resume(returning: CurlGlobal.bufferReusesOnThisThread) } }
        }
        let before = await reuses()
        for size in [40_000, 17_000, 200, 65_536, 16_385, 30_000, 500, 20_000, 16_384, 50_000, 3_000, 70_000] {
            let url = s.http.url("/page?title=T\(size)&size=\(size)")
            let v = try await s.value(url)
            #expect(v["bytes"]?.int == size, "\(url)")
            #expect(v["body_sha256"]?.string == (try FetchTestSupport.sha256OfDownload(url)), "\(url)")
        }
        let reused = await reuses() - before
        #expect(reused >= 11, "buffers reused on the hub: \(reused) of 12 transfers")
    }

    /// curl's realloc keeps a block's bytes whichever way it goes: a small block that grows
    /// moves (through malloc and free), one that shrinks or still fits stays, and large
    /// blocks and NULL take glibc's paths.
    @Test func curlsReallocKeepsTheBytes() throws {
        func filled(_ n: Int, _ seed: UInt8) throws -> UnsafeMutableRawPointer {
            let p = try #require(malloc(n))
            for i in 0..<n { p.storeBytes(of: seed &+ UInt8(truncatingIfNeeded: i), toByteOffset: i, as: UInt8.self) }
            return p
        }
        func holds(_ p: UnsafeMutableRawPointer, _ n: Int, _ seed: UInt8) -> Bool {
            (0..<n).allSatisfy { p.load(fromByteOffset: $0, as: UInt8.self) == seed &+ UInt8(truncatingIfNeeded: $0) }
        }
        // Small, growing past its block: a new block with the old bytes, room for the new size.
        var p = try filled(40, 7)
        let grown = try #require(CurlGlobal.realloc(p, 700))
        #expect(holds(grown, 40, 7))
        #expect(CurlGlobal.usableSize(grown) >= 700)
        memset(grown + 40, 0xAB, 660)   // the whole new size is writable
        // Shrinking, or growing within the block: the same block, bytes kept.
        let shrunk = try #require(CurlGlobal.realloc(grown, 20))
        #expect(shrunk == grown && holds(shrunk, 20, 7))
        let usable = CurlGlobal.usableSize(shrunk)
        #expect(CurlGlobal.realloc(shrunk, usable) == shrunk)
        // Small to large (glibc's realloc), large to larger, large to small: bytes kept.
        let large = try #require(CurlGlobal.realloc(shrunk, 5_000))
        #expect(holds(large, 20, 7))
        let larger = try #require(CurlGlobal.realloc(large, 40_000))
        #expect(holds(larger, 20, 7) && CurlGlobal.usableSize(larger) >= 40_000)
        let back = try #require(CurlGlobal.realloc(larger, 100))
        #expect(holds(back, 20, 7))
        free(back)
        // NULL: a new block.
        p = try #require(CurlGlobal.realloc(nil, 64))
        #expect(CurlGlobal.usableSize(p) >= 64)
        free(p)
        // Many growth steps, as curl's strings grow (32, 64, 128, ... bytes), each kept whole.
        var q = try filled(32, 1)
        var size = 32
        while size < 1_024 {
            q = try #require(CurlGlobal.realloc(q, size * 2))
            #expect(holds(q, size, 1), "after growing to \(size * 2)")
            for i in size..<(size * 2) { q.storeBytes(of: 1 &+ UInt8(truncatingIfNeeded: i), toByteOffset: i, as: UInt8.self) }
            size *= 2
        }
        #expect(holds(q, size, 1))
        free(q)
    }

    /// curl's free and realloc read a block's usable size from its chunk header: the same
    /// as glibc's malloc_usable_size, for small, cached, large and mmapped blocks alike.
    @Test func chunkHeaderGivesGlibcsUsableSize() throws {
        // The tests run on glibc's allocator (nothing preloaded): the header is what is read.
        #expect(CurlGlobal.heapIsGlibcs || getenv("LD_PRELOAD") != nil)
        var sizes = Array(1...1100) + [1500, 2_048, 4_095, 16_385, 16_896, 65_536, 131_071]
        sizes += [200_000, 1_000_000, 8_000_000]   // past glibc's mmap threshold
        for n in sizes {
            let p = try #require(malloc(n))
            #expect(CurlGlobal.chunkUsableSize(p) == CurlGlobal.usableSize(p), "malloc(\(n))")
            free(p)
        }
        // Grown and shrunk blocks, and calloc's.
        var q = try #require(malloc(10))
        for n in [100, 3_000, 50, 300_000, 20] {
            q = try #require(realloc(q, n))
            #expect(CurlGlobal.chunkUsableSize(q) == CurlGlobal.usableSize(q), "realloc to \(n)")
        }
        free(q)
        let c = try #require(calloc(300, 7))
        #expect(CurlGlobal.chunkUsableSize(c) == CurlGlobal.usableSize(c))
        free(c)
    }

    @Test func titlesBodiesAndAddresses() async throws {
        let s = try await Setup.make()
        defer { s.close() }
        let entities = try await s.value(s.http.url("/html-entities"))
        #expect(entities["title"]?.string == HTTPFixture.htmlEntitiesTitle)
        let spaced = try await s.value(s.http.url("/page?title=%20%20Hello%0A%09%20World%20%20&size=0"))
        #expect(spaced["title"]?.string == "Hello World")
        // Not HTML: no title even when the body has one.
        let plain = try await s.value(s.http.url("/page?title=Nope&ctype=text/plain"))
        #expect(plain["title"] == .null)
        #expect(plain["content_type"]?.string == "text/plain")

        // Decoded body: gzip on the wire, the record counts and hashes the decoded bytes.
        let gz = s.http.url("/gzip?size=5000&force=1")
        let gv = try await s.value(gz)
        #expect(gv["bytes"]?.int == 5000)
        #expect(gv["body_sha256"]?.string == (try FetchTestSupport.sha256OfDownload(gz)))

        // Chunked: no Content-Length.
        let chunked = try await s.value(s.http.url("/chunked?n=3"))
        #expect(chunked["content_length"] == .null)
        #expect(chunked["bytes"]?.int == 24)

        // Empty body: SHA-256 of nothing.
        let empty = try await s.value(s.http.url("/status/204"))
        #expect(empty["status"]?.int == 204)
        #expect(empty["bytes"]?.int == 0)
        #expect(empty["body_sha256"]?.string == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

        let notFound = try await s.value(s.http.url("/status/404"))
        #expect(notFound["status"]?.int == 404)
        #expect(notFound["bytes"]?.int == 11)

        // A name through the DNS fixture.
        let named = try await s.value("http://a.fixture.test:\(s.http.port4)/status/200")
        #expect(named["ip"]?.string == "127.0.0.1")
        #expect(named["url"]?.string == "http://a.fixture.test:\(s.http.port4)/status/200")
        #expect(!s.dns.queries(for: "a.fixture.test").isEmpty, "the name was not asked of the DNS fixture")

        if s.http.hasIPv6 {
            let literal6 = try await s.value(s.http.url6("/status/200"))
            #expect(literal6["ip"]?.string == "::1")
            #expect(literal6["port"]?.int == s.http.port6)
            #expect(literal6["url"]?.string == "http://[::1]:\(s.http.port6)/status/200")
            // AAAA only: the A query has no data, the AAAA answer is used.
            let v6 = try await s.value("http://v6.fixture.test:\(s.http.port6)/status/200")
            #expect(v6["ip"]?.string == "::1")
            #expect(v6["status"]?.int == 200)
            #expect(s.dns.queries(for: "v6.fixture.test").contains { $0.type == 28 }, "no AAAA query")
        }
    }

    @Test func headersAndSaveDirectory() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spate-fetch-lib-save-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try await Setup.make {
            $0.includeHeaders = true
            $0.saveDirectory = dir
        }
        defer { s.close() }
        let url = s.http.url("/response-headers?X-Spate-Test=abc")
        let o = try await s.fetch(url, saveName: "one.body")
        let v = try o.result.get().json
        let headers = try #require(v["headers"]?.pairs, "no headers: \(v)")
        #expect(headers.contains { $0 == ("X-Spate-Test", "abc") }, "\(headers)")
        #expect(headers.contains { $0.0 == "Content-Type" && $0.1 == "application/json" }, "\(headers)")
        #expect(headers.contains { $0 == ("Server", "spate-fixture/1") }, "\(headers)")
        #expect(v["saved"]?.string == dir + "/one.body")
        let saved = try Data(contentsOf: URL(fileURLWithPath: dir + "/one.body"))
        #expect(saved == (try FetchTestSupport.download(url)))
        #expect(v["body_sha256"]?.string == (try FetchTestSupport.sha256(ofFile: dir + "/one.body")))
    }

    // MARK: - Failures

    @Test func failuresHaveTheirExceptionTypes() async throws {
        let s = try await Setup.make(tls: true, dnsTimeout: 0.2, tries: 1) {
            $0.followRedirects = true
            $0.maxRedirects = 2
            $0.maxBody = 1_000_000
        }
        defer { s.close() }
        let p = s.http.port4
        let closed = try FetchTestSupport.closedPort()

        let cases: [(String, FetchError.Code, Int?)] = [
            ("http://nope.fixture.test:\(p)/", .nxdomain, nil),
            ("http://drop.fixture.test:\(p)/", .dnsTimeout, nil),
            ("http://127.0.0.1:\(closed)/", .connectRefused, 7),
            (s.http.url("/reset-mid-body"), .reset, 56),
            (s.http.url("/redirect-chain/5"), .tooManyRedirects, nil),
            (s.http.url("/loop/a"), .redirectLoop, nil),
            (s.http.url("/redirect?to=file:///etc/passwd"), .protocolDenied, nil),
            (s.http.url("/big?bytes=2000000"), .bodyTooLarge, nil),
            (s.http.url("/gzip-bomb?mb=2"), .bodyTooLarge, nil),
            (s.http.url("/bad-gzip"), .decodeError, 61),
            (try #require(s.http.tlsURL("/status/200", host: "127.0.0.1")), .tls, 60),
        ]
        for (url, code, curlCode) in cases {
            guard let e = try await s.error(url) else { continue }
            #expect(e.code == code, "\(url): expected \(code.rawValue), got \(e)")
            if let curlCode {
                #expect(e.curlCode == curlCode, "\(url): curl code \(String(describing: e.curlCode))")
                #expect(e.curlMessage?.isEmpty == false, "\(url): no curl message")
            }
            if [.nxdomain, .dnsTimeout, .tooManyRedirects, .redirectLoop, .protocolDenied].contains(code) {
                #expect(e.curlCode == nil && e.curlMessage == nil, "\(url): curl did not report this, yet \(e)")
            }
        }
        // A body under the cap once decoded is fine, and `bytes` is the decoded size.
        let ok = try await s.value(s.http.url("/gzip-bomb?mb=0"))
        #expect(ok["bytes"]?.int == 0)
    }

    @Test func timeoutIsPerTransfer() async throws {
        let s = try await Setup.make { $0.maxTime = 0.3 }
        defer { s.close() }
        let start = Date()
        let e = try await s.error(s.http.url("/slow-headers?ms=2000"))
        #expect(e?.code == .timeout, "\(String(describing: e))")
        #expect(e?.curlCode == 28)
        #expect(Date().timeIntervalSince(start) < 1.5)
    }

    @Test func tlsWithTheFixtureCAAndInsecure() async throws {
        let s = try await Setup.make(tls: true)
        defer { s.close() }
        let caPath = try #require(s.http.caPath, "no openssl: no TLS fixture")
        let tlsPort = try #require(s.http.tlsPort)
        var c = FetchConfiguration()
        c.caCert = caPath
        let verified = await Fetcher.start(on: s.hub, resolver: s.resolver, configuration: c)
        var k = FetchConfiguration()
        k.insecure = true
        let insecure = await Fetcher.start(on: s.hub, resolver: s.resolver, configuration: k)

        for (label, fetcher, url) in [("cacert", verified, "https://127.0.0.1:\(tlsPort)/page?title=Secure"),
                                      ("cacert, DNS name", verified, "https://a.fixture.test:\(tlsPort)/page?title=Secure"),
                                      ("insecure", insecure, "https://127.0.0.1:\(tlsPort)/page?title=Secure")] {
            let o = await fetcher.fetch(try FetchURL.parse(url).get())
            guard case let .success(fetched) = o.result else {
                Issue.record("\(label): \(url): \(o.result)")
                continue
            }
            let v = fetched.json
            #expect(v["status"]?.int == 200, "\(label)")
            #expect(v["title"]?.string == "Secure", "\(label)")
            #expect(v["ip"]?.string == "127.0.0.1", "\(label)")
            #expect(v["port"]?.int == tlsPort, "\(label)")
            #expect((v["timings"]?["tls"]?.number ?? 0) > 0, "\(label): no TLS time: \(String(describing: v["timings"]))")
        }
    }

    // MARK: - Redirects, retries, DNS cache

    @Test func redirectsAreFollowedHopByHop() async throws {
        let s = try await Setup.make {
            $0.followRedirects = true
        }
        defer { s.close() }
        let p = s.http.port4
        let chain = try await s.value(s.http.url("/redirect-chain/2"))
        #expect(chain["status"]?.int == 200)
        #expect(chain["final_url"]?.string == s.http.url("/redirect-chain/0"))
        #expect(chain["redirects"] == .array([
            .object([("url", .string(s.http.url("/redirect-chain/2"))), ("status", .int(302)), ("location", .string("/redirect-chain/1"))]),
            .object([("url", .string(s.http.url("/redirect-chain/1"))), ("status", .int(302)), ("location", .string("/redirect-chain/0"))]),
        ]))

        // Cross-host: a.fixture.test → b.fixture.test; the second name is resolved by c-ares.
        let target = "http://b.fixture.test:\(p)/page?title=B"
        let start = "http://a.fixture.test:\(p)/redirect?to=\(FetchTestSupport.query(target))&code=301"
        let cross = try await s.value(start)
        #expect(cross["final_url"]?.string == target)
        #expect(cross["title"]?.string == "B")
        #expect(cross["redirects"]?[0]?["status"]?.int == 301)
        #expect(cross["redirects"]?[0]?["location"]?.string == target)
        #expect(!s.dns.queries(for: "b.fixture.test").isEmpty, "b.fixture.test was never asked of the DNS fixture")
    }

    @Test func retriesHonourRetryAfter() async throws {
        let s = try await Setup.make { $0.retries = 3 }
        defer { s.close() }
        let o = try await s.fetch(s.http.url("/retry-after?key=lib1&fail=2&after=0&code=429"))
        let v = try o.result.get().json
        #expect(v["status"]?.int == 200)
        #expect(v["attempts"]?.int == 3)
        #expect(o.attempts == 3)
        #expect(try s.http.counter("retry_keys", "lib1") == 3)

        // Retry-After: 1 → the second try is at least ~1 s after the first.
        let t0 = Date()
        let late = try await s.value(s.http.url("/retry-after?key=lib2&fail=1&after=1&code=503"))
        #expect(late["status"]?.int == 200 && late["attempts"]?.int == 2)
        #expect(Date().timeIntervalSince(t0) >= 0.9)

        // A retryable failure (connect refused) is tried 1 + retries times.
        let closed = try FetchTestSupport.closedPort()
        let refused = try await s.fetch("http://127.0.0.1:\(closed)/")
        #expect(refused.result.failureValue?.code == .connectRefused)
        #expect(refused.attempts == 4)
        // Not retryable: a 404 is data, tried once.
        let nf = try await s.value(s.http.url("/status/404"))
        #expect(nf["attempts"]?.int == 1)
    }

    @Test func dnsAnswersAreCachedAndShared() async throws {
        let s = try await Setup.make()
        defer { s.close() }
        let p = s.http.port4
        s.dns.set("slow.fixture.test", .delay(milliseconds: 200, .records([.a("127.0.0.1", ttl: 60)])))
        // Concurrent fetches of one new name: one A query.
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<5 {
                group.addTask { _ = try? await s.fetch("http://slow.fixture.test:\(p)/status/200?i=\(i)") }
            }
        }
        #expect(s.dns.queries(for: "slow.fixture.test").filter { $0.type == 1 }.count == 1,
                "\(s.dns.queries(for: "slow.fixture.test"))")
        let first = try await s.value("http://a.fixture.test:\(p)/status/200")
        let second = try await s.value("http://a.fixture.test:\(p)/status/201")
        #expect(second["status"]?.int == 201)
        #expect(s.dns.queries(for: "a.fixture.test").filter { $0.type == 1 }.count == 1)
        _ = first
        // SPEC: timings.dns is "our c-ares time, 0 when cached".
        #expect(second["timings"]?["dns"]?.number == 0, "cached lookup: timings.dns = \(String(describing: second["timings"]?["dns"]))")
    }

    // MARK: - Cancellation and the per-host gate

    @Test func cancellingAFetchEndsItPromptly() async throws {
        let s = try await Setup.make { $0.perHost = 1 }
        defer { s.close() }
        let fetcher = s.fetcher
        let endless = try FetchURL.parse(s.http.url("/endless?ms=5")).get()
        let waiting = try FetchURL.parse(s.http.url("/status/200")).get()
        let running = Task { await fetcher.fetch(endless) }
        // Wait until the endless transfer is at the server.
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, try s.http.counter("total", "requests_active") < 1 {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        // A second fetch of the same origin waits for the one slot; cancel it there.
        let queued = Task { await fetcher.fetch(waiting) }
        try await Task.sleep(nanoseconds: 200_000_000)
        let t0 = Date()
        queued.cancel()
        let q = await queued.value
        #expect(q.result.failureValue?.code == .cancelled, "\(q.result)")
        #expect(Date().timeIntervalSince(t0) < 1)
        #expect(try s.http.counter("paths", "/status/200") == 0, "the cancelled waiter still reached the server")

        let t1 = Date()
        running.cancel()
        let r = await running.value
        #expect(r.result.failureValue?.code == .cancelled, "\(r.result)")
        #expect(Date().timeIntervalSince(t1) < 1)

        // The slot is free again.
        let after = await fetcher.fetch(waiting)
        #expect((try? after.result.get())?.json["status"]?.int == 200, "\(after.result)")
    }

    @Test func perHostLimitHoldsAtTheServer() async throws {
        let s = try await Setup.make { $0.perHost = 2 }
        defer { s.close() }
        let fetcher = s.fetcher
        let urls = try (0..<12).map { try FetchURL.parse(s.http.url("/__hold?ms=100&i=\($0)")).get() }
        await withTaskGroup(of: Void.self) { group in
            for u in urls { group.addTask { _ = await fetcher.fetch(u) } }
        }
        #expect(try s.http.counter("hosts", s.http.host4, "requests_total") == 12)
        let peak = try s.http.counter("hosts", s.http.host4, "requests_peak")
        #expect(peak == 2, "requests_peak \(peak)")
        #expect(try s.http.counter("hosts", s.http.host4, "connections_total") <= 2)
    }
}

// MARK: - Helpers shared by the fetch tests

enum FetchTestSupport {
    struct ToolError: Error, CustomStringConvertible {
        var description: String
    }

    /// A resolv.conf without search domains, so the system's never leaks into the tests.
    /// (One fixed path, written atomically: runs do not leave a file each behind.)
    static let resolvConf: String = {
        let path = "/tmp/spate-fetch-test-resolv.conf"
        let temporary = "/tmp/spate-fetch-test-resolv-\(getpid()).conf"
        _ = "nameserver 127.0.0.1\noptions ndots:1\n".withCString { FILE_write(temporary, $0) }
        rename(temporary, path)
        return path
    }()

    /// Runs a tool to the end; its stdout.
    static func run(_ tool: String, _ arguments: [String]) throws -> Data {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ToolError(description: "\(tool) \(arguments.joined(separator: " ")) exited \(p.terminationStatus)")
        }
        return data
    }

    /// The decoded body of `url`, fetched with curl (not spate), into a file.
    static func downloadToFile(_ url: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("spate-fetch-body-\(UUID().uuidString)").path
        _ = try run("/usr/bin/curl", ["-s", "-g", "--compressed", "--noproxy", "*", "--max-time", "20", "-o", path, url])
        return path
    }

    static func download(_ url: String) throws -> Data {
        let path = try downloadToFile(url)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    /// `sha256sum FILE`, lowercase hex.
    static func sha256(ofFile path: String) throws -> String {
        let out = String(decoding: try run("/usr/bin/sha256sum", [path]), as: UTF8.self)
        guard let hex = out.split(separator: " ").first, hex.count == 64 else {
            throw ToolError(description: "sha256sum said \(out)")
        }
        return String(hex)
    }

    /// SHA-256 of the body curl downloads from `url`.
    static func sha256OfDownload(_ url: String) throws -> String {
        let path = try downloadToFile(url)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try sha256(ofFile: path)
    }

    /// SHA-256 of `text` (via a file and sha256sum).
    static func sha256(of text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("spate-fetch-text-\(UUID().uuidString)").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try sha256(ofFile: path)
    }

    /// A loopback TCP port with nothing listening (bound, then closed).
    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ToolError(description: "socket failed") }
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = 0
        a.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else { throw ToolError(description: "bind failed") }
        return Int(UInt16(bigEndian: a.sin_port))
    }

    /// Percent-encodes a URL for use as a query value.
    static func query(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }
}

extension JSONValue {
    fileprivate subscript(_ key: String) -> JSONValue? {
        guard case let .object(fields) = self else { return nil }
        return fields.first { $0.0 == key }?.1
    }

    fileprivate subscript(_ index: Int) -> JSONValue? {
        guard case let .array(items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    fileprivate var string: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    fileprivate var int: Int? {
        if case let .int(i) = self { return i }
        return nil
    }

    fileprivate var number: Double? {
        switch self {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: return nil
        }
    }

    /// `[[name, value], …]` as pairs.
    fileprivate var pairs: [(String, String)]? {
        guard case let .array(items) = self else { return nil }
        var out: [(String, String)] = []
        for item in items {
            guard case let .array(kv) = item, kv.count == 2, let k = kv[0].string, let v = kv[1].string else { return nil }
            out.append((k, v))
        }
        return out
    }
}

/// Input lines that C APIs would misread must be typed errors, not other URLs.
@Suite struct FetchURLParsingTests {
    @Test func schemeSeparatorAndDisplayForm() throws {
        for (text, expected) in [("http://a", true), ("a:://b", true), (":/:/", false), ("host:8080/x", false), ("ab", false),
                                 ("://", true), (":/", false), ("x" + String(repeating: "y", count: 70) + "://z", false),
                                 ("https:/x://y", true)] {
            #expect(FetchURL.hasSchemeSeparator(text) == expected, "\(text)")
        }
        let plain = try FetchURL.parse("http://a.test:8080/p?q=1#frag").get()
        #expect(plain.display == plain.full && plain.full == "http://a.test:8080/p?q=1")
        let secret = try FetchURL.parse("http://user:pw@a.test/p").get()
        #expect(secret.full == "http://user:pw@a.test/p" && secret.display == "http://a.test/p")
        let atInPath = try FetchURL.parse("http://a.test/@me").get()
        #expect(atInPath.display == "http://a.test/@me")
    }

    /// The parser's shortcut for plain URLs (no curl_url round trip) must give exactly what
    /// libcurl gives, and must leave to curl everything curl would change. Random URLs are
    /// built from pieces chosen to hit the edges (case, IPv4 forms, default and odd ports,
    /// dot segments, escapes, userinfo, fragments, every printable character).
    @Test func plainURLsAgreeWithCurl() throws {
        var rng = SystemRandomNumberGenerator()
        // Each part: a plain choice or, one time in three, an awkward one.
        func pick(_ plain: [String], _ awkward: [String]) -> String {
            (Int.random(in: 0..<3, using: &rng) == 0 ? awkward : plain).randomElement(using: &rng)!
        }
        let schemes = (["http", "https"], ["HTTP", "Https", "ftp", "http:", "https:/"])
        let hosts = (["127.0.0.1", "a.test", "example.org", "xn--bcher-kva.test", "a-b_c.d", "localhost", "10.0.0.255"],
                     ["Example.org", "127.1", "0x7f.0.0.1", "010.0.0.1", "1.2.3.04", "256.1.1.1", "1.2.3.4.5", "a..b", ".a", "a.",
                      "deadbeef", "cafe.babe", "ab.12", "[::1]", "u:p@a.test", "a.test@b.test", "0", "1.2.3",
                      String(repeating: "a", count: 64) + ".test", "host.test.", "\u{e9}t\u{e9}.test", ""])
        let ports = (["", ":8080", ":1", ":65535"], [":80", ":443", ":08080", ":65536", ":0", ":", ":1x", ":123456"])
        let pieces = (["/", "a", "p", "000001.html", "x.y", "=", "&", "~", "-", "_", "!$'()*+,;:", "..a", ".b"],
                      [".", "..", "./", "../", "?", "#", "%41", "%zz", "@", "\\", "\"", " ", "é", "\u{0}"])
        let printable = (0x21...0x7E).map { String(Character(Unicode.Scalar(UInt8($0)))) }
        var accepted = 0, total = 0
        for _ in 0..<20_000 {
            var path = ""
            let anyCharacter = Int.random(in: 0..<4, using: &rng) == 0
            for _ in 0..<Int.random(in: 0...6, using: &rng) {
                path += anyCharacter ? printable.randomElement(using: &rng)! : pick(pieces.0, pieces.1)
            }
            if Int.random(in: 0..<2, using: &rng) == 0 { path += "?" + pick(pieces.0, pieces.1) + pick(pieces.0, pieces.1) }
            if Int.random(in: 0..<8, using: &rng) > 0 { path = "/" + path }
            let text = pick(schemes.0, schemes.1) + "://" + pick(hosts.0, hosts.1) + pick(ports.0, ports.1) + path
            total += 1
            guard let fast = FetchURL.plain(text) else { continue }
            accepted += 1
            let slow = try FetchURL.parsedByCurl(text).get()
            #expect(fast == slow, "\(text): shortcut \(fast.full) \(fast.host) \(fast.port), curl \(slow.full) \(slow.host) \(slow.port)")
            #expect(fast.origin == slow.origin && fast.display == slow.display, "\(text)")
        }
        #expect(accepted > total / 20, "the shortcut took \(accepted) of \(total)")
        // The benchmark's and the common forms take the shortcut; these must not.
        for taken in ["http://127.0.0.1:8080/p/000001.html", "https://a.test/", "https://a.test/x?y=1&z=a:b", "http://a.test/a.b/.c/..d"] {
            #expect(FetchURL.plain(taken) != nil, "\(taken)")
        }
        for left in ["http://a.test", "http://A.test/", "http://127.1/", "http://a.test:80/", "https://a.test:443/", "http://a.test/./x",
                     "http://a.test/x/..", "http://a.test/%41", "http://a.test/#f", "http://a.test/x?", "http://u@a.test/", "http://0x7f.1/", "http://a.test/?q#f"] {
            #expect(FetchURL.plain(left) == nil, "\(left)")
        }
    }

    @Test func urlsAreParsedOrRejectedWithATypedError() {
        #expect(FetchURL.parse("http://a.test/x\u{0}evil").failureValue?.code == .invalidURL)
        #expect(FetchURL.parse("file:///etc/passwd").failureValue?.code == .protocolDenied)
        #expect(FetchURL.parse("mailto:someone@example.org").failureValue?.code == .protocolDenied)
        #expect(FetchURL.parse("http://bad_host!/").failureValue?.code == .invalidURL)
        let bare = try? FetchURL.parse("localhost:8080/p", defaultScheme: "http").get()
        #expect(bare?.display == "http://localhost:8080/p" && bare?.port == 8080)
        let creds = try? FetchURL.parse("https://u:pw@Example.org/a#frag").get()
        #expect(creds?.display == "https://Example.org/a" && creds?.host == "example.org" && creds?.full.contains("u:pw@") == true)
        #expect(FetchURL.redactUserinfo("http://u:pw@h/p?x=a@b") == "http://h/p?x=a@b")
    }
}
