import Glibc
import Testing
@testable import Spate

/// The resolver against the loopback DNS fixture: every record type, every exception type,
/// hosts file, retries across resolvers, TC → TCP, wrong ids, cancellation.
@Suite struct ResolverTests {
    /// A hub, a fixture and a resolver pointed at it; torn down by `close()`.
    struct Setup {
        let hub: Hub
        let fixture: DNSFixture
        let resolver: Resolver

        static func make(tryTimeout: Double = 0.5, tries: Int = 2, hosts: String? = nil,
                         extraServers: [DNSServer] = [], fixture: DNSFixture? = nil) async throws -> Setup {
            let fixture = try fixture ?? DNSFixture()
            let hub = try Hub()
            var c = ResolverConfiguration()
            c.servers = [try DNSServer(parsing: fixture.address)] + extraServers
            c.tryTimeout = tryTimeout
            c.tries = tries
            c.resolvConfPath = emptyResolvConf
            if let hosts { c.hostsFile = HostsFile(text: hosts) }
            return Setup(hub: hub, fixture: fixture, resolver: try await Resolver.start(on: hub, configuration: c))
        }

        func close() {
            hub.shutdown()
            fixture.stop()
        }
    }

    /// A resolv.conf without search domains, so the system's never leaks into tests.
    static let emptyResolvConf: String = {
        let path = "/tmp/spate-test-resolv-\(getpid()).conf"
        let text = "nameserver 127.0.0.1\noptions ndots:1\n"
        _ = text.withCString { FILE_write(path, $0) }
        return path
    }()

    @Test func gethostbynameReturnsFirstIPv4WithTTLAndServer() async throws {
        let s = try await Setup.make()
        defer { s.close() }
        s.fixture.set("www.example.test", .records([.a("192.0.2.7", ttl: 120), .a("192.0.2.8", ttl: 60)]))
        let r = await s.resolver.gethostbyname("www.example.test")
        #expect(r.result == .success(.string("192.0.2.7")))
        #expect(r.addresses == ["192.0.2.7", "192.0.2.8"])
        #expect(r.ttl == 60)
        #expect(r.source == .dns)
        #expect(r.server?.description == s.fixture.address)
        #expect(r.attempts == 1)
    }

    @Test func gethostbynameFollowsCNAMEChain() async throws {
        let s = try await Setup.make()
        defer { s.close() }
        s.fixture.set("alias.test", .records([.cname("mid.test")]))
        s.fixture.set("mid.test", .records([.cname("real.test")]))
        s.fixture.set("real.test", .records([.a("198.51.100.1")]))
        let r = await s.resolver.gethostbyname("ALIAS.test.")
        #expect(r.result == .success(.string("198.51.100.1")))
    }

    @Test func literalAndHostsFileAnswerWithoutAQuery() async throws {
        let s = try await Setup.make(hosts: "127.0.0.1 localhost\n10.1.2.3 box.lan box # comment\n::1 v6only.lan\n")
        defer { s.close() }
        s.fixture.set("v6only.lan", .records([.a("203.0.113.9")]))
        let literal = await s.resolver.gethostbyname("192.0.2.1")
        #expect(literal.result == .success(.string("192.0.2.1")) && literal.source == .literal)
        let hosts = await s.resolver.gethostbyname("BOX.lan")
        #expect(hosts.result == .success(.string("10.1.2.3")) && hosts.source == .hosts && hosts.server == nil)
        #expect(s.fixture.queries(for: "box.lan").isEmpty)
        // IPv6-only hosts entries do not answer an IPv4 lookup: falls through to DNS, like glibc.
        let v6 = await s.resolver.gethostbyname("v6only.lan")
        #expect(v6.result == .success(.string("203.0.113.9")) && v6.source == .dns)
    }

    @Test(arguments: [
        (DNSFixture.Behavior.nxdomain, DNSError.Code.nxdomain),
        (.servfail, .servfail),
        (.refused, .refused),
        (.formerr, .formerr),
        (.notimp, .notimp),
        (.malformed, .badResponse),
        (.drop, .timeout),
        (.records([.mx(10, "mx.test")]), .noData),
    ])
    func exceptionTypes(behavior: DNSFixture.Behavior, code: DNSError.Code) async throws {
        let s = try await Setup.make(tryTimeout: 0.2, tries: 2)
        defer { s.close() }
        s.fixture.set("x.test", behavior)
        let r = await s.resolver.gethostbyname("x.test")
        #expect(r.error?.code == code, "got \(String(describing: r.result))")
    }

