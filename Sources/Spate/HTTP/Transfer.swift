import CSpate
import Glibc

/// What one HTTP request asks for (one hop; redirects are separate transfers). A class:
/// made once per try and only read after, it travels by reference — as a struct (~380
/// bytes) its copies swelled the async frames of the fetch path past the task's first slab.
final class TransferRequest: Sendable {
    let url: FetchURL
    /// The address to connect to instead of resolving (CURLOPT_CONNECT_TO): c-ares resolved it.
    let address: String?
    let method: String
    let body: [UInt8]?
    /// The decoded-body cap (`--max-body`, or the caller's override).
    let maxBody: Int
    /// Keep every response header (`--headers`), not only those the record uses.
    let includeHeaders: Bool
    /// Where the exchange is archived, if anywhere. (Only these three of the fetch's
    /// configuration are read per transfer — the rest is the multi's — so the request does
    /// not carry a copy of it: that copy retained ~9 buffers per try.)
    let warc: WARCWriter?
    /// Where to write the body, if anywhere.
    let savePath: String?
    /// Gets the body as it arrives (crawl).
    let consumer: BodyConsumer?

    init(url: FetchURL, address: String?, method: String, body: [UInt8]?, maxBody: Int,
         includeHeaders: Bool, warc: WARCWriter?, savePath: String?, consumer: BodyConsumer? = nil) {
        self.url = url
        self.address = address
        self.method = method
        self.body = body
        self.maxBody = maxBody
        self.includeHeaders = includeHeaders
        self.warc = warc
        self.savePath = savePath
        self.consumer = consumer
    }
}

/// What one transfer produced. Copied out of curl on the hub before the handle is reused.
/// A class: filled in by one transfer's callbacks on the hub, then handed whole to the job
/// that asked (never written after its continuation is resumed). As a struct (~340 bytes),
/// its copies in `Result`s and hops made the fetch path's async frames ~7 KiB — one large
/// malloc per fetch for the task's frame slab.
final class TransferResult: @unchecked Sendable {
    init() {}
    init(error: FetchError) { self.error = error }

    var error: FetchError?
    var status = 0
    var httpVersion = ""
    var ip = ""
    var port = 0
    var headers: [(String, String)] = []
    var bytes = 0
    var sha256 = ""
    /// The start of the body (up to ``Transfer/headBytes``), for the title; left empty when
    /// the first chunk held the whole `<title>` element (``title``).
    var head: [UInt8] = []
    /// The body's first byte (HTML is sniffed by it when there is no Content-Type).
    var firstByte: UInt8?
    /// The title, found complete in the body's first chunk.
    var title: String?
    var connect = 0.0, tls = 0.0, ttfb = 0.0, total = 0.0
    var savedPath: String?
    /// The exchange as it crossed the wire, for WARC (archiving runs only; any response).
    var exchange: WARCExchange?
    /// Where the exchange's response record was written.
    var warc: WARCLocation?

    /// The last header named `name` (ASCII case-insensitive). Compared in place: a
    /// `last(where:)` closure got each (name, value) pair as a copy, two retains a header,
    /// and a record asks for five headers.
    func header(_ name: String) -> String? {
        headers.withUnsafeBufferPointer { hs in
            var i = hs.count
            while i > 0 {
                i -= 1
                if asciiCaseInsensitiveEqual(hs[i].0, name) { return hs[i].1 }
            }
            return nil
        }
    }
}

/// One transfer in flight: the easy handle's callbacks write here. Hub-confined; the
/// `@unchecked Sendable` is for the cancellation handler that carries it to the hub.
final class Transfer: @unchecked Sendable {
    enum State {
        case idle
        case running(Completion)
        case cancelled
        case finished
    }

    /// Who gets the result: a task waiting in ``Fetcher``'s `transfer`, or, on the hub, the
    /// handle of a fetch that needed no task (``Fetcher/fetch(_:overrides:handle:)``).
    enum Completion {
        case continuation(CheckedContinuation<TransferResult, Never>)
        case handle(FetchHandle)

        func resume(_ result: TransferResult) {
            switch self {
            case let .continuation(c): c.resume(returning: result)
            case let .handle(h): h.transferred(result)
            }
        }
    }

    let request: TransferRequest
    var state = State.idle
    var handle: UnsafeMutableRawPointer? = nil
    var connectTo: UnsafeMutablePointer<curl_slist>? = nil
    /// CURLOPT_ERRORBUFFER: curl keeps the pointer, so it is not a Swift array.
    let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    let result = TransferResult()
    var hasher = Digest(.sha256)
    var overLimit = false
    var saveFD: Int32 = -1
    var saveErrno: Int32 = 0
    /// The raw exchange, when archiving (`FetchConfiguration.warc`); nil otherwise, and then
    /// nothing below costs more than this one check.
    let capture: RawCapture?
    static let headBytes = 256 * 1024

