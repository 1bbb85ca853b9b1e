import CSpate
import Foundation
import Glibc

/// What a fetch produced: the record's value (a completed transfer, any status) or the
/// failure, plus the facts the summary counts.
///
/// A class: the async functions that wait for a fetch hold only a reference in their
/// frames (as a struct it was ~250 bytes in each, and the fetch path's frames outgrew the
/// task's first slab: one more large malloc per fetch).
public final class FetchOutcome: Sendable {
    public let result: Result<FetchValue, FetchError>
    public let status: Int?
    public let bytes: Int
    public let attempts: Int
    /// The URL of the last response (after redirects spate followed).
    public let finalURL: FetchURL?
    /// The last response's `Location` header, as sent.
    public let location: String?
    /// The last response's `X-Robots-Tag` header.
    public let robotsTag: String?
    /// The last response's `Retry-After`, in seconds.
    public let retryAfter: Double?

    init(result: Result<FetchValue, FetchError>, status: Int?, bytes: Int, attempts: Int, finalURL: FetchURL? = nil,
         location: String? = nil, robotsTag: String? = nil, retryAfter: Double? = nil) {
        self.result = result
        self.status = status
        self.bytes = bytes
        self.attempts = attempts
        self.finalURL = finalURL
        self.location = location
        self.robotsTag = robotsTag
        self.retryAfter = retryAfter
    }
}

/// Per-call changes to a ``FetchConfiguration``.
struct FetchOverrides: Sendable {
    var followRedirects: Bool? = nil
    var maxRedirects: Int? = nil
    /// Receives each hop's body as it arrives.
    var consumer: BodyConsumer? = nil
    /// Another body cap for this fetch (the crawler's sitemaps: 50 MiB).
    var maxBody: Int? = nil
}

/// Receives response bodies as they arrive, on the hub, without buffering them whole
/// (the crawler's link extractor; the robots.txt reader).
protocol BodyConsumer: AnyObject, Sendable {
    /// A new response starts (each hop and each try): forget the previous one.
    func begin()
    /// A chunk of the decoded body; `contentType` is the response's Content-Type, if any.
    func consume(_ data: UnsafeRawBufferPointer, contentType: String?)
}

