import CSpate
import Glibc

/// libcurl's multi interface on the hub (DESIGN.md §2, §5). Loop-confined.
///
/// - `CURLMOPT_SOCKETFUNCTION` → the hub's epoll (watch; `CURL_POLL_REMOVE` does not mean
///   closed, so we only park the fd: ``Hub/park(fd:)``);
/// - `CURLMOPT_TIMERFUNCTION` only records the deadline (one-shot, −1 deletes): acting on a
///   0 ms timer inside the callback would re-enter curl (`CURLM_RECURSIVE_API_CALL`);
/// - completions are drained with `curl_multi_info_read` after every `socket_action`, the
///   result copied before `curl_multi_remove_handle` invalidates the message;
/// - easy handles are pooled and reused without `curl_easy_reset` (their connection
///   cache and TLS sessions live in the multi); shared options are set once per handle.
final class CurlMulti: HubSource {
    private unowned let hub: Hub
    private(set) var multi: UnsafeMutableRawPointer?
    private var deadline: UInt64? = nil
    private var idle: [UnsafeMutableRawPointer] = []
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    private var running: Int32 = 0
    private let configuration: FetchConfiguration
    /// The request headers (`-H`), one list shared by every handle.
    private var headerList: UnsafeMutablePointer<curl_slist>? = nil

