import CSpate
import Glibc
import Synchronization

/// How a ``Resolver`` talks to DNS.
public struct ResolverConfiguration: Sendable {
    /// Servers to ask; empty = the system's (resolv.conf, or `resolvConfPath`).
    public var servers: [DNSServer] = []
    /// A resolv.conf to read instead of the system's (servers, search list, ndots).
    public var resolvConfPath: String? = nil
    /// Per-try timeout in seconds.
    public var tryTimeout: Double = 2.0
    /// Tries per query; each retry asks the next server when there are several.
    public var tries: Int = 2
    /// Answer the default (gethostbyname) mode from this table first; nil = DNS only.
    public var hostsFile: HostsFile? = nil
    /// Channels per server (c-ares query ids are 16-bit per channel: keep each channel to a
    /// few thousand in flight). ``ResolverConfiguration/forConcurrency(_:)`` sizes it.
    public var channelsPerServer: Int = 1
    /// UDP receive buffer per socket.
    public var receiveBuffer: Int = 4 << 20

    public init() {}

    /// Sets `channelsPerServer` so that each channel carries at most ~2,000 queries, up to
    /// 32 channels (64,000 in flight per server; c-ares takes up to 65,536 per channel):
    /// each channel has its own sockets and buffers, and an absurd `-c` (10 million) made
    /// thousands of them — hundreds of MB before the first line was read, or the machine's
    /// memory.
    public mutating func size(forConcurrency concurrency: Int) {
        channelsPerServer = min(32, max(1, (concurrency + 1999) / 2000))
    }
}

/// What a lookup found, or why it failed, plus where the answer came from.
public struct DNSLookup: Sendable {
    public enum Source: String, Sendable { case dns, hosts, literal }

    /// Default mode: the first IPv4 address as a string. Typed mode: an object keyed by type.
    public var result: Result<JSONValue, DNSError>
    public var source: Source
    /// The server that answered (or was asked last); nil unless `source == .dns`.
    public var server: DNSServer?
    /// DNS tries made (0 for hosts/literal answers and invalid input).
    public var attempts: Int
    /// Default mode: every IPv4 address of the answer.
    public var addresses: [String] = []
    /// Default mode: the smallest TTL of the A records used.
    public var ttl: Int? = nil

    public var error: DNSError? {
        if case let .failure(e) = result { return e }
        return nil
    }
}

