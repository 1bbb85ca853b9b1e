import CSpate
import Glibc

/// One c-ares channel, bound to one server, driven by the hub. Loop-confined.
///
/// spate keeps one channel per (server, shard) and does the retries itself, with c-ares
/// `tries = 1`: that way each retry goes to the *next* resolver, and the record can name the
/// resolver that actually answered — c-ares 1.18's callbacks do not say which server did.
/// Truncated UDP answers are still retried over TCP by c-ares, inside the same try.
///
/// Options (ares_init_options(3)):
/// - `ARES_OPT_SOCK_STATE_CB` feeds our epoll (never `ares_fds`/`ares_process`: FD_SETSIZE);
/// - `ARES_OPT_TIMEOUTMS`/`ARES_OPT_TRIES` are always explicit (the 5 s × 4 default is 75 s
///   worst case on a dead server);
/// - `ARES_FLAG_STAYOPEN` avoids socket churn; `ARES_FLAG_NOCHECKRESP` hands SERVFAIL,
///   REFUSED and NOTIMP replies to us as such (without it, 1.18 skips the only server of
///   the channel and reports `ECONNREFUSED`): spate's own retry loop decides what to retry; `ARES_OPT_SOCK_RCVBUF` = 4 MiB because the
///   default 208 KiB overflows at a few thousand in flight (14 % timeouts measured);
/// - lookups `"b"`: DNS only, the hosts file is answered from memory (see ``HostsFile``).
final class AresChannel {
    let server: DNSServer
    private(set) var channel: ares_channel? = nil
    private unowned let hub: Hub
    /// Queries submitted and not yet called back.
    var inflight = 0
    /// Cached `ares_timeout` deadline (monotonic ns); nil = recompute.
    var deadline: UInt64? = nil

    init(hub: Hub, server: DNSServer, configuration: ResolverConfiguration) throws {
        self.hub = hub
        self.server = server
        var ch: ares_channel? = nil
        let timeoutMs = Int32(max(1, milliseconds(seconds: configuration.tryTimeout)))
        let me = Unmanaged.passUnretained(self).toOpaque()
        let rc: Int32 = configuration.resolvConfPath.withOptionalCString { path in
            cspate_ares_init(&ch, ARES_FLAG_STAYOPEN | ARES_FLAG_NOCHECKRESP, timeoutMs, 1, Int32(configuration.receiveBuffer),
                             path, aresSocketStateCallback, me)
        }
        guard rc == ARES_SUCCESS, let ch else {
            throw DNSError(.internal, "ares_init_options: \(String(cString: ares_strerror(rc)))", aresStatus: rc)
        }
        channel = ch
        let src = ares_set_servers_ports_csv(ch, server.description)
        guard src == ARES_SUCCESS else {
            ares_destroy(ch)
            channel = nil
            throw DNSError(.invalidInput, "resolver \(server): \(String(cString: ares_strerror(src)))", aresStatus: src)
        }
    }

    /// Socket-state callback: c-ares opened, closed or changed interest in a socket.
    fileprivate func socketStateChanged(fd: Int32, readable: Bool, writable: Bool) {
        if !readable && !writable {
            hub.unwatch(fd: fd)
            return
        }
        var events: UInt32 = 0
        if readable { events |= cspate_EPOLLIN }
        if writable { events |= cspate_EPOLLOUT }
        hub.watch(fd: fd, events: events) { [unowned self] flags in
            guard let channel else { return }
            // EPOLLERR/HUP: hand the fd over as readable so c-ares reads the error.
            let readFD = flags & (cspate_EPOLLIN | cspate_EPOLLERR | cspate_EPOLLHUP) != 0 ? fd : ARES_SOCKET_BAD
            let writeFD = flags & cspate_EPOLLOUT != 0 ? fd : ARES_SOCKET_BAD
            ares_process_fd(channel, readFD, writeFD)
        }
    }

    /// Processes timeouts when the cached deadline has passed.
    func tick(now: UInt64) {
        guard inflight > 0, let channel, let d = deadline, now >= d else { return }
        deadline = nil
        ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD)
    }

    func nextDeadline(now: UInt64) -> UInt64? {
        guard inflight > 0, let channel else { return nil }
        if let d = deadline { return d }
        let ms = cspate_ares_timeout_ms(channel)
        if ms < 0 { return nil }
        let d = now &+ UInt64(ms) &* 1_000_000
        deadline = d
        return d
    }

    /// Destroys the channel: pending callbacks fire now with `ARES_EDESTRUCTION`.
    func destroy() {
        guard let ch = channel else { return }
        ares_destroy(ch)
        channel = nil
    }
}

@available(*, unavailable)
extension AresChannel: Sendable {}

private let aresSocketStateCallback: ares_sock_state_cb = { data, fd, readable, writable in
    guard let data else { return }
    Unmanaged<AresChannel>.fromOpaque(data).takeUnretainedValue()
        .socketStateChanged(fd: fd, readable: readable != 0, writable: writable != 0)
}

extension Optional where Wrapped == String {
    func withOptionalCString<R>(_ body: (UnsafePointer<CChar>?) -> R) -> R {
        switch self {
        case .none: return body(nil)
        case let .some(s): return s.withCString { body($0) }
        }
    }
}
