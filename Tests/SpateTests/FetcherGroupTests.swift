import Foundation
import Testing
@testable import Spate

/// Several hubs fetching as one (`--hubs`): the per-host limit stays exact for the group,
/// a redirect to an origin a hub owns no slot of still completes, and DNS is asked once per
/// host for the whole group.
@Suite struct FetcherGroupTests {
    typealias F = FetchEndToEndTests

    @Test func sharesSplitEveryOriginsSlotsExactly() {
        let origins = (0..<200).map { "http://h\($0).test:80" } + ["https://example.org:443", "http://[::1]:8080"]
        for count in 1...5 {
            for perHost in 1...12 {
                let peers = FetcherPeers(count: count, perHost: perHost)
                for origin in origins {
                    let shares = (0..<count).map { peers.share(of: origin, hub: $0) }
                    #expect(shares.reduce(0, +) == perHost, "hubs \(count), per-host \(perHost), \(origin): shares \(shares)")
                    #expect(shares.max()! - shares.min()! <= 1, "uneven split \(shares)")
                    // Slot s belongs to a hub with a share, and each hub owns exactly its share of slots.
                    var owned = Array(repeating: 0, count: count)
                    for slot in 0..<perHost { owned[peers.owner(of: origin, slot: slot)] += 1 }
                    #expect(owned == shares, "hubs \(count), per-host \(perHost), \(origin): owners \(owned) vs shares \(shares)")
                    // Slot numbers past per-host wrap around to the same owners.
                    #expect(peers.owner(of: origin, slot: perHost + 1) == peers.owner(of: origin, slot: 1))
                    #expect(peers.share(of: origin, hub: peers.owner(of: origin, slot: 0)) >= 1)
                }
            }
        }
    }

    @Test(arguments: [(hubs: 3, perHost: 3), (hubs: 2, perHost: 5), (hubs: 4, perHost: 1)])
    func perHostLimitIsExactAcrossHubs(_ c: (hubs: Int, perHost: Int)) async throws {
        let f = try F.Fixtures()
        defer { f.stop() }
        let n = 6 * c.perHost
        let lines = (0..<n).map { f.http.url("/__hold?ms=100&i=\($0)") }
        let result = try await f.run(lines, ["--hubs", "\(c.hubs)", "--per-host", "\(c.perHost)", "-c", "100"])
        #expect(result.exited && result.status == 0, "\(F.describe(result))")
        let records = try F.records(result)
        #expect(records.count == n)
        #expect(Set(records.compactMap { $0["job"] as? Int }) == Set(0..<n))
        #expect(records.allSatisfy { F.value($0)?["status"] as? Int == 200 })
        let peak = try f.http.counter("hosts", f.http.host4, "requests_peak")
        #expect(peak <= c.perHost && peak >= min(2, c.perHost), "--hubs \(c.hubs) --per-host \(c.perHost): requests_peak \(peak)")
        #expect(try f.http.counter("hosts", f.http.host4, "connections_peak") <= c.perHost)
        // n × 100 ms at per-host at a time: 6 rounds at least.
        #expect(result.seconds >= 0.55, "\(n) × 100 ms holds at \(c.perHost) per host took only \(result.seconds) s")
    }

    @Test func jobsGoToTheLeastLoadedHubOfTheirOrigin() {
        for (count, perHost) in [(2, 4), (3, 5), (4, 1), (4, 6), (5, 3)] {
            let peers = FetcherPeers(count: count, perHost: perHost)
            for origin in ["http://a.test:80", "http://b.test:80", "https://c.test:443"] {
                let shares = (0..<count).map { peers.share(of: origin, hub: $0) }
                // perHost jobs fill the shares exactly; the next ones spread in proportion.
                var got = Array(repeating: 0, count: count)
                for _ in 0..<perHost { got[peers.assign(origin)] += 1 }
                #expect(got == shares, "hubs \(count), per-host \(perHost), \(origin): \(got) vs \(shares)")
                for _ in 0..<perHost { got[peers.assign(origin)] += 1 }
                #expect(got == shares.map { 2 * $0 }, "second round \(got) vs \(shares)")
                // A job done on a hub frees its place there: the next job goes back to it.
                let busy = (0..<count).filter { shares[$0] > 0 }
                for hub in busy {
                    peers.release(origin, hub: hub)
                    #expect(peers.assign(origin) == hub)
                }
                for hub in 0..<count { for _ in 0..<got[hub] { peers.release(origin, hub: hub) } }
                // Back to empty: the first job goes to the origin's home again.
                #expect(peers.assign(origin) == peers.owner(of: origin, slot: 0))
                peers.release(origin, hub: peers.owner(of: origin, slot: 0))
            }
        }
    }

