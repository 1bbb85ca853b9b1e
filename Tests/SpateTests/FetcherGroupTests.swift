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

    @Test func redirectsToOriginsOfOtherHubsCompleteAndDNSIsAskedOncePerHost() async throws {
        let f = try F.Fixtures()
        defer { f.stop() }
        let p = f.http.port4
        // a.fixture.test redirects to b.fixture.test: with --per-host 1 and 4 hubs each origin
        // has one slot, on one hub; the hop to b runs on b's hub whatever hub a's job ran on.
        let target = "http://b.fixture.test:\(p)/__hold?ms=50"
        let lines = (0..<24).map { "http://a.fixture.test:\(p)/redirect?to=\(FetchTestSupport.query(target + "&i=\($0)"))&code=302" }
        let result = try await f.run(lines, ["--hubs", "4", "--per-host", "1", "-L", "-c", "50"], timeLimit: 60)
        #expect(result.exited && result.status == 0, "\(F.describe(result))")
        let records = try F.records(result)
        #expect(records.count == lines.count)
        for r in records {
            let v = F.value(r)
            #expect(v?["status"] as? Int == 200, "\(r)")
            #expect((v?["final_url"] as? String)?.hasPrefix("http://b.fixture.test:\(p)/__hold?ms=50&i=") == true, "\(r)")
            #expect((v?["redirects"] as? [Any])?.count == 1)
        }
        // b's one slot: one 50 ms hold at a time, whichever hub each job started on. (a's
        // instant redirects are not counted: the fixture counts a request as active until
        // its handler thread returns, which can overlap the next request by a few µs.)
        #expect(try f.http.counter("hosts", "b.fixture.test:\(p)", "requests_peak") == 1)
        #expect(try f.http.counter("hosts", "b.fixture.test:\(p)", "connections_peak") == 1)
        #expect(result.seconds >= 1.2, "24 × 50 ms holds on b at --per-host 1 took only \(result.seconds) s")
        // One lookup per host for the whole group (the A query; AAAA is not needed).
        #expect(f.dns.queries(for: "a.fixture.test").filter { $0.type == 1 }.count == 1)
        #expect(f.dns.queries(for: "b.fixture.test").filter { $0.type == 1 }.count == 1)
    }
}
