import CSpate

/// One transfer's exchange as it crosses the wire, for its WARC records (only when
/// `FetchConfiguration.warc` is set). Hub-confined, owned by its ``Transfer``.
///
/// In WARC mode curl hands over the body undecoded (`CURLOPT_HTTP_TRANSFER_DECODING` and
/// `CURLOPT_HTTP_CONTENT_DECODING` are 0): this keeps those raw bytes (``BodySpool``), digests
/// them, and decodes them itself — chunked framing off (``ChunkedDecoder``), then gzip or
/// deflate (``Inflater``) — so the transfer's own path (byte count, `--max-body`, sha256, the
/// crawler's link extractor, `--save`) sees exactly the bytes it would see without WARC.
final class RawCapture {
    /// The raw body may exceed the decoded one (chunk framing) or stay small while decoding
    /// to nothing (empty gzip members): it is capped too, at twice `--max-body` plus 1 MiB.
    static func rawLimit(maxBody: Int) -> Int { maxBody > (Int.max - (1 << 20)) / 2 ? Int.max : maxBody * 2 + (1 << 20) }

    let date = WARCDate.now()
    let spool: BodySpool
    let rawLimit: Int

    /// The request as sent: every CURLINFO_HEADER_OUT and CURLINFO_DATA_OUT piece, in order.
    private(set) var request: [UInt8] = []
    private var requestHeadDone = false

    /// The current response's header block; a new status line (after a 1xx, or a proxy's
    /// CONNECT answer) starts it again.
    private(set) var head: [UInt8] = []
    private(set) var headDone = false
    private var chunked = false
    private var coding = Coding.identity

    private var blockHasher = Digest(.sha1)
    private var payloadHasher = Digest(.sha1)
    private var bodyStarted = false
    private(set) var rawBytes = 0
    private var dechunker = ChunkedDecoder()
    private var decoder: ContentDecoder? = nil
    /// The first body bytes while the decoder waits for two of them.
    private var pending: [UInt8] = []
    /// The body could not be decoded (bad chunking, bad gzip): the raw bytes are still kept,
    /// to the end, and the job fails with `decode_error`.
    private(set) var decodeFailure: String? = nil
    private var payloadBroken = false
    /// The raw body passed ``rawLimit``.
    private(set) var overRawLimit = false

    /// The content codings spate decodes itself; anything else is kept as it came.
    enum Coding: Equatable { case identity, gzip, deflate, other }

    init(spoolDirectory: String, maxBody: Int) {
        spool = BodySpool(directory: spoolDirectory)
        rawLimit = Self.rawLimit(maxBody: maxBody)
    }

    // MARK: - What curl reports

    /// CURLINFO_HEADER_OUT / CURLINFO_DATA_OUT from the debug callback. A header block that
    /// starts after a complete one is a new request (curl retrying on a fresh connection,
    /// or the request after a proxy's CONNECT): only the last request is kept.
    func sent(header: Bool, _ data: UnsafeRawBufferPointer) {
        if header && requestHeadDone {
            request.removeAll(keepingCapacity: true)
            requestHeadDone = false
        }
        request.append(contentsOf: data)
        if !requestHeadDone && Self.endsHead(request) { requestHeadDone = true }
    }

    /// A raw header line, as the header callback gets it (CRLF included).
    func headerLine(_ data: UnsafeRawBufferPointer) {
        if isHTTPStatusLine(data) {
            head.removeAll(keepingCapacity: true)
            headDone = false
            chunked = false
            coding = .identity
        } else if headDone {
            return   // trailers of a chunked body: they are in the raw body already
        }
        head.append(contentsOf: data)
        if data.count <= 2 && data.allSatisfy({ $0 == 0x0D || $0 == 0x0A }) {
            headDone = true
            return
        }
        guard let (name, value) = headerField(data) else { return }
        if asciiCaseInsensitiveEqual(name, "transfer-encoding".utf8) {
            // The last transfer coding is the one framing the message (RFC 9112 §6.1).
            chunked = value.split(separator: UInt8(ascii: ",")).last.map { asciiCaseInsensitiveEqual(Self.token($0), "chunked".utf8) } ?? false
        } else if asciiCaseInsensitiveEqual(name, "content-encoding".utf8) {
            let codings = value.split(separator: UInt8(ascii: ",")).map(Self.token)
                .filter { !$0.isEmpty && !asciiCaseInsensitiveEqual($0, "identity".utf8) }
            if codings.isEmpty {
                coding = .identity
            } else if codings.count == 1 && (asciiCaseInsensitiveEqual(codings[0], "gzip".utf8) || asciiCaseInsensitiveEqual(codings[0], "x-gzip".utf8)) {
                coding = .gzip
            } else if codings.count == 1 && asciiCaseInsensitiveEqual(codings[0], "deflate".utf8) {
                coding = .deflate
            } else {
                coding = .other
            }
        }
    }