    @Test func invalidInputSendsNoQuery() async throws {
        let s = try await Setup.make()
        defer { s.close() }
        for bad in ["bad_name!.x", String(repeating: "a", count: 64) + ".test", "a..b", "nul\u{0}.test",
                    String(repeating: "abcdefghi.", count: 26)] {
            let r = await s.resolver.gethostbyname(bad)
            #expect(r.error?.code == .invalidInput, "\(bad.prefix(20))")
        }
        #expect(s.fixture.totalQueries == 0)
    }

    @Test func connectionRefusedOnClosedPort() async throws {
        // A port nothing listens on: bind, read the port, close.
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = UInt16(bigEndian: addr.sin_port)
        close(fd)
        let hub = try Hub()
        defer { hub.shutdown() }
        var c = ResolverConfiguration()
        c.servers = [DNSServer(host: "127.0.0.1", port: port)]
        c.tryTimeout = 1
        c.tries = 1
        c.resolvConfPath = Self.emptyResolvConf
        let resolver = try await Resolver.start(on: hub, configuration: c)
        let r = await resolver.gethostbyname("x.test")
        #expect(r.error?.code == .connectionRefused, "got \(String(describing: r.result))")
    }

    @Test func truncatedUDPAnswerIsRetriedOverTCP() async throws {
        let s = try await Setup.make()
        defer { s.close() }
        s.fixture.set("big.test", .truncate(.records([.a("192.0.2.55")])))
        let r = await s.resolver.gethostbyname("big.test")
        #expect(r.result == .success(.string("192.0.2.55")))
        let transports = s.fixture.queries(for: "big.test").map(\.transport)
        #expect(transports.contains(.udp) && transports.contains(.tcp))
    }

    @Test func wrongIDReplyIsIgnored() async throws {
        let s = try await Setup.make()
        defer { s.close() }
        s.fixture.set("id.test", .wrongID(.records([.a("192.0.2.66")])))
        let r = await s.resolver.gethostbyname("id.test")
        #expect(r.result == .success(.string("192.0.2.66")))
    }

    @Test func retryAfterDropUsesASecondAttempt() async throws {
        let s = try await Setup.make(tryTimeout: 0.2, tries: 3)
        defer { s.close() }
        s.fixture.set("flaky.test", .dropFirst(1, .records([.a("192.0.2.77")])))
        let r = await s.resolver.gethostbyname("flaky.test")
        #expect(r.result == .success(.string("192.0.2.77")))
        #expect(r.attempts == 2)
    }

    @Test func retriesMoveToTheNextResolver() async throws {
        let dead = try DNSFixture()
        defer { dead.stop() }
        let live = try DNSFixture()
        // Rotation starts on a different server for each lookup; whichever is first, a
        // lookup that needed two tries must have been answered by the live one.
        let s = try await Setup.make(tryTimeout: 0.2, tries: 2, extraServers: [try DNSServer(parsing: live.address)], fixture: dead)
        defer { s.close(); live.stop() }
        for i in 0..<4 {
            dead.set("h\(i).test", .drop)
            live.set("h\(i).test", .records([.a("192.0.2.\(i + 1)")]))
        }
        for i in 0..<4 {
            let r = await s.resolver.gethostbyname("h\(i).test")
            #expect(r.result == .success(.string("192.0.2.\(i + 1)")))
            #expect(r.server?.description == live.address)
            #expect(r.attempts >= 1 && r.attempts <= 2)
        }
        #expect(dead.totalQueries >= 1)   // rotation did try the dead one
    }

