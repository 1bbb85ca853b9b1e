import Foundation
import Synchronization

/// Several hubs fetching as one: one ``Fetcher`` (its own hub thread and `CURLM*`) per hub.
///
/// One hub thread is the ceiling of a libcurl client on a small machine: curl, the kernel's
/// loopback send path and the job code all run on it while the other cores idle (measured:
/// the hub at 100 % of a core, nginx at half of the other). Like nginx's workers, each hub
/// here is a whole event loop with its own connections; all they share per transfer is the
/// DNS cache, a small locked table (one lookup per host for the whole group, through the
/// home hub's c-ares channel).
///
/// `--per-host` stays exact for the group: an origin's slots are split between the hubs
/// (slot `s` of an origin belongs to hub `(home(origin) + s) % hubs`), each hub's gate admits
/// only its share, and each hop of a transfer runs on a hub that owns a slot of the hop's
/// origin. A hub opens connections to an origin only for transfers it runs, so the open
/// connections to an origin never exceed `--per-host` either. A new job goes to the hub
/// with the most free slots of its origin's share (``assign(_:)``), so an origin's jobs
/// spread over its hubs whatever order the input lists them in.
public final class FetcherGroup: Sendable {
    public let fetchers: [Fetcher]
    let peers: FetcherPeers
    /// Hubs this group started (all but the home hub), shut down by ``shutdown()``.
    private let ownHubs: [Hub]

    /// The home hub's fetcher: the hub the resolver (and the crawler) live on.
    public var home: Fetcher { fetchers[0] }
    public var configuration: FetchConfiguration { fetchers[0].configuration }
    public var count: Int { fetchers.count }

    init(fetchers: [Fetcher], peers: FetcherPeers, ownHubs: [Hub]) {
        self.fetchers = fetchers
        self.peers = peers
        self.ownHubs = ownHubs
    }

    /// Starts `hubs` fetchers: the first on `home`, each other one on a new hub thread.
    /// DNS goes through `resolver` (on `home`) for all of them.
    ///
    /// `helperNice` > 0 runs the new hub threads that much nicer than the process, once
    /// their fetchers are set up (see ``Hub/runNicer(by:)``). A crawl does
    /// (`--helper-hub-nice`, 10): its home hub also
    /// carries the crawler, which every page's completion and the start of the next pages
    /// go through, so it is the group's critical path; with equal weights the kernel shared
    /// the CPU between it and the helpers evenly. Measured on the 100,000-page crawl (2
    /// cores shared with nginx, 10 paired runs each): nice 10 on the helper took the wall
    /// time to 0.90× (8 of 10 pairs faster) and its CPU to 0.96×, nice 8 to 0.90×, 19 to
    /// 0.87–0.92×, and nice 12 on every hub alike only to 0.96×; context switches fell from
    /// 70–75k to 50–57k. `spate fetch`, whose hubs are alike, was unchanged (0.99×) and keeps 0:
    /// its records are emitted on every hub, and the writer thread, started by the first
    /// full block, would inherit a helper's nice value.
    public static func start(hubs: Int, home: Hub, resolver: Resolver, configuration: FetchConfiguration,
                             helperNice: Int32 = 0) async throws -> FetcherGroup {
        let n = max(1, hubs)
        var own: [Hub] = []
        do {
            for i in 1..<n { own.append(try Hub(name: "spate-hub-\(i)")) }
        } catch {
            for h in own { h.shutdown() }
            throw error
        }
        let peers = FetcherPeers(count: n, perHost: configuration.perHost)
        var fetchers: [Fetcher] = []
        for (i, hub) in ([home] + own).enumerated() {
            fetchers.append(await Fetcher.start(on: hub, resolver: resolver, configuration: configuration, peers: peers, index: i))
        }
        peers.set(fetchers)
        for hub in own { hub.runNicer(by: helperNice) }
        return FetcherGroup(fetchers: fetchers, peers: peers, ownHubs: own)
    }

    /// The group of one fetcher (as made by ``Fetcher/start(on:resolver:configuration:)``).
    public convenience init(_ fetcher: Fetcher) {
        self.init(fetchers: [fetcher], peers: fetcher.peers, ownHubs: [])
    }

    /// The fetcher for a new job on `origin`: the hub with the most free slots of the
    /// origin's share (jobs assigned and not yet ``finished(_:on:)`` count as taken), so an
    /// origin's jobs spread over its slots' hubs whatever order the input lists them in.
    public func assign(_ origin: String) -> Fetcher {
        fetchers[peers.assign(origin)]
    }

    /// A job ``assign(_:)`` gave to `fetcher` is done.
    public func finished(_ origin: String, on fetcher: Fetcher) {
        peers.release(origin, hub: fetcher.index)
    }

    /// Stops the hubs this group started (after the run: no transfer is left on them).
    /// The home hub belongs to the caller.
    public func shutdown() {
        for h in ownHubs { h.shutdown() }
        peers.set([])
    }
}