/// Bulk HTTP(S) on libcurl's multi interface, with every host resolved by c-ares.
///
/// An actor on the hub's executor: the multi handle and the host gates are hub state, and
/// the compiler checks that only hub code touches them. Jobs that run on the hub
/// (``HubTaskExecutor``) enter it without a thread hop. Several fetchers, one per hub, make
/// a ``FetcherGroup``: they share the DNS cache and split each origin's `--per-host` slots.
public actor Fetcher {
    public nonisolated let hub: Hub
    public nonisolated let resolver: Resolver
    public nonisolated let configuration: FetchConfiguration
    public nonisolated var unownedExecutor: UnownedSerialExecutor { hub.asUnownedSerialExecutor() }
    /// The group this fetcher belongs to (``FetcherGroup``) and its place in it.
    nonisolated let peers: FetcherPeers
    nonisolated let index: Int

    private var multi: CurlMulti?
    fileprivate var gates: [String: HostGate] = [:]
    fileprivate var nextWaiter = 0

    private init(hub: Hub, resolver: Resolver, configuration: FetchConfiguration, peers: FetcherPeers, index: Int) {
        self.hub = hub
        self.resolver = resolver
        self.configuration = configuration
        self.peers = peers
        self.index = index
    }

    /// A fetcher of its own (a group of one).
    public static func start(on hub: Hub, resolver: Resolver, configuration: FetchConfiguration) async -> Fetcher {
        let peers = FetcherPeers(count: 1, perHost: configuration.perHost)
        let f = await start(on: hub, resolver: resolver, configuration: configuration, peers: peers, index: 0)
        peers.set([f])
        return f
    }

    static func start(on hub: Hub, resolver: Resolver, configuration: FetchConfiguration, peers: FetcherPeers,
                      index: Int) async -> Fetcher {
        let f = Fetcher(hub: hub, resolver: resolver, configuration: configuration, peers: peers, index: index)
        await f.setUp()
        return f
    }

    private func setUp() {
        let m = CurlMulti(hub: hub, configuration: configuration, hubs: peers.count)
        hub.add(source: m)
        multi = m
    }

    // MARK: - Fetch

    /// Fetches `url` (following redirects when configured). `saveName` names the body file
    /// under `saveDirectory`.
    public func fetch(_ url: FetchURL, saveName: String? = nil) async -> FetchOutcome {
        await fetch(url, saveName: saveName, overrides: FetchOverrides())
    }

    /// Fetches `url` with per-call changes to the configuration (the crawler follows
    /// redirects itself, and streams bodies into its link extractor).
    func fetch(_ url: FetchURL, saveName: String? = nil, overrides: FetchOverrides) async -> FetchOutcome {
        let chain = Chain(url, method: configuration.method, body: configuration.body,
                          follow: overrides.followRedirects ?? configuration.followRedirects,
                          maxRedirects: overrides.maxRedirects ?? configuration.maxRedirects)
        let savePath = saveName.flatMap { name in configuration.saveDirectory.map { $0 + "/" + name } }
        let consumer = overrides.consumer, maxBody = overrides.maxBody
        while true {
            // A hop to an origin this hub owns no slot of (a redirect, with --per-host below
            // the number of hubs) runs on a hub that does.
            guard let fetcher = hopFetcher(chain.current.origin) else {
                return FetchOutcome(result: .failure(FetchError(.cancelled, "fetcher shut down")), status: nil, bytes: 0,
                                    attempts: chain.attempts)
            }
            let hop = await fetcher.fetchHop(chain.current, method: chain.method, body: chain.body, savePath: savePath,
                                             consumer: consumer, maxBody: maxBody)
            if let outcome = follow(chain, hop) { return outcome }
        }
    }

    /// The fetcher for a hop to `origin`: this one, or one that owns a slot of the origin.
    private func hopFetcher(_ origin: String) -> Fetcher? {
        peers.share(of: origin, hub: index) == 0 ? peers.member(peers.owner(of: origin, slot: 0)) : self
    }

    /// Where a fetch is in its redirect chain. A class, and the hop's handling in a
    /// synchronous function (``follow(_:_:)``): whatever an async function holds across an
    /// await lives in its frame, and a fetch's frame had grown to several KiB — a large
    /// malloc per fetch.
    final class Chain {
        let url: FetchURL
        var current: FetchURL
        var method: String
        var body: [UInt8]?
        let follow: Bool
        let maxRedirects: Int
        var redirects: [JSONValue] = []
        var visited: Set<String> = []   // the URLs of this chain, once it redirects
        var attempts = 0

        init(_ url: FetchURL, method: String, body: [UInt8]?, follow: Bool, maxRedirects: Int) {
            self.url = url
            current = url
            self.method = method
            self.body = body
            self.follow = follow
            self.maxRedirects = maxRedirects
        }
    }

    /// A hop's result: the fetch's outcome, or nil after moving `chain` on to the next URL.
    @inline(never)
    private func follow(_ chain: Chain, _ hop: Hop) -> FetchOutcome? {
        chain.attempts += hop.attempts
        let attempts = chain.attempts
        guard case let .success(r) = hop.result else {
            return FetchOutcome(result: .failure(hop.result.failureValue!), status: nil, bytes: 0, attempts: attempts)
        }
        let location = r.header("Location")
        if chain.follow, [301, 302, 303, 307, 308].contains(r.status), let location {
            chain.redirects.append(.object([("url", .string(chain.current.display)), ("status", .int(r.status)),
                                            ("location", .string(FetchURL.redactUserinfo(location)))]))
            if chain.redirects.count > chain.maxRedirects {
                return FetchOutcome(result: .failure(FetchError(.tooManyRedirects, "more than \(chain.maxRedirects) redirects")),
                                    status: r.status, bytes: 0, attempts: attempts)
            }
            switch chain.current.resolve(location) {
            case let .failure(e):
                return FetchOutcome(result: .failure(FetchError(e.code, "redirect to '\(FetchURL.redactUserinfo(location).prefix(200))': \(e.message)")),
                                    status: r.status, bytes: 0, attempts: attempts)
            case let .success(next):
                if chain.visited.isEmpty { chain.visited.insert(chain.url.full) }
                if !chain.visited.insert(next.full).inserted {
                    return FetchOutcome(result: .failure(FetchError(.redirectLoop, "redirect loop back to \(next.display)")),
                                        status: r.status, bytes: 0, attempts: attempts)
                }
                // 303, and 301/302 after a POST, continue as GET without a body (as browsers and curl do).
                if r.status == 303 || ((r.status == 301 || r.status == 302) && chain.method == "POST") {
                    chain.method = "GET"
                    chain.body = nil
                }
                chain.current = next
                return nil
            }
        }
        return FetchOutcome(result: .success(value(chain.url, chain.current, r, redirects: chain.redirects, dnsMs: hop.dnsMs,
                                                   attempts: attempts)),
                            status: r.status, bytes: r.bytes, attempts: attempts, finalURL: chain.current, location: location,
                            robotsTag: r.header("X-Robots-Tag"), retryAfter: r.header("Retry-After").flatMap(Self.retryAfter))
    }

    struct Hop: Sendable {
        var result: Result<TransferResult, FetchError>
        var attempts: Int
        var dnsMs: Double
    }

    /// One URL, with retries: resolve, wait for a per-host slot, transfer.
    ///
    /// Never inlined into ``fetch(_:saveName:overrides:)``: merged, their async frame
    /// was 2 KiB (past the task allocator's 1 KiB slabs: one more large malloc per fetch,
    /// which also makes glibc consolidate its fast bins); apart, ~0.3 and ~0.4 KiB.
    @inline(never)
    func fetchHop(_ url: FetchURL, method: String, body: [UInt8]?, savePath: String?, consumer: BodyConsumer?,
                          maxBody: Int? = nil) async -> Hop {
        var attempt = 0
        var dnsMs = 0.0
        while true {
            attempt += 1
            if Task.isCancelled { return Hop(result: .failure(FetchError(.cancelled, "cancelled")), attempts: attempt, dnsMs: dnsMs) }
            let t0 = monotonicNanos()
            let (addresses, cached) = await resolve(url.host)
            dnsMs = cached ? 0 : Double(monotonicNanos() - t0) / 1e6
            var wait: Double? = nil
            var outcome: Result<TransferResult, FetchError>
            switch addresses {
            case let .failure(e):
                outcome = .failure(e)
            case let .success(list):
                guard await acquireSlot(url.origin) else {
                    return Hop(result: .failure(FetchError(.cancelled, "cancelled")), attempts: attempt, dnsMs: dnsMs)
                }
                let r = await transfer(request(url, list, method: method, body: body, savePath: savePath, consumer: consumer,
                                               maxBody: maxBody))
                releaseSlot(url.origin)
                if r.exchange != nil { await archive(r) }
                if let e = r.error {
                    outcome = .failure(e)
                } else {
                    outcome = .success(r)
                    if [429, 502, 503, 504].contains(r.status) {
                        wait = r.header("Retry-After").flatMap(Self.retryAfter)
                        if wait == nil { wait = Self.backoff(attempt) }
                    }
                }
            }
            if case let .failure(e) = outcome, e.isRetryable { wait = Self.backoff(attempt) }
            guard let delay = wait, attempt <= configuration.retries else {
                return Hop(result: outcome, attempts: attempt, dnsMs: dnsMs)
            }
            await pause(min(delay, configuration.retryMaxWait))
        }
    }

    /// One try's request (synchronous: its temporaries stay out of the hop's async frame).
    @inline(never)
    private func request(_ url: FetchURL, _ addresses: [String], method: String, body: [UInt8]?, savePath: String?,
                         consumer: BodyConsumer?, maxBody: Int?) -> TransferRequest {
        request(url, address: url.hostIsLiteral ? nil : addresses[0], method: method, body: body, savePath: savePath,
                consumer: consumer, maxBody: maxBody)
    }

    /// `address`: where to connect instead of resolving the URL's host (nil: the host is a
    /// literal address).
    private func request(_ url: FetchURL, address: String?, method: String, body: [UInt8]?, savePath: String?,
                         consumer: BodyConsumer?, maxBody: Int?) -> TransferRequest {
        TransferRequest(url: url, address: address, method: method,
                        body: body, maxBody: maxBody ?? configuration.maxBody,
                        includeHeaders: configuration.includeHeaders, warc: configuration.warc, savePath: savePath,
                        consumer: consumer)
    }

    /// The back-off before a retry (a cancelled job ends it early).
    @inline(never)
    private func pause(_ seconds: Double) async {
        try? await Task.sleep(nanoseconds: nanoseconds(seconds: seconds))
    }

    /// Writes the exchange of `r` to the WARC file and notes where (or the write error) in
    /// `r`: every exchange that got a response is archived, each hop and each try. Out of
    /// line, like the slow paths of `resolve`.
    @inline(never)
    private func archive(_ r: TransferResult) async {
        guard let exchange = r.exchange, let writer = configuration.warc else { return }
        r.exchange = nil
        switch await writer.archive(exchange) {
        case let .success(location): r.warc = location
        case let .failure(e): if r.error == nil { r.error = FetchError(.writeError, e.message) }
        }
    }

    /// Exponential back-off with jitter: base 250 ms × 2^(n−1), capped at 10 s, then a
    /// uniformly random half to full of that (so synchronized failures spread out).
    static func backoff(_ attempt: Int) -> Double {
        let d = min(10.0, 0.25 * pow(2, Double(attempt - 1)))
        return d / 2 + Double.random(in: 0...(d / 2))
    }

    /// `Retry-After`: delta-seconds or an HTTP-date.
    static func retryAfter(_ value: String) -> Double? {
        if let s = Double(value.trimmingSpaces()), s >= 0 { return s }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = f.date(from: value.trimmingSpaces()) else { return nil }
        return max(0, date.timeIntervalSinceNow)
    }

    @inline(never)
    private func transfer(_ request: TransferRequest) async -> TransferResult {
        request.consumer?.begin()
        let t = Transfer(request)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<TransferResult, Never>) in
                guard let multi else {
                    c.resume(returning: TransferResult(error: FetchError(.cancelled, "fetcher shut down")))
                    return
                }
                multi.start(t, .continuation(c))
            }
        } onCancel: {
            hub.execute { [self] in self.assumeIsolated { $0.multi?.cancel(t) } }
        }
    }

    // MARK: - Fetches nobody awaits

    /// Fetches `url` and gives the outcome to `handle` (``FetchHandle/finished(_:)``), on
    /// this hub. Without a task when the fetch is one transfer that can start now: no
    /// retries configured (the crawler retries itself), no redirect to follow, nothing to
    /// archive, the address known (a literal or cached) and a slot free on the origin.
    /// Otherwise a task runs ``fetch(_:saveName:overrides:)``. Either way the outcome is the
    /// same, and `handle` cancels it.
    func fetch(_ url: FetchURL, overrides: FetchOverrides, handle: FetchHandle) {
        let follows = overrides.followRedirects ?? configuration.followRedirects
        // takeSlotNow fails where this hub has no share of the origin's slots (its gate's
        // limit is the share): the task then hands the fetch to the hub that has one.
        if !follows, configuration.retries == 0, configuration.warc == nil, !handle.cancelled, let multi,
           let address = knownAddress(url), takeSlotNow(url.origin) {
            let request = request(url, address: address, method: configuration.method, body: configuration.body,
                                  savePath: nil, consumer: overrides.consumer, maxBody: overrides.maxBody)
            request.consumer?.begin()
            let t = Transfer(request)
            handle.transfer = t
            handle.withoutTask = true
            multi.start(t, .handle(handle))
            return
        }
        handle.task = Task(executorPreference: hub.taskExecutor) { [self] in
            handle.finished(await fetch(url, overrides: overrides))
        }
        if handle.cancelled { handle.task?.cancel() }
    }

    /// The transfer of a fetch started without a task is over.
    fileprivate func transferred(_ handle: FetchHandle, _ result: TransferResult) {
        guard let t = handle.transfer else { return }
        handle.transfer = nil
        let url = t.request.url
        releaseSlot(url.origin)
        // As fetchHop ends a try with no retry left, and follow() a chain that does not follow.
        let chain = Chain(url, method: configuration.method, body: configuration.body, follow: false, maxRedirects: 0)
        let hop = Hop(result: result.error.map { .failure($0) } ?? .success(result), attempts: 1, dnsMs: 0)
        handle.finished(follow(chain, hop) ?? FetchOutcome(result: .failure(FetchError(.cancelled, "cancelled")), status: nil,
                                                           bytes: 0, attempts: 1))
    }

    /// The address to connect to when it is known without a lookup: `.some(nil)` for a
    /// literal host (curl connects to it as it is), `.some(address)` from the cache, nil
    /// when a lookup is needed. (No array is made for a literal.)
    private func knownAddress(_ url: FetchURL) -> String?? {
        if url.hostIsLiteral { return .some(nil) }
        if case let .success(list)? = peers.dns.cached(url.host, now: monotonicNanos()), let first = list.first { return .some(first) }
        return nil
    }

    private static func isLiteral(_ host: String) -> Bool { IPAddress.isIPv4(host) || IPAddress.isIPv6(host) }

    fileprivate func cancel(_ handle: FetchHandle) {
        handle.cancelled = true
        if let t = handle.transfer { multi?.cancel(t) }
        handle.task?.cancel()
    }

    // MARK: - DNS, through c-ares, cached by TTL, one lookup per host at a time

    /// The addresses for `host`, and whether they came from the cache (or the host is a literal).
    /// The cache and the one-lookup-per-host rule are the group's (``SharedDNSCache``).
    private func resolve(_ host: String) async -> (Result<[String], FetchError>, Bool) {
        if Self.isLiteral(host) { return (.success([host]), true) }
        let dns = peers.dns
        switch dns.start(host, now: monotonicNanos()) {
        case let .hit(hit): return (hit, true)
        case .wait: return await waitForLookUp(host, dns)
        case .lookUp: return await lookUp(host, dns)
        }
    }

    // The slow paths of `resolve` have frames of their own: inlined, their locals (DNS
    // answers, waiters) made the async frame of every fetch several KiB, one large malloc
    // per fetch (a frame beyond the task's first slab gets a slab of its own).

    /// Another job is looking `host` up: wait for its answer.
    @inline(never)
    private func waitForLookUp(_ host: String, _ dns: SharedDNSCache) async -> (Result<[String], FetchError>, Bool) {
        let id = dns.newWaiterID()
        let shared = await withTaskCancellationHandler {
            await withCheckedContinuation { (c: SharedDNSCache.Waiter) in
                if Task.isCancelled { c.resume(returning: .failure(FetchError(.cancelled, "cancelled"))); return }
                if !dns.wait(host, id: id, c) { c.resume(returning: nil) }
            }
        } onCancel: {
            dns.cancel(host, id: id)
        }
        // Finished meanwhile (now cached), or cancelled with its job: ask again for ours.
        guard let shared else { return await resolve(host) }
        if case let .failure(e) = shared, e.code == .cancelled, !Task.isCancelled { return await resolve(host) }
        return (shared, false)
    }

    /// This job looks `host` up through c-ares (A, then AAAA when there is no A), for every
    /// job waiting on it.
    @inline(never)
    private func lookUp(_ host: String, _ dns: SharedDNSCache) async -> (Result<[String], FetchError>, Bool) {
        var result: Result<[String], FetchError>
        var ttl = 300
        let v4 = await resolver.gethostbyname(host)
        if let e = v4.error, e.code == .noData {
            let v6 = await resolver.query(host, types: [.AAAA])
            if case let .success(.object(fields)) = v6.result, case let .array(items)? = fields.first?.1 {
                let addresses = items.compactMap { item -> String? in
                    if case let .object(kv) = item, case let .string(a)? = kv.first(where: { $0.0 == "address" })?.1 { return a }
                    return nil
                }
                result = addresses.isEmpty ? .failure(FetchError.dns(e, host: host)) : .success(addresses)
            } else {
                result = .failure(FetchError.dns(v6.error ?? e, host: host))
            }
        } else if let e = v4.error {
            result = .failure(FetchError.dns(e, host: host))
        } else {
            result = .success(v4.addresses)
            ttl = v4.ttl ?? 3600
        }
        for w in dns.finish(host, result, ttl: ttl, now: monotonicNanos()) { w.resume(returning: result) }
        return (result, false)
    }

    // MARK: - The record's value

    private func value(_ url: FetchURL, _ final: FetchURL, _ r: TransferResult, redirects: [JSONValue], dnsMs: Double, attempts: Int) -> FetchValue {
        let contentType = r.header("Content-Type")
        var title: String? = nil
        let isHTML = contentType.map(HTMLTitle.isHTML) ?? (r.firstByte == UInt8(ascii: "<"))
        if isHTML { title = r.title ?? HTMLTitle.extract(r.head) }
        return FetchValue(url: url.display, finalURL: final.display, status: r.status, httpVersion: r.httpVersion, ip: r.ip,
                          port: r.port, redirects: redirects, contentType: contentType,
                          contentLength: r.header("Content-Length").flatMap { Int($0) }, bytes: r.bytes, title: title,
                          bodySHA256: r.sha256, dns: dnsMs, connect: r.connect, tls: r.tls, ttfb: r.ttfb, total: r.total,
                          attempts: attempts, headers: configuration.includeHeaders ? r.headers : nil, saved: r.savedPath,
                          warc: r.warc?.json)
    }
}