    /// Raw body bytes from the write callback: kept, digested, decoded and handed to
    /// `deliver` (the transfer's decoded-body path). False stops the transfer.
    func body(_ data: UnsafeRawBufferPointer, deliver: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        if !bodyStarted {
            bodyStarted = true
            head.withUnsafeBytes { blockHasher.update($0) }
        }
        rawBytes += data.count
        if rawBytes > rawLimit {
            overRawLimit = true
            return false
        }
        guard spool.append(data) else { return false }
        blockHasher.update(data)
        // Broken chunked framing: the payload has no defined end, so no payload digest.
        if payloadBroken { return true }
        // After a content-coding failure the body is still archived whole and its payload
        // digested; only decoding (for spate's own use) stops.
        if !chunked {
            payloadHasher.update(data)
            return decodeFailure != nil ? true : decode(data, deliver)
        }
        var keepGoing = true
        do throws(ChunkedDecoder.Failure) {
            try dechunker.feed(data) { piece in
                payloadHasher.update(piece)
                if decodeFailure == nil { keepGoing = decode(piece, deliver) }
                return keepGoing
            }
        } catch {
            decodeFailure = error.description
            payloadBroken = true
        }
        return keepGoing
    }

    private func decode(_ data: UnsafeRawBufferPointer, _ deliver: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        if coding == .identity || coding == .other { return deliver(data) }
        var keepGoing = true
        let failure: String?
        if let decoder {
            failure = decoder.run(data) { keepGoing = deliver($0); return keepGoing }
        } else {
            // "deflate" should be a zlib stream (RFC 9110 §8.4.1.2), but some servers send bare
            // deflate; curl takes both, so does spate: the first two bytes tell.
            pending.append(contentsOf: data)
            if coding == .deflate && pending.count < 2 { return true }
            let zlib = pending.count >= 2 && pending[0] & 0x0F == 8 && (UInt16(pending[0]) << 8 | UInt16(pending[1])) % 31 == 0
            let d = ContentDecoder(rawDeflate: coding == .deflate && !zlib)
            decoder = d
            failure = pending.withUnsafeBytes { d.run($0) { keepGoing = deliver($0); return keepGoing } }
            pending = []
        }
        if let failure {
            decodeFailure = "\(coding == .gzip ? "gzip" : "deflate"): \(failure)"
            return true
        }
        return keepGoing
    }

    // MARK: - The exchange

    /// The finished exchange, or nil when no final response head arrived (nothing to archive).
    /// `truncated` is the `WARC-Truncated` reason when the transfer failed after its headers.
    func exchange(url: FetchURL, ip: String, status: Int, truncated: String?) -> WARCExchange? {
        guard headDone, status >= 200 else { return nil }
        if !bodyStarted { head.withUnsafeBytes { blockHasher.update($0) } }
        let payload: String? = payloadBroken ? nil : payloadHasher.warcDigest()
        return WARCExchange(targetURI: url.display, date: date, ip: ip, request: request, responseHead: head, body: spool,
                            blockDigest: blockHasher.warcDigest(), payloadDigest: payload, truncated: truncated)
    }

    // MARK: - Helpers

    private static func endsHead(_ bytes: [UInt8]) -> Bool {
        let n = bytes.count
        return n >= 4 && bytes[n - 4] == 0x0D && bytes[n - 3] == 0x0A && bytes[n - 2] == 0x0D && bytes[n - 1] == 0x0A
    }

    /// A list element without surrounding whitespace (and without `;parameters`).
    private static func token(_ s: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
        var t = s
        if let semi = t.firstIndex(of: UInt8(ascii: ";")) { t = t[..<semi] }
        while let f = t.first, f == 0x20 || f == 0x09 { t = t.dropFirst() }
        while let l = t.last, l == 0x20 || l == 0x09 { t = t.dropLast() }
        return t
    }
}

@available(*, unavailable)
extension RawCapture: Sendable {}

/// An ``Inflater`` in a class, so ``RawCapture`` can create it once the body starts.
private final class ContentDecoder {
    private var inflater: Inflater

    init(rawDeflate: Bool) { inflater = Inflater(rawDeflate: rawDeflate) }

    /// Decodes `data` into `sink`; the failure's text if the stream is corrupt.
    func run(_ data: UnsafeRawBufferPointer, _ sink: (UnsafeRawBufferPointer) -> Bool) -> String? {
        do throws(Inflater.Failure) {
            try inflater.inflate(data, sink)
            return nil
        } catch {
            switch error {
            case let .corrupt(m): return m
            case let .tooLarge(n): return "over \(n) bytes"
            case .unavailable: return "zlib unavailable"
            }
        }
    }
}