/// What a group's fetchers share: their number, the slot split, the DNS cache, and each
/// other (a redirect hop to an origin this hub has no slot of runs on one that has).
final class FetcherPeers: Sendable {
    let count: Int
    let perHost: Int
    let dns = SharedDNSCache()
    /// Weak: the group holds its fetchers; a fetcher holds its peers.
    private let members = Mutex<[WeakFetcher]>([])
    /// origin → jobs assigned per hub and not finished (``assign(_:)``); an origin leaves the
    /// table when its counts are back to zero, so it holds only origins with jobs in flight.
    private let load = Mutex<[String: [Int32]]>([:])

    init(count: Int, perHost: Int) {
        self.count = max(1, count)
        self.perHost = max(1, perHost)
    }

    func set(_ list: [Fetcher]) { members.withLock { $0 = list.map { WeakFetcher(fetcher: $0) } } }
    func member(_ i: Int) -> Fetcher? { members.withLock { i < $0.count ? $0[i].fetcher : nil } }

    /// The hub that owns slot 0 of `origin`: xxHash64 of its bytes, so the same in every run.
    func home(of origin: String) -> Int {
        if count == 1 { return 0 }
        var o = origin
        return Int(o.withUTF8 { URLFingerprint.xxh64($0) } % UInt64(count))
    }

    /// The hub owning slot `slot` (taken modulo `--per-host`) of `origin`.
    func owner(of origin: String, slot: Int) -> Int {
        count == 1 ? 0 : (home(of: origin) + slot % perHost) % count
    }

    /// How many of `origin`'s `--per-host` slots hub `index` owns.
    func share(of origin: String, hub index: Int) -> Int {
        count == 1 ? perHost : share(home: home(of: origin), hub: index)
    }

    func share(home: Int, hub index: Int) -> Int {
        let offset = ((index - home) % count + count) % count
        return perHost / count + (offset < perHost % count ? 1 : 0)
    }

    /// The hub for a new job on `origin` (see ``FetcherGroup/assign(_:)``).
    func assign(_ origin: String) -> Int {
        if count == 1 { return 0 }
        let home = home(of: origin)
        return load.withLock { table in
            // Taken out of the table while it changes: a copy left in it would make the
            // change copy the array (a malloc per job).
            var counts = table.removeValue(forKey: origin) ?? Array(repeating: 0, count: count)
            var best = home
            var bestFree = Int.min
            for k in 0..<count {
                let i = (home + k) % count
                let free = share(home: home, hub: i) - Int(counts[i])
                if free > bestFree { best = i; bestFree = free }
            }
            counts[best] += 1
            table[origin] = counts
            return best
        }
    }

    func release(_ origin: String, hub: Int) {
        if count == 1 { return }
        load.withLock { table in
            guard var counts = table.removeValue(forKey: origin) else { return }
            if hub < counts.count && counts[hub] > 0 { counts[hub] -= 1 }
            if !counts.allSatisfy({ $0 == 0 }) { table[origin] = counts }
        }
    }
}

struct WeakFetcher: Sendable {
    weak var fetcher: Fetcher?
}

/// The group's DNS cache (``DNSCache`` behind a lock), with one lookup in flight per host
/// for the whole group and later askers, on any hub, waiting for it.
final class SharedDNSCache: Sendable {
    typealias Waiter = CheckedContinuation<Result<[String], FetchError>?, Never>
    enum Start {
        case hit(Result<[String], FetchError>)
        /// The caller looks the host up and then calls ``finish(_:_:ttl:now:)``.
        case lookUp
        /// Another lookup is in flight: ``wait(_:id:_:)`` for it.
        case wait
    }

    private let state = Mutex(DNSCache())
    private let ids = Atomic<Int>(0)

    func start(_ host: String, now: UInt64) -> Start {
        state.withLock { cache in
            if let hit = cache.lookup(host, now: now) { return .hit(hit) }
            if cache.pending[host] != nil { return .wait }
            cache.pending[host] = []
            return .lookUp
        }
    }

    /// The cached answer for `host`, if any (no lookup is started).
    func cached(_ host: String, now: UInt64) -> Result<[String], FetchError>? {
        state.withLock { $0.lookup(host, now: now) }
    }

    /// A number for ``wait(_:id:_:)`` and ``cancel(_:id:)``.
    func newWaiterID() -> Int { ids.add(1, ordering: .relaxed).newValue }

    /// Queues `waiter` behind the lookup in flight; false when it finished meanwhile.
    func wait(_ host: String, id: Int, _ waiter: Waiter) -> Bool {
        state.withLock { cache in
            guard cache.pending[host] != nil else { return false }
            cache.pending[host]!.append((id, waiter))
            return true
        }
    }

    /// A waiting job was cancelled: it stops waiting at once, with a `cancelled` failure.
    func cancel(_ host: String, id: Int) {
        let waiter = state.withLock { cache -> Waiter? in
            guard let i = cache.pending[host]?.firstIndex(where: { $0.id == id }) else { return nil }
            return cache.pending[host]!.remove(at: i).waiter
        }
        waiter?.resume(returning: .failure(FetchError(.cancelled, "cancelled")))
    }

    /// Stores the answer and returns the waiters to resume (outside the lock).
    func finish(_ host: String, _ result: Result<[String], FetchError>, ttl: Int, now: UInt64) -> [Waiter] {
        state.withLock { cache in
            cache.store(host, result, ttl: ttl, now: now)
            return (cache.pending.removeValue(forKey: host) ?? []).map(\.waiter)
        }
    }
}