    @Test func typedQueriesDecodeEveryTypeWithTTL() async throws {
        let s = try await Setup.make()
        defer { s.close() }
        s.fixture.set("all.test", .records([
            .a("192.0.2.1", ttl: 11), .aaaa("2001:db8::1", ttl: 12), .mx(10, "mx.all.test", ttl: 13),
            .ns("ns1.all.test", ttl: 14), .txt(["v=spf1 ", "-all"], ttl: 15),
            .soa(mname: "ns1.all.test", rname: "host.all.test", serial: 2026112101, refresh: 7200, retry: 900, expire: 1209600, minimum: 300, ttl: 16),
            .srv(priority: 1, weight: 5, port: 5060, target: "sip.all.test", ttl: 17),
            .caa(flags: 0, tag: "issue", value: "letsencrypt.org", ttl: 18),
        ]))
        s.fixture.set("cn.test", .records([.cname("all.test", ttl: 19)]))
        s.fixture.set("1.2.0.192.in-addr.arpa", .records([.ptr("all.test", ttl: 20)]))
        let r = await s.resolver.query("all.test", types: [.A, .AAAA, .MX, .NS, .TXT, .SOA, .SRV, .CAA])
        let expected: JSONValue = .object([
            ("A", .array([.object([("address", .string("192.0.2.1")), ("ttl", .int(11))])])),
            ("AAAA", .array([.object([("address", .string("2001:db8::1")), ("ttl", .int(12))])])),
            ("MX", .array([.object([("priority", .int(10)), ("host", .string("mx.all.test")), ("ttl", .int(13))])])),
            ("NS", .array([.object([("host", .string("ns1.all.test")), ("ttl", .int(14))])])),
            ("TXT", .array([.object([("text", .string("v=spf1 -all")), ("ttl", .int(15))])])),
            ("SOA", .array([.object([("mname", .string("ns1.all.test")), ("rname", .string("host.all.test")),
                                      ("serial", .int(2026112101)), ("refresh", .int(7200)), ("retry", .int(900)),
                                      ("expire", .int(1209600)), ("minimum", .int(300)), ("ttl", .int(16))])])),
            ("SRV", .array([.object([("priority", .int(1)), ("weight", .int(5)), ("port", .int(5060)),
                                      ("target", .string("sip.all.test")), ("ttl", .int(17))])])),
            ("CAA", .array([.object([("flags", .int(0)), ("tag", .string("issue")), ("value", .string("letsencrypt.org")), ("ttl", .int(18))])])),
        ])
        #expect(r.result == .success(expected))
        let cname = await s.resolver.query("cn.test", types: [.CNAME])
        #expect(cname.result == .success(.object([("CNAME", .array([.object([("target", .string("all.test")), ("ttl", .int(19))])]))])))
        let ptr = await s.resolver.query("192.0.2.1", types: [.PTR])
        #expect(ptr.result == .success(.object([("PTR", .array([.object([("host", .string("all.test")), ("ttl", .int(20))])]))])))
    }

    @Test func typedNoDataPerTypeAndOverall() async throws {
        let s = try await Setup.make()
        defer { s.close() }
        s.fixture.set("some.test", .records([.a("192.0.2.1")]))
        let partial = await s.resolver.query("some.test", types: [.A, .MX])
        guard case let .success(.object(fields)) = partial.result else { Issue.record("\(partial.result)"); return }
        #expect(fields.map(\.0) == ["A", "MX"])
        #expect(fields[1].1 == .array([]))
        let none = await s.resolver.query("some.test", types: [.MX, .TXT])
        #expect(none.error?.code == .noData)
        let nx = await s.resolver.query("missing.test", types: [.A, .MX])
        #expect(nx.error?.code == .nxdomain)
    }

    @Test func cancellationCompletesPromptlyAndLateReplyIsIgnored() async throws {
        let s = try await Setup.make(tryTimeout: 5, tries: 1)
        defer { s.close() }
        // The reply comes after 3 s: a kill must complete the job before it (within 2.5 s of
        // the kill: a loaded machine took 1.07 s once, where the job itself takes milliseconds).
        s.fixture.set("slow.test", .delay(milliseconds: 3000, .records([.a("192.0.2.9")])))
        s.fixture.set("fast.test", .records([.a("192.0.2.10")]))
        let resolver = s.resolver
        let job = spawn { await resolver.gethostbyname("slow.test") }
        try await Task.sleep(nanoseconds: 50_000_000)
        let t0 = monotonicNanos()
        job.kill()
        await job.join()
        #expect(monotonicNanos() - t0 < 2_500_000_000)
        #expect(job.ready)
        // The lookup observed the cancellation (or the job reports the kill).
        #expect(job.value?.error?.code == .cancelled || job.error is JobKilled)
        // The late reply arrives on the hub and must not crash or resume twice.
        try await Task.sleep(nanoseconds: 3_200_000_000)
        #expect(s.fixture.queries(for: "slow.test").count == 1)
        let again = await resolver.gethostbyname("fast.test")
        #expect(again.result == .success(.string("192.0.2.10")))
    }