/// A DNS resolver on c-ares 1.18, driven by the hub.
///
/// An actor whose executor *is* the hub, so that every touch of a channel is checked to
/// happen on the hub thread (`assumeIsolated` → ``Hub/checkIsolated()``). The lookups
/// themselves are `nonisolated`: they post the submission to the hub and suspend; the
/// c-ares callback resumes them straight onto the caller's executor, so a lookup costs the
/// hub one inbox message and no second hop, and parsing the reply happens off the hub.
public actor Resolver {
    public nonisolated let hub: Hub
    public nonisolated let configuration: ResolverConfiguration
    /// The servers in use, in rotation order.
    public nonisolated let servers: [DNSServer]
    private var engine: DNSEngine?
    private nonisolated let rotation = Atomic<Int>(0)

    public nonisolated var unownedExecutor: UnownedSerialExecutor { hub.asUnownedSerialExecutor() }

    private init(hub: Hub, configuration: ResolverConfiguration, servers: [DNSServer]) {
        self.hub = hub
        self.configuration = configuration
        self.servers = servers
    }

    /// Creates the channels on the hub. Fails on an unusable configuration (bad
    /// resolv.conf, no servers).
    public static func start(on hub: Hub, configuration: ResolverConfiguration) async throws -> Resolver {
        var servers = configuration.servers
        if servers.isEmpty { servers = try systemServers(configuration) }
        guard !servers.isEmpty else { throw DNSError(.invalidInput, "no DNS servers configured") }
        let resolver = Resolver(hub: hub, configuration: configuration, servers: servers)
        try await resolver.setUp()
        return resolver
    }

    private func setUp() throws {
        let engine = try DNSEngine(hub: hub, servers: servers, configuration: configuration)
        hub.add(source: engine)
        self.engine = engine
    }

    /// The servers c-ares would use from resolv.conf (its own parser, so search/ndots/
    /// options stay c-ares' business).
    private static func systemServers(_ configuration: ResolverConfiguration) throws -> [DNSServer] {
        var ch: ares_channel? = nil
        let rc: Int32 = configuration.resolvConfPath.withOptionalCString { path in
            cspate_ares_init(&ch, 0, 1000, 1, 0, path, nil, nil)
        }
        guard rc == ARES_SUCCESS, let ch else {
            throw DNSError(.internal, "reading resolver configuration: \(String(cString: ares_strerror(rc)))", aresStatus: rc)
        }
        defer { ares_destroy(ch) }
        var buf = [CChar](repeating: 0, count: 4096)
        guard cspate_ares_servers_csv(ch, &buf, Int32(buf.count)) == ARES_SUCCESS else { return [] }
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.split(separator: ",").compactMap { try? DNSServer(parsing: String($0)) }
    }

    // MARK: - Lookups

    /// gethostbyname semantics: an IP literal answers itself; then the hosts file (when
    /// configured); then DNS `A` through the search list, CNAMEs followed, first IPv4.
    public nonisolated func gethostbyname(_ input: String) async -> DNSLookup {
        if IPAddress.isIPv4(input) {
            return DNSLookup(result: .success(.string(input)), source: .literal, attempts: 0, addresses: [input])
        }
        let name: String
        switch HostName.validate(input) {
        case let .success(n): name = n
        case let .failure(e): return DNSLookup(result: .failure(e), source: .dns, attempts: 0)
        }
        if let hosts = configuration.hostsFile, let addresses = hosts.ipv4(for: name) {
            return DNSLookup(result: .success(.string(addresses[0])), source: .hosts, attempts: 0, addresses: addresses)
        }
        let (reply, attempts) = await ask(name, type: .A, search: true)
        var lookup = DNSLookup(result: .failure(DNSError(.internal, "unset")), source: .dns, server: reply.server, attempts: attempts)
        if let failure = reply.failure {
            lookup.result = .failure(failure)
            return lookup
        }
        do {
            let message = try DNSMessage(reply.bytes)
            let records = message.records(of: .A, for: message.questionName)
            var addresses: [String] = []
            var ttl = Int.max
            for r in records where r.rdata.count == 4 {
                addresses.append(IPAddress.ntop4(message.bytes[r.rdata]))
                ttl = min(ttl, Int(r.ttl))
            }
            guard let first = addresses.first else {
                lookup.result = .failure(DNSError(.noData, "no A record for \(name)"))
                return lookup
            }
            lookup.result = .success(.string(first))
            lookup.addresses = addresses
            lookup.ttl = ttl
        } catch {
            lookup.result = .failure(error as? DNSError ?? DNSError(.badResponse, "\(error)"))
        }
        return lookup
    }

    /// Typed lookups: one exact-name query per type (no search list), concurrently.
    /// An IP literal is asked for PTR on its reverse name.
    public nonisolated func query(_ input: String, types: [DNSRecordType]) async -> DNSLookup {
        let reverse = IPAddress.reverseName(input)
        let name: String
        if let reverse {
            name = reverse
        } else {
            switch HostName.validate(input) {
            case let .success(n): name = n
            case let .failure(e): return DNSLookup(result: .failure(e), source: .dns, attempts: 0)
            }
        }
        typealias Part = (index: Int, reply: RawReply, attempts: Int)
        var parts: [Part] = []
        if types.count == 1 {
            let (reply, attempts) = await ask(name, type: types[0], search: false)
            parts = [(0, reply, attempts)]
        } else {
            parts = await withTaskGroup(of: Part.self) { group in
                for (i, t) in types.enumerated() {
                    group.addTask { let (r, a) = await self.ask(name, type: t, search: false); return (i, r, a) }
                }
                var out: [Part] = []
                for await p in group { out.append(p) }
                return out.sorted { $0.index < $1.index }
            }
        }
        var fields: [(String, JSONValue)] = []
        var firstError: DNSError? = nil
        var anyData = false
        for p in parts {
            let type = types[p.index]
            if let failure = p.reply.failure {
                if failure.code == .noData {
                    fields.append((type.rawValue, .array([])))
                    continue
                }
                firstError = firstError ?? failure
                continue
            }
            do {
                let message = try DNSMessage(p.reply.bytes)
                let values = try message.records(of: type, for: message.questionName).map { try message.decode($0, as: type) }
                anyData = anyData || !values.isEmpty
                fields.append((type.rawValue, .array(values)))
            } catch {
                firstError = firstError ?? (error as? DNSError ?? DNSError(.badResponse, "\(error)"))
            }
        }
        let last = parts.last!
        var lookup = DNSLookup(result: .success(.object(fields)), source: .dns, server: last.reply.server,
                               attempts: parts.map(\.attempts).max() ?? 0)
        if let firstError {
            lookup.result = .failure(firstError)
        } else if !anyData {
            let list = types.map(\.rawValue).joined(separator: ",")
            lookup.result = .failure(DNSError(.noData, "no \(list) records for \(name)"))
        }
        return lookup
    }

    /// One question with retries: each retry goes to the next server in rotation.
    private nonisolated func ask(_ name: String, type: DNSRecordType, search: Bool) async -> (RawReply, Int) {
        let start = rotation.add(1, ordering: .relaxed).oldValue
        let shards = configuration.channelsPerServer
        let tries = max(1, configuration.tries)
        var reply = RawReply(status: ARES_ECANCELLED, bytes: [], server: servers[0])
        for attempt in 0..<tries {
            let serverIndex = (start &+ attempt) % servers.count
            let channelIndex = serverIndex * shards + (start / servers.count) % shards
            reply = await rawQuery(name, type: type, search: search, channel: channelIndex)
            if Task.isCancelled { return (RawReply(status: ARES_ECANCELLED, bytes: [], server: reply.server), attempt + 1) }
            guard let failure = reply.failure, failure.isRetryable, attempt + 1 < tries else {
                return (reply, attempt + 1)
            }
        }
        return (reply, tries)
    }

    /// Submits one c-ares query on the hub and suspends until its callback (or cancellation).
    private nonisolated func rawQuery(_ name: String, type: DNSRecordType, search: Bool, channel: Int) async -> RawReply {
        let pending = PendingQuery()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<RawReply, Never>) in
                let submit: @Sendable () -> Void = { [self] in
                    self.assumeIsolated { resolver in
                        guard let engine = resolver.engine else {
                            continuation.resume(returning: RawReply(status: ARES_EDESTRUCTION, bytes: [], server: resolver.servers[0]))
                            return
                        }
                        engine.submit(pending, continuation, name: name, type: type.code, search: search, channel: channel)
                    }
                }
                // A job running on the hub (HubTaskExecutor) submits directly.
                if hub.isOnHub { submit() } else { hub.execute(submit) }
            }
        } onCancel: {
            hub.execute { pending.cancel() }
        }
    }
}