/// A fetch started by ``Fetcher/fetch(_:overrides:handle:)``: it gets the outcome and
/// cancels the fetch. Its state is the fetcher's, touched only on the fetcher's hub (hence
/// `@unchecked Sendable`).
class FetchHandle: @unchecked Sendable {
    let fetcher: Fetcher
    fileprivate var task: Task<Void, Never>? = nil
    fileprivate var transfer: Transfer? = nil
    fileprivate var cancelled = false
    /// Whether the fetch went without a task (read once it is done).
    fileprivate(set) var withoutTask = false

    init(on fetcher: Fetcher) { self.fetcher = fetcher }

    /// The fetch's outcome, once, on the fetcher's hub (a subclass takes it from here).
    func finished(_ outcome: FetchOutcome) {}

    /// Ends the fetch early, from any thread: it completes with a `cancelled` failure.
    final func cancel() {
        hub.execute { [self] in fetcher.assumeIsolated { $0.cancel(self) } }
    }

    /// From ``Transfer/Completion``, on the hub.
    final func transferred(_ result: TransferResult) {
        fetcher.assumeIsolated { $0.transferred(self, result) }
    }

    private var hub: Hub { fetcher.hub }
}

/// Per-origin transfer slots (`--per-host`): a slow host never holds a slot another host
/// could use, because each host has its own queue. Waiters are FIFO and cancellable.
struct HostGate {
    /// This hub's share of the origin's `--per-host` slots (``FetcherPeers/share(of:hub:)``).
    var limit: Int
    var active = 0
    var waiters: [(id: Int, continuation: CheckedContinuation<Bool, Never>)] = []
}