    init(_ request: TransferRequest) {
        self.request = request
        capture = request.warc.map { RawCapture(spoolDirectory: $0.directory, maxBody: request.maxBody) }
        errorBuffer[0] = 0
    }

    deinit {
        errorBuffer.deallocate()
        if let connectTo { curl_slist_free_all(connectTo) }
        if saveFD >= 0 { close(saveFD) }
    }

    /// Body bytes from curl's write callback: decoded ones, or raw ones when archiving (the
    /// capture keeps them and hands the decoded bytes on).
    func received(_ data: UnsafeRawBufferPointer) -> Bool {
        if let capture { return capture.body(data) { decoded($0) } }
        return decoded(data)
    }

    /// Body bytes (decoded): counted against the cap, hashed, the head kept for the title,
    /// streamed to the save file.
    private func decoded(_ data: UnsafeRawBufferPointer) -> Bool {
        result.bytes += data.count
        if result.bytes > request.maxBody {
            overLimit = true
            return false
        }
        hasher.update(data)
        // A consumer (the crawler's link extractor) reads the title itself: no head copy.
        if let consumer = request.consumer {
            consumer.consume(data, contentType: result.header("Content-Type"))
        } else if result.title == nil && result.head.count < Transfer.headBytes {
            // Mostly the first chunk holds the whole title: then the body's start is not
            // copied (a ~2 KB copy per page was a malloc past glibc's thread cache, and its
            // allocation made glibc consolidate its fast bins: perf, uprobes).
            if result.firstByte == nil, let first = data.first {
                result.firstByte = first
                if case let .title(t) = HTMLTitle.scan(data, final: false) { result.title = t }
            }
            if result.title == nil {
                result.head.append(contentsOf: data.prefix(Transfer.headBytes - result.head.count))
            }
        }
        if let path = request.savePath {
            if saveFD < 0 {
                saveFD = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                if saveFD < 0 { saveErrno = errno; return false }
            }
            if !writeAll(saveFD, data) { saveErrno = errno; return false }
        }
        return true
    }

    /// The headers a record needs when `--headers` is not given: content-type,
    /// content-length, location, retry-after, x-robots-tag. Told apart by length first (one
    /// comparison for most lines), then compared on the line's bytes against lowercase
    /// names (``asciiCaseInsensitiveEqual`` over the Slice cost ~1,100 instructions a page
    /// more: measured with cachegrind).
    private static func isWanted(_ name: Slice<UnsafeRawBufferPointer>) -> Bool {
        let bytes = UnsafeRawBufferPointer(rebasing: name)
        func named(_ text: StaticString) -> Bool {
            guard let a = bytes.baseAddress else { return false }
            let b = text.utf8Start
            for i in 0..<bytes.count {
                let x = a.load(fromByteOffset: i, as: UInt8.self), y = b[i]
                if x != y && (x &- 0x41 >= 26 || x | 0x20 != y) { return false }   // `text` is lowercase
            }
            return true
        }
        switch bytes.count {
        case 12: return named("content-type") || named("x-robots-tag")
        case 14: return named("content-length")
        case 8: return named("location")
        case 11: return named("retry-after")
        default: return false
        }
    }

    /// A header line. A new status line starts a new response (1xx, proxies): only the
    /// final response's headers are kept — all of them with `--headers`, else the few the
    /// record uses (no String is made for the rest).
    func headerLine(_ data: UnsafeRawBufferPointer) {
        capture?.headerLine(data)
        if isHTTPStatusLine(data) {
            result.headers.removeAll(keepingCapacity: true)
            return
        }
        guard let (name, value) = headerField(data) else { return }
        if !request.includeHeaders && !Transfer.isWanted(name) { return }
        if result.headers.capacity == 0 { result.headers.reserveCapacity(6) }   // one allocation, not one per doubling
        result.headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
    }