/// A reply as c-ares delivered it: the status and the raw answer, parsed off the hub.
struct RawReply: Sendable {
    var status: Int32
    var bytes: [UInt8]
    var server: DNSServer

    var failure: DNSError? { status == ARES_SUCCESS ? nil : DNSError.ares(status) }
}

/// The state of one submitted query. Hub-confined; `@unchecked Sendable` only so that the
/// cancellation handler can carry it to the hub.
///
/// c-ares 1.18 cannot cancel one query, so cancellation resumes the continuation at once
/// and the late callback finds `.finished` and is ignored. Cancellation that arrives before
/// submission (the inbox orders both) leaves `.cancelled`, and `submit` resumes right away.
final class PendingQuery: @unchecked Sendable {
    enum State {
        case idle
        case waiting(CheckedContinuation<RawReply, Never>, DNSServer)
        case cancelled
        case finished
    }

    var state = State.idle

    func cancel() {
        switch state {
        case .idle:
            state = .cancelled
        case let .waiting(continuation, server):
            state = .finished
            continuation.resume(returning: RawReply(status: ARES_ECANCELLED, bytes: [], server: server))
        case .cancelled, .finished:
            break
        }
    }

    func complete(_ reply: RawReply) {
        guard case let .waiting(continuation, _) = state else { return }
        state = .finished
        continuation.resume(returning: reply)
    }
}