extension Fetcher {
    /// Waits for a slot on `origin`; false when the job was cancelled while waiting.
    fileprivate func acquireSlot(_ origin: String) async -> Bool {
        if takeSlotNow(origin) { return true }
        return await waitForSlot(origin)
    }

    /// Takes a slot on `origin` if one is free and nobody waits for it.
    fileprivate func takeSlotNow(_ origin: String) -> Bool {
        // In place: one lookup (hashing the origin), where a get and a set made two.
        if let i = gates.index(forKey: origin) {
            guard gates.values[i].active < gates.values[i].limit && gates.values[i].waiters.isEmpty else { return false }
            gates.values[i].active += 1
            return true
        }
        // A gate is made by the first slot taken: a hub with no share of the origin's slots
        // (the fetch then goes to one that has) keeps nothing for it.
        let limit = peers.share(of: origin, hub: index)
        guard limit > 0 else { return false }
        gates[origin] = HostGate(limit: limit, active: 1)
        return true
    }

    /// The host is at its limit: queue for a slot (out of line, as `resolve`'s slow paths).
    @inline(never)
    private func waitForSlot(_ origin: String) async -> Bool {
        nextWaiter += 1
        let id = nextWaiter
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                if Task.isCancelled { c.resume(returning: false); return }
                // The actor may have run other work since the check above: a slot freed
                // meanwhile must be taken now, or this waiter would wait for a release that
                // never comes.
                if takeSlotNow(origin) {
                    c.resume(returning: true)
                    return
                }
                var gate = gates[origin] ?? HostGate(limit: peers.share(of: origin, hub: index))
                gate.waiters.append((id, c))
                gates[origin] = gate
            }
        } onCancel: {
            hub.execute { [self] in
                self.assumeIsolated { f in
                    guard let i = f.gates[origin]?.waiters.firstIndex(where: { $0.id == id }) else { return }
                    f.gates[origin]!.waiters.remove(at: i).continuation.resume(returning: false)
                }
            }
        }
    }

    /// Frees a slot on `origin`, handing it to the next waiter.
    fileprivate func releaseSlot(_ origin: String) {
        guard let i = gates.index(forKey: origin) else { return }
        if !gates.values[i].waiters.isEmpty {
            let next = gates.values[i].waiters.removeFirst()
            next.continuation.resume(returning: true)
            return
        }
        gates.values[i].active -= 1
        if gates.values[i].active == 0 { gates.remove(at: i) }
    }
}