    @Test func shutdownWithQueriesInFlightCompletesThemAsCancelled() async throws {
        let fixture = try DNSFixture()
        defer { fixture.stop() }
        fixture.set("never.test", .drop)
        let hub = try Hub()
        var c = ResolverConfiguration()
        c.servers = [try DNSServer(parsing: fixture.address)]
        c.tryTimeout = 10
        c.tries = 1
        c.resolvConfPath = Self.emptyResolvConf
        let resolver = try await Resolver.start(on: hub, configuration: c)
        let jobs = (0..<20).map { _ in spawn { await resolver.gethostbyname("never.test") } }
        try await Task.sleep(nanoseconds: 100_000_000)
        hub.shutdown()   // ares_destroy: every pending callback fires with ARES_EDESTRUCTION
        let done = await joinAll(jobs, timeout: 2)
        #expect(done.count == 20)
        #expect(jobs.allSatisfy { $0.value?.error?.code == .cancelled })
    }

    @Test func manyConcurrentLookupsAllAnswered() async throws {
        let s = try await Setup.make(tryTimeout: 1, tries: 3)
        defer { s.close() }
        for i in 0..<2000 { s.fixture.set("m\(i).test", .records([.a("10.0.\(i / 256).\(i % 256)")])) }
        let pool = Pool(size: 500)
        let resolver = s.resolver
        var jobs: [Job<DNSLookup>] = []
        for i in 0..<2000 { jobs.append(await pool.spawn { await resolver.gethostbyname("m\(i).test") }) }
        await pool.join()
        for (i, job) in jobs.enumerated() {
            #expect(job.value?.result == .success(.string("10.0.\(i / 256).\(i % 256)")))
        }
    }
}

/// Writes a small file with libc (tests avoid Foundation file APIs in static initialisers).
@discardableResult
func FILE_write(_ path: String, _ text: UnsafePointer<CChar>) -> Bool {
    guard let f = fopen(path, "w") else { return false }
    fputs(text, f)
    fclose(f)
    return true
}


/// IP literals are recognised by inet_pton on a stack copy of the text; the answers must be
/// those of inet_pton on the string itself.
@Suite struct IPAddressTests {
    static func reference(_ family: Int32, _ s: String) -> Bool {
        var a6 = in6_addr()
        return inet_pton(family, s, &a6) == 1
    }

    @Test func literalsAgreeWithInetPton() {
        var samples = ["127.0.0.1", "0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4 ", " 1.2.3.4",
                       "::1", "::", "fe80::1", "2001:db8::ff00:42:8329", "::ffff:192.0.2.128", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9",
                       "[::1]", "example.com", "", "localhost", "1.2.3.4\u{0}x", "é", String(repeating: "1", count: 63),
                       String(repeating: "1", count: 64), "0000:0000:0000:0000:0000:ffff:255.255.255.255"]
        var g = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789abcdef:.")
        for _ in 0..<3000 {
            samples.append(String((0..<Int.random(in: 0...46, using: &g)).map { _ in alphabet.randomElement(using: &g)! }))
        }
        var v4 = 0, v6 = 0
        for s in samples {
            #expect(IPAddress.isIPv4(s) == Self.reference(AF_INET, s), "\(s)")
            #expect(IPAddress.isIPv6(s) == Self.reference(AF_INET6, s), "\(s)")
            if IPAddress.isIPv4(s) { v4 += 1 }
            if IPAddress.isIPv6(s) { v6 += 1 }
        }
        #expect(v4 >= 3 && v6 >= 6, "too few literals recognised: \(v4) IPv4, \(v6) IPv6")
    }
}