    /// `hubs`: the number of hubs (each with its own multi) of the fetcher group; this one
    /// holds its share of the idle connections and of each host's connections.
    init(hub: Hub, configuration: FetchConfiguration, hubs: Int = 1) {
        self.hub = hub
        self.configuration = configuration
        for header in configuration.headers { headerList = curl_slist_append(headerList, header) }
        CurlGlobal.initialize()
        multi = curl_multi_init()
        let me = Unmanaged.passUnretained(self).toOpaque()
        cspate_multi_set_socket(multi, curlSocketCallback, me)
        cspate_multi_set_timer(multi, curlTimerCallback, me)
        // HTTP/2 multiplexing when both sides speak it.
        cspate_multi_setopt_long(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX)
        // Bound idle cached connections (default 4× handles) and so the fds they hold.
        let hubs = max(1, hubs)
        cspate_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, max(16, (configuration.concurrency + hubs - 1) / hubs))
        // No MAX_HOST_CONNECTIONS: the fetcher's gates bound each origin's transfers (and so
        // its connections) exactly, while curl 7.88 counts that limit per connect-to address
        // (CURLOPT_CONNECT_TO) or proxy, not per host name — hosts sharing an IP, or any
        // --proxy run, would queue inside curl, against CURLOPT_TIMEOUT_MS (DESIGN.md §2).
        // https://curl.se/libcurl/c/CURLMOPT_MAX_HOST_CONNECTIONS.html
        cspate_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max(16, configuration.concurrency + configuration.concurrency / 4))
    }

    /// Starts a transfer; `completion` gets the result once, on the hub — never before this
    /// returns (a caller may still be setting up what the completion uses).
    func start(_ t: Transfer, _ completion: Transfer.Completion) {
        if case .cancelled = t.state {
            t.state = .finished
            later(completion, TransferResult(error: FetchError(.cancelled, "cancelled")))
            return
        }
        guard let multi else {
            later(completion, TransferResult(error: FetchError(.cancelled, "fetcher shut down")))
            return
        }
        let h = idle.popLast() ?? newHandle()
        t.handle = h
        t.state = .running(completion)
        configure(h, t)
        active[h] = t
        let rc = curl_multi_add_handle(multi, h)
        if rc != CURLM_OK {
            if case .continuation = completion {
                finish(h, CURLE_FAILED_INIT)
            } else {
                // (Unless cancelled meanwhile: then the handle may already serve another.)
                let me = HubConfined((self, h, t))
                hub.execute { if me.value.0.active[me.value.1] === me.value.2 { me.value.0.finish(me.value.1, CURLE_FAILED_INIT) } }
            }
        }
    }

    /// A result known while starting: a continuation takes it at once (resuming only
    /// schedules its task), a fetch handle on the hub's next turn.
    private func later(_ completion: Transfer.Completion, _ result: TransferResult) {
        if case .continuation = completion { completion.resume(result); return }
        let box = HubConfined((completion, result))
        hub.execute { box.value.0.resume(box.value.1) }
    }

    /// Removes a running transfer (cancellation); it completes as `cancelled`.
    func cancel(_ t: Transfer) {
        switch t.state {
        case .idle:
            t.state = .cancelled
        case let .running(c):
            if let h = t.handle, let multi {
                curl_multi_remove_handle(multi, h)
                active[h] = nil
                recycle(h)
            }
            t.handle = nil
            t.state = .finished
            c.resume(TransferResult(error: FetchError(.cancelled, "cancelled")))
        case .cancelled, .finished:
            break
        }
    }

    /// Options every transfer shares, set once when a handle is created (handles are reused
    /// without `curl_easy_reset`: re-setting ~25 options per transfer showed in profiles).
    private func newHandle() -> UnsafeMutableRawPointer {
        let h = curl_easy_init()!
        let o = configuration
        cspate_easy_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        cspate_easy_setopt_str(h, CURLOPT_PROTOCOLS_STR, "http,https")
        cspate_easy_setopt_str(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        cspate_easy_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)   // spate follows, hop by hop
        cspate_easy_set_write(h, curlWriteCallback, nil)
        cspate_easy_set_header(h, curlHeaderCallback, nil)
        // A parked socket (see socketChanged) leaves epoll at its real close, while the fd
        // still names it: epoll registrations belong to the open socket, and one that a
        // child process inherited would outlive close(2) and keep reporting events.
        // https://curl.se/libcurl/c/CURLOPT_CLOSESOCKETFUNCTION.html
        cspate_easy_set_closesocket(h, curlCloseSocketCallback, Unmanaged.passUnretained(self).toOpaque())
        if let list = headerList { cspate_easy_setopt_ptr(h, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list)) }
        cspate_easy_setopt_str(h, CURLOPT_USERAGENT, o.userAgent)
        if o.warc == nil {
            cspate_easy_setopt_str(h, CURLOPT_ACCEPT_ENCODING, "")      // all curl can decode
        } else {
            // Archiving (WARC is all-or-nothing per Fetcher, so a pooled handle never changes
            // mode): curl hands over the body as received — chunked framing kept
            // (CURLOPT_HTTP_TRANSFER_DECODING 0: curl 7.88 still parses the chunks to find the
            // body's end, and writes them through raw), content coding kept
            // (CURLOPT_HTTP_CONTENT_DECODING 0) — and spate decodes it itself (RawCapture), so
            // only the codings spate can decode are offered.
            // https://curl.se/libcurl/c/CURLOPT_HTTP_TRANSFER_DECODING.html
            // https://curl.se/libcurl/c/CURLOPT_HTTP_CONTENT_DECODING.html
            cspate_easy_setopt_str(h, CURLOPT_ACCEPT_ENCODING, "gzip, deflate")
            cspate_easy_setopt_long(h, CURLOPT_HTTP_TRANSFER_DECODING, 0)
            cspate_easy_setopt_long(h, CURLOPT_HTTP_CONTENT_DECODING, 0)
            // The request exactly as sent comes only through the debug callback
            // (CURLINFO_HEADER_OUT, CURLINFO_DATA_OUT), which curl calls only when VERBOSE is
            // on; with a DEBUGFUNCTION set, nothing goes to stderr.
            // https://curl.se/libcurl/c/CURLOPT_DEBUGFUNCTION.html
            cspate_easy_set_debug(h, curlDebugCallback, nil)
            cspate_easy_setopt_long(h, CURLOPT_VERBOSE, 1)
        }
        cspate_easy_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, milliseconds(seconds: o.connectTimeout))
        cspate_easy_setopt_long(h, CURLOPT_TIMEOUT_MS, milliseconds(seconds: o.maxTime))
        cspate_easy_setopt_long(h, CURLOPT_HTTP_VERSION, o.httpVersion.curlValue)
        cspate_easy_setopt_off(h, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(o.maxBody))
        if o.insecure {
            cspate_easy_setopt_long(h, CURLOPT_SSL_VERIFYPEER, 0)
            cspate_easy_setopt_long(h, CURLOPT_SSL_VERIFYHOST, 0)
        }
        if let ca = o.caCert { cspate_easy_setopt_str(h, CURLOPT_CAINFO, ca) }
        // No proxy unless asked: an http_proxy in the environment must not reroute a URL list.
        cspate_easy_setopt_str(h, CURLOPT_PROXY, o.proxy ?? "")
        // Without a proxy no_proxy means nothing, but curl 7.88 still reads no_proxy and
        // NO_PROXY from the environment for every transfer (two getenv scans); an empty list
        // spares them. With --proxy, the environment's no_proxy applies, as in curl.
        if o.proxy == nil { cspate_easy_setopt_str(h, CURLOPT_NOPROXY, "") }
        return h
    }

    /// Options that change per transfer.
    private func configure(_ h: UnsafeMutableRawPointer, _ t: Transfer) {
        let r = t.request
        // withCString: a native string lends its own NUL-terminated bytes (curl copies the
        // URL); passing the String as the argument made a copy (utf8CString) per transfer.
        _ = r.url.full.withCString { cspate_easy_setopt_str(h, CURLOPT_URL, $0) }
        let me = Unmanaged.passUnretained(t).toOpaque()
        cspate_easy_setopt_ptr(h, CURLOPT_PRIVATE, me)
        cspate_easy_setopt_ptr(h, CURLOPT_WRITEDATA, me)
        cspate_easy_setopt_ptr(h, CURLOPT_HEADERDATA, me)
        if t.capture != nil { cspate_easy_setopt_ptr(h, CURLOPT_DEBUGDATA, me) }
        cspate_easy_setopt_ptr(h, CURLOPT_ERRORBUFFER, t.errorBuffer)
        if let address = r.address {
            // "host:port:address:port": curl connects there and never resolves the name
            // (no threaded resolver); Host header and TLS SNI stay the URL's host.
            let bracketed = address.utf8.contains(UInt8(ascii: ":")) ? "[\(address)]" : address
            let host = r.url.host.utf8.contains(UInt8(ascii: ":")) ? "[\(r.url.host)]" : r.url.host
            t.connectTo = curl_slist_append(nil, "\(host):\(r.url.port):\(bracketed):\(r.url.port)")
        }
        cspate_easy_setopt_ptr(h, CURLOPT_CONNECT_TO, t.connectTo.map { UnsafeMutableRawPointer($0) })
        // PIPEWAIT makes a transfer wait for a busy connection it might multiplex on. Only
        // worth it where HTTP/2 is possible: over HTTP/1.1 it serialises a host's transfers
        // behind its first, slow one (measured: 3 parallel 1 s requests took 2 s).
        // Not for h2c with prior knowledge either: curl 7.88 then fails the waiting transfers
        // with "Error in the HTTP2 framing layer" (curl's own --parallel does the same).
        cspate_easy_setopt_long(h, CURLOPT_PIPEWAIT, r.url.scheme == "https" && configuration.httpVersion != .http1_1 ? 1 : 0)
        if r.method == "GET" && r.body == nil {
            cspate_easy_setopt_long(h, CURLOPT_HTTPGET, 1)
        } else if r.method == "HEAD" {
            cspate_easy_setopt_long(h, CURLOPT_NOBODY, 1)
        } else {
            if let body = r.body {
                cspate_easy_setopt_long(h, CURLOPT_POSTFIELDSIZE, body.count)
                _ = body.withUnsafeBytes { cspate_easy_setopt_ptr(h, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress)) }
            } else {
                cspate_easy_setopt_long(h, CURLOPT_HTTPGET, 1)
            }
            cspate_easy_setopt_str(h, CURLOPT_CUSTOMREQUEST, r.method)
        }
    }

    /// Undoes what `configure` set that the next transfer might not set again.
    private func clean(_ h: UnsafeMutableRawPointer) {
        cspate_easy_setopt_ptr(h, CURLOPT_CUSTOMREQUEST, nil)
        cspate_easy_setopt_long(h, CURLOPT_NOBODY, 0)
        cspate_easy_setopt_ptr(h, CURLOPT_CONNECT_TO, nil)
        cspate_easy_setopt_ptr(h, CURLOPT_PRIVATE, nil)
        cspate_easy_setopt_ptr(h, CURLOPT_WRITEDATA, nil)
        cspate_easy_setopt_ptr(h, CURLOPT_HEADERDATA, nil)
        if configuration.warc != nil { cspate_easy_setopt_ptr(h, CURLOPT_DEBUGDATA, nil) }
    }

    // MARK: - Callbacks and loop

    fileprivate func socketChanged(_ fd: Int32, _ what: Int32) {
        if what == cspate_CURL_POLL_REMOVE {
            // Usually a kept-alive connection going idle, watched again by the next transfer.
            hub.park(fd: fd)
            return
        }
        var events: UInt32 = 0
        if what == cspate_CURL_POLL_IN || what == cspate_CURL_POLL_INOUT { events |= cspate_EPOLLIN }
        if what == cspate_CURL_POLL_OUT || what == cspate_CURL_POLL_INOUT { events |= cspate_EPOLLOUT }
        // Watched: new events. Parked (the connection idled between transfers): back, with
        // its handler. Otherwise a new watch (a new connection, or a closed one's number).
        if !hub.modify(fd: fd, events: events) && !hub.resume(fd: fd, events: events) {
            hub.watch(fd: fd, events: events) { [unowned self] flags in self.socketReady(fd, flags) }
        }
    }

    fileprivate func socketClosing(_ fd: Int32) {
        hub.unwatch(fd: fd)
    }

    fileprivate func timerChanged(_ ms: Int) {
        deadline = ms < 0 ? nil : monotonicNanos() &+ UInt64(ms) &* 1_000_000
    }

    private func socketReady(_ fd: Int32, _ flags: UInt32) {
        guard let multi else { return }
        var mask: Int32 = 0
        if flags & cspate_EPOLLIN != 0 { mask |= cspate_CURL_CSELECT_IN }
        if flags & cspate_EPOLLOUT != 0 { mask |= cspate_CURL_CSELECT_OUT }
        if flags & (cspate_EPOLLERR | cspate_EPOLLHUP) != 0 { mask |= cspate_CURL_CSELECT_ERR }
        curl_multi_socket_action(multi, fd, mask, &running)
        drain()
    }

    func nextDeadline(now: UInt64) -> UInt64? { deadline }

    func tick(now: UInt64) {
        guard let multi, let d = deadline, now >= d else { return }
        deadline = nil
        cspate_multi_timeout_action(multi, &running)
        drain()
    }

    private func drain() {
        guard let multi else { return }
        var easy: UnsafeMutableRawPointer? = nil
        var rc = CURLE_OK
        while cspate_multi_next_done(multi, &easy, &rc) == 1 {
            if let h = easy { finish(h, rc) }
        }
    }

    private func finish(_ h: UnsafeMutableRawPointer, _ rc: CURLcode) {
        guard let t = active.removeValue(forKey: h) else { return }
        t.collect(rc)
        if let multi { curl_multi_remove_handle(multi, h) }
        t.handle = nil
        recycle(h)
        if case let .running(c) = t.state {
            t.state = .finished
            c.resume(t.result)
        }
    }

    private func recycle(_ h: UnsafeMutableRawPointer) {
        clean(h)
        if idle.count < 4096 { idle.append(h) } else { curl_easy_cleanup(h) }
    }

    func shutdown() {
        for (h, t) in active {
            if let multi { curl_multi_remove_handle(multi, h) }
            curl_easy_cleanup(h)
            t.handle = nil
            if case let .running(c) = t.state {
                t.state = .finished
                c.resume(TransferResult(error: FetchError(.cancelled, "fetcher shut down")))
            }
        }
        active.removeAll()
        for h in idle { curl_easy_cleanup(h) }
        idle.removeAll()
        if let multi { curl_multi_cleanup(multi) }
        multi = nil
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
    }
}