    /// Input that alternates between hosts must not pin each host to a subset of the hubs
    /// (each host reaches its full --per-host), and hosts behind one address must not queue
    /// inside curl (its per-host connection limit counts by connect-to address).
    @Test func alternatingHostsEachGetTheirFullPerHost() async throws {
        let f = try F.Fixtures()
        defer { f.stop() }
        let p = f.http.port4
        var lines: [String] = []
        for i in 0..<16 {
            lines.append("http://a.fixture.test:\(p)/__hold?ms=300&i=\(i)")
            lines.append("http://b.fixture.test:\(p)/__hold?ms=300&i=\(i)")
        }
        let result = try await f.run(lines, ["--hubs", "2", "--per-host", "4", "-c", "100"])
        #expect(result.exited && result.status == 0, "\(F.describe(result))")
        #expect(try F.records(result).count == lines.count)
        for host in ["a.fixture.test:\(p)", "b.fixture.test:\(p)"] {
            let peak = try f.http.counter("hosts", host, "requests_peak")
            #expect(peak == 4, "\(host): requests_peak \(peak) with --hubs 2 --per-host 4")
            #expect(try f.http.counter("hosts", host, "connections_peak") <= 4)
        }
        // 16 holds of 300 ms per host, 4 at a time: 1.2 s at least, about that at most.
        #expect(result.seconds >= 1.1 && result.seconds < 4, "\(result.seconds) s")
    }

    /// Jobs of one host running on every hub at once ask DNS once for the whole group.
    @Test func dnsIsAskedOncePerHostForTheGroup() async throws {
        let f = try F.Fixtures()
        defer { f.stop() }
        f.dns.set("slow.fixture.test", .delay(milliseconds: 300, .records([.a("127.0.0.1", ttl: 60)])))
        let p = f.http.port4
        let lines = (0..<16).map { "http://slow.fixture.test:\(p)/status/200?i=\($0)" }
        let result = try await f.run(lines, ["--hubs", "4", "--per-host", "16", "-c", "100"])
        #expect(result.exited && result.status == 0, "\(F.describe(result))")
        let records = try F.records(result)
        #expect(records.count == 16 && records.allSatisfy { F.value($0)?["status"] as? Int == 200 })
        #expect(f.dns.queries(for: "slow.fixture.test").filter { $0.type == 1 }.count == 1)
    }

    /// A redirect to an origin whose only slot is on another hub runs there (--per-host 1).
    @Test func redirectHopsRunOnTheHubOfTheirOrigin() async throws {
        let f = try F.Fixtures()
        defer { f.stop() }
        let p = f.http.port4
        let peers = FetcherPeers(count: 4, perHost: 1)
        let sourceHome = peers.home(of: "http://a.fixture.test:\(p)")
        // A target name whose one slot is on another hub than a's (homes are a fixed hash).
        let target = try #require((0..<64).map { "t\($0).fixture.test" }.first {
            peers.home(of: "http://\($0):\(p)") != sourceHome
        })
        f.dns.set(target, .records([.a("127.0.0.1", ttl: 60)]))
        let to = "http://\(target):\(p)/__hold?ms=50"
        let lines = (0..<24).map { "http://a.fixture.test:\(p)/redirect?to=\(FetchTestSupport.query(to + "&i=\($0)"))&code=302" }
        let result = try await f.run(lines, ["--hubs", "4", "--per-host", "1", "-L", "-c", "50"], timeLimit: 60)
        #expect(result.exited && result.status == 0, "\(F.describe(result))")
        let records = try F.records(result)
        #expect(records.count == lines.count)
        for r in records {
            let v = F.value(r)
            #expect(v?["status"] as? Int == 200, "\(r)")
            #expect((v?["final_url"] as? String)?.hasPrefix(to + "&i=") == true, "\(r)")
            #expect((v?["redirects"] as? [Any])?.count == 1)
        }
        // The target's one slot: one 50 ms hold at a time, though every job started on a's hub.
        // (a's instant redirects are not counted: the fixture counts a request as active until
        // its handler thread returns, which can overlap the next request by a few µs.)
        #expect(try f.http.counter("hosts", "\(target):\(p)", "requests_peak") == 1)
        #expect(try f.http.counter("hosts", "\(target):\(p)", "connections_peak") == 1)
        #expect(result.seconds >= 1.2, "24 × 50 ms holds at --per-host 1 took only \(result.seconds) s")
        #expect(f.dns.queries(for: target).filter { $0.type == 1 }.count == 1)
    }
}