/// The hub-side half of the resolver: the channels, their timeouts, submission.
final class DNSEngine: HubSource {
    let channels: [AresChannel]

    init(hub: Hub, servers: [DNSServer], configuration: ResolverConfiguration) throws {
        var channels: [AresChannel] = []
        for server in servers {
            for _ in 0..<max(1, configuration.channelsPerServer) {
                channels.append(try AresChannel(hub: hub, server: server, configuration: configuration))
            }
        }
        self.channels = channels
    }

    func submit(_ pending: PendingQuery, _ continuation: CheckedContinuation<RawReply, Never>,
                name: String, type: UInt16, search: Bool, channel index: Int) {
        let ch = channels[index]
        if case .cancelled = pending.state {
            pending.state = .finished
            continuation.resume(returning: RawReply(status: ARES_ECANCELLED, bytes: [], server: ch.server))
            return
        }
        guard let channel = ch.channel else {
            continuation.resume(returning: RawReply(status: ARES_EDESTRUCTION, bytes: [], server: ch.server))
            return
        }
        pending.state = .waiting(continuation, ch.server)
        ch.inflight += 1
        let context = Unmanaged.passRetained(QueryContext(pending: pending, channel: ch)).toOpaque()
        // ns_c_in = 1. The callback may run synchronously inside these calls.
        if search {
            ares_search(channel, name, 1, Int32(type), aresQueryCallback, context)
        } else {
            ares_query(channel, name, 1, Int32(type), aresQueryCallback, context)
        }
    }

    func nextDeadline(now: UInt64) -> UInt64? {
        var earliest: UInt64? = nil
        for ch in channels where ch.inflight > 0 {
            if let d = ch.nextDeadline(now: now) { earliest = min(earliest ?? d, d) }
        }
        return earliest
    }

    func tick(now: UInt64) {
        for ch in channels where ch.inflight > 0 { ch.tick(now: now) }
    }

    func shutdown() {
        for ch in channels { ch.destroy() }
    }
}

@available(*, unavailable)
extension DNSEngine: Sendable {}

/// The `arg` of one c-ares callback: retained at submission, released in the callback,
/// which c-ares calls exactly once per query (with `ARES_EDESTRUCTION` at the latest).
private final class QueryContext {
    let pending: PendingQuery
    unowned let channel: AresChannel

    init(pending: PendingQuery, channel: AresChannel) {
        self.pending = pending
        self.channel = channel
    }
}

private let aresQueryCallback: ares_callback = { arg, status, _, abuf, alen in
    guard let arg else { return }
    let context = Unmanaged<QueryContext>.fromOpaque(arg).takeRetainedValue()
    // The cached timeout deadline is left alone: a completion can only make the true
    // deadline later, and an early wake-up just recomputes it (ares_timeout is O(n)).
    context.channel.inflight -= 1
    var bytes: [UInt8] = []
    if let abuf, alen > 0 { bytes = Array(UnsafeBufferPointer(start: abuf, count: Int(alen))) }
    context.pending.complete(RawReply(status: status, bytes: bytes, server: context.channel.server))
}