    /// Reads curl's info after CURLMSG_DONE.
    func collect(_ rc: CURLcode) {
        guard let h = handle else { return }
        var code = 0
        cspate_easy_getinfo_long(h, CURLINFO_RESPONSE_CODE, &code)
        result.status = code
        var version = 0
        cspate_easy_getinfo_long(h, CURLINFO_HTTP_VERSION, &version)
        switch Int32(version) {
        case Int32(CURL_HTTP_VERSION_1_0): result.httpVersion = "1.0"
        case Int32(CURL_HTTP_VERSION_1_1): result.httpVersion = "1.1"
        case Int32(CURL_HTTP_VERSION_2_0): result.httpVersion = "2"
        case Int32(CURL_HTTP_VERSION_3): result.httpVersion = "3"
        default: result.httpVersion = ""
        }
        var ip: UnsafeMutablePointer<CChar>? = nil
        if cspate_easy_getinfo_str(h, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK, let ip { result.ip = String(cString: ip) }
        var port = 0
        cspate_easy_getinfo_long(h, CURLINFO_PRIMARY_PORT, &port)
        result.port = port
        func ms(_ info: CURLINFO) -> Double {
            var v: curl_off_t = 0
            cspate_easy_getinfo_off(h, info, &v)
            return Double(v) / 1000
        }
        result.connect = ms(CURLINFO_CONNECT_TIME_T)
        let appconnect = ms(CURLINFO_APPCONNECT_TIME_T)
        result.tls = appconnect > 0 ? max(0, appconnect - result.connect) : 0
        result.ttfb = ms(CURLINFO_STARTTRANSFER_TIME_T)
        result.total = ms(CURLINFO_TOTAL_TIME_T)
        result.sha256 = hasher.hex()
        if saveFD >= 0 {
            close(saveFD)
            saveFD = -1
            result.savedPath = request.savePath
        } else if request.savePath != nil && rc == CURLE_OK && saveErrno == 0 {
            // Empty body: still create the file, so `saved` always names a real file.
            let fd = open(request.savePath!, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            if fd >= 0 { close(fd); result.savedPath = request.savePath } else { saveErrno = errno }
        }
        if rc != CURLE_OK {
            let buffer = String(cString: errorBuffer)
            if overLimit {
                result.error = FetchError(.bodyTooLarge, "body over --max-body \(request.maxBody) bytes (decoded); transfer aborted",
                                          curlCode: Int(rc.rawValue), curlMessage: String(cString: curl_easy_strerror(rc)))
            } else if saveErrno != 0 {
                result.error = FetchError(.writeError, "--save \(request.savePath ?? ""): \(String(cString: strerror(saveErrno)))")
            } else if let capture, capture.overRawLimit {
                result.error = FetchError(.bodyTooLarge, "raw body over \(capture.rawLimit) bytes (2 × --max-body + 1 MiB, archiving); transfer aborted",
                                          curlCode: Int(rc.rawValue), curlMessage: String(cString: curl_easy_strerror(rc)))
            } else if let capture, capture.spool.failure != 0 {
                result.error = FetchError(.writeError, "--warc: spooling the body: \(String(cString: strerror(capture.spool.failure)))")
            } else {
                result.error = FetchError.curl(rc, errorBuffer: buffer)
            }
        } else if let failure = capture?.decodeFailure {
            result.error = FetchError(.decodeError, failure)
        }
        if let capture {
            result.exchange = capture.exchange(url: request.url, ip: result.ip, status: result.status,
                                               truncated: rc == CURLE_OK ? nil : Self.truncation(result.error?.code))
        }
    }

    /// `WARC-Truncated` for a transfer that failed after its response headers.
    private static func truncation(_ code: FetchError.Code?) -> String {
        switch code {
        case .bodyTooLarge: "length"
        case .timeout: "time"
        case .reset: "disconnect"
        default: "unspecified"
        }
    }
}

/// "HTTP/…": a status line, which starts a new response (after a 1xx, or a proxy's answer
/// to CONNECT).
func isHTTPStatusLine(_ data: UnsafeRawBufferPointer) -> Bool {
    data.count >= 5 && data[0] == UInt8(ascii: "H") && data[1] == UInt8(ascii: "T") && data[2] == UInt8(ascii: "T")
        && data[3] == UInt8(ascii: "P") && data[4] == UInt8(ascii: "/")
}

/// A header line's name and value (surrounding whitespace and the line end trimmed), as
/// slices of the line; nil for a line without a colon.
func headerField(_ data: UnsafeRawBufferPointer) -> (name: Slice<UnsafeRawBufferPointer>, value: Slice<UnsafeRawBufferPointer>)? {
    var n = data.count
    while n > 0 && (data[n - 1] == 0x0A || data[n - 1] == 0x0D) { n -= 1 }
    // memchr: a Slice's firstIndex(of:) went through the generic index protocol byte by byte.
    guard n > 0, let base = data.baseAddress, let hit = memchr(base, Int32(UInt8(ascii: ":")), n) else { return nil }
    let colon = base.distance(to: UnsafeRawPointer(hit))
    var v = colon + 1
    while v < n && (data[v] == 0x20 || data[v] == 0x09) { v += 1 }
    var e = n
    while e > v && (data[e - 1] == 0x20 || data[e - 1] == 0x09) { e -= 1 }
    return (data[..<colon], data[v..<e])
}

/// ASCII case-insensitive comparison (header names), without lowercasing copies.
func asciiCaseInsensitiveEqual<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> Bool {
    guard a.count == b.count else { return false }
    for (x, y) in zip(a, b) where x != y {
        let lx = x >= 0x41 && x <= 0x5A ? x | 0x20 : x
        let ly = y >= 0x41 && y <= 0x5A ? y | 0x20 : y
        if lx != ly { return false }
    }
    return true
}

func asciiCaseInsensitiveEqual(_ a: String, _ b: String) -> Bool {
    guard a.utf8.count == b.utf8.count else { return false }
    // On the contiguous UTF-8 of native strings: iterating String.UTF8View is much slower.
    return a.withUTF8Bytes { x in b.withUTF8Bytes { y in asciiCaseInsensitiveEqual(x, y) } }
}