/// Host → addresses, kept for the answer's TTL (clamped to 1 s … 1 h; NXDOMAIN/NODATA 5 s), with
/// one lookup in flight per host and later askers waiting for it. Guarded by ``SharedDNSCache``.
struct DNSCache {
    private var entries: [String: (result: Result<[String], FetchError>, expires: UInt64)] = [:]
    var pending: [String: [(id: Int, waiter: CheckedContinuation<Result<[String], FetchError>?, Never>)]] = [:]

    func lookup(_ host: String, now: UInt64) -> Result<[String], FetchError>? {
        guard let e = entries[host], e.expires > now else { return nil }
        return e.result
    }

    mutating func store(_ host: String, _ result: Result<[String], FetchError>, ttl: Int, now: UInt64) {
        // Only answers are cached: a timeout or a server failure must be asked again (by
        // the next job, or by a retry), and a cancelled lookup says nothing about the name.
        if case let .failure(e) = result, e.code != .nxdomain && e.code != .noData { return }
        if entries.count >= 100_000 { entries = entries.filter { $0.value.expires > now } }
        if entries.count >= 100_000 { entries.removeAll() }
        let seconds: Int
        switch result {
        case .success: seconds = min(3600, max(1, ttl))
        case .failure: seconds = 5
        }
        entries[host] = (result, now &+ UInt64(seconds) &* 1_000_000_000)
    }
}

extension Result {
    var failureValue: Failure? {
        if case let .failure(e) = self { return e }
        return nil
    }
}