@available(*, unavailable)
extension CurlMulti: Sendable {}

/// Hub-confined values handed to ``Hub/execute(_:)`` on the hub itself (its next turn).
private struct HubConfined<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// `curl_global_init` once per process, before the first handle.
enum CurlGlobal {
    /// With spate's memory functions (`cspate_curl_global_init`): curl's blocks past glibc's
    /// thread cache — its download buffer and a 1.5 KiB block, per transfer — are reused from
    /// a per-thread cache, and its small callocs take glibc's fast path.
    private static let once: Void = { _ = cspate_curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()
    static func initialize() { _ = once }
    /// Transfers on the calling thread whose download buffer (16 KiB + 1) came from its cache.
    static var bufferReusesOnThisThread: UInt { UInt(cspate_curl_cache_hits(Int(CURL_MAX_WRITE_SIZE) + 1)) }
    /// curl's realloc (small blocks that grow move through glibc's thread cache); for tests.
    static func realloc(_ p: UnsafeMutableRawPointer?, _ n: Int) -> UnsafeMutableRawPointer? { cspate_curl_realloc(p, n) }
    static func usableSize(_ p: UnsafeMutableRawPointer) -> Int { cspate_usable_size(p) }
    static func chunkUsableSize(_ p: UnsafeMutableRawPointer) -> Int { cspate_chunk_usable_size(p) }
    static var heapIsGlibcs: Bool { cspate_heap_is_glibc() != 0 }
}

private let curlSocketCallback: curl_socket_callback = { _, fd, what, userp, _ in
    guard let userp else { return 0 }
    // Guaranteed, not retained: the multi outlives its callbacks (it is the one calling).
    Unmanaged<CurlMulti>.fromOpaque(userp)._withUnsafeGuaranteedRef { $0.socketChanged(fd, what) }
    return 0
}

/// curl closes a socket: stop watching it first (on the hub: curl calls back from inside
/// the multi calls the hub makes).
private let curlCloseSocketCallback: cspate_closesocket_cb = { clientp, fd in
    if let clientp { Unmanaged<CurlMulti>.fromOpaque(clientp).takeUnretainedValue().socketClosing(fd) }
    return close(fd)
}

private let curlTimerCallback: curl_multi_timer_callback = { _, ms, userp in
    guard let userp else { return 0 }
    Unmanaged<CurlMulti>.fromOpaque(userp)._withUnsafeGuaranteedRef { $0.timerChanged(ms) }
    return 0
}

private let curlWriteCallback: cspate_data_cb = { ptr, size, nmemb, userdata in
    guard let userdata else { return 0 }
    let n = size * nmemb
    // Guaranteed, not retained: the transfer is held by the multi while its handle runs.
    let accepted = Unmanaged<Transfer>.fromOpaque(userdata)._withUnsafeGuaranteedRef {
        $0.received(UnsafeRawBufferPointer(start: ptr, count: n))
    }
    return accepted ? n : 0
}

/// Archiving only: the request as sent (header block, then any body). Every other kind of
/// debug information (text, incoming data, TLS) is ignored; a handle between transfers has
/// no DEBUGDATA and is ignored too.
private let curlDebugCallback: cspate_debug_cb = { _, type, data, size, userdata in
    guard let userdata, let data, type == CURLINFO_HEADER_OUT || type == CURLINFO_DATA_OUT else { return 0 }
    Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue().capture?
        .sent(header: type == CURLINFO_HEADER_OUT, UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

private let curlHeaderCallback: cspate_data_cb = { ptr, size, nmemb, userdata in
    guard let userdata else { return 0 }
    let n = size * nmemb
    Unmanaged<Transfer>.fromOpaque(userdata)._withUnsafeGuaranteedRef { $0.headerLine(UnsafeRawBufferPointer(start: ptr, count: n)) }
    return n
}
