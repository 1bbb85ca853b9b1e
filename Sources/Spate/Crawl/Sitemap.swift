import Glibc

// Sitemaps (https://www.sitemaps.org/protocol.html): a streaming reader for XML `<urlset>`
// and `<sitemapindex>` documents and plain-text URL lists, gzip'd or not, fed a response
// body in chunks as it arrives. Entries are handed out as they complete; the document is
// never held. The protocol's limits (50,000 URLs, 50 MiB uncompressed) end the reading.

/// The limits a sitemap is read within (defaults: the sitemaps.org protocol's).
public struct SitemapLimits: Sendable, Equatable {
    /// Entries per file: 50,000 URLs in a urlset or text sitemap, 50,000 sitemaps in an index.
    public var maxEntries = 50_000
    /// Uncompressed bytes per file: 50 MiB (52,428,800 bytes). A compression bomb stops here.
    public var maxBytes = 52_428_800
    /// The longest `<loc>` or text line kept, in bytes (the protocol wants URLs under 2,048
    /// characters); a longer one is skipped, never cut short.
    public var maxLocBytes = 8192

    public init() {}
}

/// One `<url>` of a urlset, one `<sitemap>` of an index, or one line of a text sitemap.
public struct SitemapEntry: Sendable, Equatable, CustomStringConvertible {
    /// The `<loc>` as written (not resolved): character references decoded, CDATA unwrapped,
    /// leading and trailing whitespace trimmed.
    public var loc: String
    /// The `<lastmod>` text, trimmed, unparsed; nil when absent (and always for text sitemaps).
    public var lastmod: String?

    public init(loc: String, lastmod: String? = nil) {
        self.loc = loc
        self.lastmod = lastmod
    }

    public var description: String { lastmod.map { "\(loc) @\($0)" } ?? loc }
}

/// What a sitemap turned out to be: the record's `kind`.
public enum SitemapKind: String, Sendable {
    /// `<urlset>`: entries are pages.
    case urlset
    /// `<sitemapindex>`: entries are further sitemaps.
    case sitemapindex
    /// One URL per line: entries are pages.
    case text
}

/// Why reading stopped early although the document was fine up to there.
public enum SitemapTruncation: String, Sendable {
    /// A further entry after `SitemapLimits.maxEntries`.
    case maxEntries = "max_entries"
    /// More than `SitemapLimits.maxBytes` uncompressed bytes.
    case maxBytes = "max_bytes"
}

/// A sitemap that could not be read (to the end). Entries handed out before it stand.
public struct SitemapError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        /// Empty, or neither a `<urlset>`/`<sitemapindex>` document nor a list of URLs
        /// (an HTML page, a feed, binary data).
        case notSitemap = "not_sitemap"
        /// XML that breaks off or is not well-formed where it matters (mismatched or
        /// unterminated tags, text outside the root element); reading stops there.
        case malformed
        /// Starts with the gzip magic number but does not inflate (or is cut short).
        case gzipCorrupt = "gzip_corrupt"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// The outcome of reading one sitemap: for the sitemap's record.
public struct SitemapSummary: Sendable, Equatable {
    /// nil when the content was not recognised (see `error`).
    public var kind: SitemapKind? = nil
    /// The body started with the gzip magic number and was inflated by the reader (a body
    /// sent with `Content-Encoding: gzip` arrives already decoded by curl: false).
    public var gzip = false
    /// Entries handed out.
    public var entries = 0
    /// `<url>`/`<sitemap>` elements without a usable `<loc>` (missing, empty, longer than
    /// `maxLocBytes`), and text lines that are not http(s) URLs.
    public var skipped = 0
    /// Uncompressed bytes read (at most `maxBytes`).
    public var bytes = 0
    /// Set when a limit ended the reading.
    public var truncated: SitemapTruncation? = nil
    /// Set when the body is not a sitemap, or breaks off.
    public var error: SitemapError? = nil

    public init() {}
}

/// Reads one sitemap fed in chunks (any split: the gzip magic, a tag, a reference, a UTF-8
/// sequence, a line), handing each entry to `emit` as soon as it is complete.
///
/// Gzip is recognised by its magic number (a `.xml.gz` served as `application/x-gzip`
/// reaches spate still compressed), concatenated members included. The uncompressed text is
/// XML when its first non-blank character (after a UTF-8 BOM) is `<`, else a text sitemap.
///
/// The XML scanner is small and streaming: it knows elements, attributes (skipped, quotes
/// respected), comments, CDATA, processing instructions and a DOCTYPE (skipped, internal
/// subset included; declared entities are never expanded). Elements are matched by local
/// name, so any prefix or default namespace works (`<sm:loc>`), and by position: a `<loc>`
/// counts only as a child of a `<url>` (in a `<urlset>` root) or of a `<sitemap>` (in a
/// `<sitemapindex>` root) — an extension's `<image:loc>` deeper down never does. In `<loc>`
/// and `<lastmod>`, XML's references (`&amp; &lt; &gt; &quot; &apos; &#N; &#xH;`) are decoded;
/// any other `&` is kept as written (a raw `&` in a URL is the commonest sitemap mistake).
/// The first `<loc>` and `<lastmod>` of an entry count.
///
/// Memory is bounded by the current entry (`maxLocBytes`) and 64 levels of nesting. Use from
/// one thread at a time.
public final class SitemapReader {
    public let limits: SitemapLimits
    private var scanner: SitemapScanner
    private var inflater: Inflater? = nil
    /// The first byte, while it is too early to tell gzip from not.
    private var held: UInt8? = nil
    private var decided = false
    private var ended: SitemapSummary? = nil

    public init(limits: SitemapLimits = SitemapLimits()) {
        self.limits = limits
        scanner = SitemapScanner(limits: limits)
    }

    /// What was read so far.
    public var summary: SitemapSummary { ended ?? scanner.summary }

    /// True once reading has stopped (a limit, an error, or `finish`): further input is
    /// ignored, so the transfer may as well be aborted.
    public var isStopped: Bool { ended != nil || scanner.stopped }

    /// The next bytes of the body. Entries completed by them go to `emit`, in document order.
    public func feed(_ chunk: UnsafeRawBufferPointer, _ emit: (SitemapEntry) -> Void) {
        guard !isStopped, chunk.count > 0 else { return }
        if !decided {
            if held == nil && chunk.count == 1 {
                held = chunk[0]
                return
            }
            decided = true
            let first = held ?? chunk[0]
            let second = held == nil ? chunk[1] : chunk[0]
            if Inflater.isGzip([first, second]) {
                scanner.summary.gzip = true
                inflater = Inflater()
            }
            if let b = held {
                held = nil
                withUnsafeBytes(of: b) { decoded($0, emit) }
            }
        }
        decoded(chunk, emit)
    }

    public func feed(_ bytes: [UInt8], _ emit: (SitemapEntry) -> Void) {
        bytes.withUnsafeBytes { feed($0, emit) }
    }

    /// The end of the body: a last line or an open entry with a complete `<loc>` is handed
    /// out, and a document that breaks off is reported. Further calls return the same summary.
    @discardableResult
    public func finish(_ emit: (SitemapEntry) -> Void) -> SitemapSummary {
        if let ended { return ended }
        if let b = held {
            held = nil
            decided = true
            withUnsafeBytes(of: b) { decoded($0, emit) }
        }
        if !scanner.stopped {
            if inflater != nil && inflater?.finished != true {
                // The gzip stream breaks off: so does the text inside it.
                scanner.cut(emit)
                scanner.fail(.gzipCorrupt, "the gzip stream ends early")
            } else {
                scanner.end(emit)
            }
        }
        let s = scanner.summary
        ended = s
        inflater = nil
        return s
    }

    /// Reads a whole body.
    public static func read(_ bytes: [UInt8], limits: SitemapLimits = SitemapLimits()) -> (entries: [SitemapEntry], summary: SitemapSummary) {
        let reader = SitemapReader(limits: limits)
        var entries: [SitemapEntry] = []
        reader.feed(bytes) { entries.append($0) }
        let summary = reader.finish { entries.append($0) }
        return (entries, summary)
    }

    /// Bytes after gzip detection: inflated first when gzip'd.
    private func decoded(_ bytes: UnsafeRawBufferPointer, _ emit: (SitemapEntry) -> Void) {
        guard inflater != nil else {
            _ = scanner.scan(bytes, emit)
            return
        }
        do throws(Inflater.Failure) {
            try inflater!.inflate(bytes) { out in scanner.scan(out, emit) }
        } catch {
            let message: String
            switch error {
            case let .corrupt(m): message = m
            case .tooLarge: message = "too large"   // not reached: the scanner stops at maxBytes
            case .unavailable: message = "zlib could not allocate its state"
            }
            scanner.fail(.gzipCorrupt, message)
        }
    }
}

@available(*, unavailable)
extension SitemapReader: Sendable {}

/// Feeds a sitemap response body to a ``SitemapReader`` as it arrives (the crawler's
/// consumer for sitemap fetches, next to ``PageReader``). Entries wait in a buffer until
/// `drain()` takes them, or, with `onBatch`, are handed over whenever `batchSize` have
/// gathered. Hub-confined: curl's write callback calls `consume`, so `onBatch` runs inside
/// it and must only record (never call curl). A new response (`begin`: a retry, a redirect
/// hop) starts a fresh reader; entries already handed over are not taken back.
final class SitemapConsumer: BodyConsumer, @unchecked Sendable {
    let limits: SitemapLimits
    private let batchSize: Int
    private let onBatch: (([SitemapEntry]) -> Void)?
    private var reader: SitemapReader
    private var pending: [SitemapEntry] = []

    init(limits: SitemapLimits = SitemapLimits(), batchSize: Int = 1000, onBatch: (([SitemapEntry]) -> Void)? = nil) {
        self.limits = limits
        self.batchSize = max(1, batchSize)
        self.onBatch = onBatch
        reader = SitemapReader(limits: limits)
    }

    func begin() {
        reader = SitemapReader(limits: limits)
        pending.removeAll()
    }

    func consume(_ data: UnsafeRawBufferPointer, contentType: String?) {
        reader.feed(data) { pending.append($0) }
        if let onBatch, pending.count >= batchSize { onBatch(take()) }
    }

    /// True when the reader stopped (limit or error): the rest of the body is not needed.
    var isStopped: Bool { reader.isStopped }

    /// The entries read and not yet taken, in document order.
    func drain() -> [SitemapEntry] { take() }

    /// Ends the body. The last entries go to `onBatch` (without one they wait for `drain()`).
    @discardableResult
    func finish() -> SitemapSummary {
        let summary = reader.finish { pending.append($0) }
        if let onBatch, !pending.isEmpty { onBatch(take()) }
        return summary
    }

    private func take() -> [SitemapEntry] {
        defer { pending.removeAll(keepingCapacity: true) }
        return pending
    }
}

// MARK: - The scanner (uncompressed bytes)

/// The byte-level state machine behind ``SitemapReader``: the BOM and XML-or-text sniff,
/// the XML scanner, the text line splitter, and the limits.
struct SitemapScanner {
    let limits: SitemapLimits
    var summary = SitemapSummary()
    private(set) var stopped = false

    private enum Mode { case bom, sniff, xml, text }
    private var mode = Mode.bom
    private var bomMatched = 0

    /// Where the XML scanner is.
    private enum State {
        case text, tagOpen, startName, inTag, quoted, endName, endTail
        case bang, comment, cdata, pi, decl, entity
    }

    private enum Field { case loc, lastmod }

    private var state = State.text
    /// The tag name being read (qualified, as written).
    private var name: [UInt8] = []
    /// Open elements (qualified names, for matching end tags).
    private var stack: [[UInt8]] = []
    private var rootClosed = false
    /// The depth-1 element is an entry (`<url>` / `<sitemap>`).
    private var inItem = false
    /// The depth-2 element whose text is being collected.
    private var capture: Field? = nil
    private var value: [UInt8] = []
    private var overflow = false
    private var itemLoc: [UInt8]? = nil
    private var itemLocBad = false
    private var itemLastmod: [UInt8]? = nil
    // Sub-states.
    private var quote: UInt8 = 0
    private var lastNonSpace: UInt8 = 0
    private var run = 0                      // dashes (comment), brackets (CDATA, DOCTYPE)
    private var sawQuestion = false
    private var declQuote: UInt8 = 0
    private var pendingMarkup: [UInt8] = []  // after "<!", and after "&"
    // Text sitemaps.
    private var line: [UInt8] = []
    private var lineOverflow = false
    private var sawURLLine = false

    static let maxDepth = 64
    static let maxNameBytes = 256
    static let maxReferenceBytes = 32

    init(limits: SitemapLimits) { self.limits = limits }

    /// Scans the next uncompressed bytes; false once stopped.
    mutating func scan(_ buf: UnsafeRawBufferPointer, _ emit: (SitemapEntry) -> Void) -> Bool {
        if stopped { return false }
        let take = min(limits.maxBytes - summary.bytes, buf.count)
        let part = UnsafeRawBufferPointer(rebasing: buf[..<take])
        var i = 0
        if mode == .bom || mode == .sniff { i = sniff(part) }
        if i < part.count {
            switch mode {
            case .xml: i = xml(part, from: i, emit)
            case .text: i = text(part, from: i, emit)
            case .bom, .sniff: break
            }
        }
        // Bytes up to where reading stopped (the whole part unless a limit or an error).
        summary.bytes += stopped ? i : take
        if !stopped && take < buf.count {
            summary.truncated = .maxBytes
            cut(emit)
        }
        return !stopped
    }

    /// Stops reading. The first error is the one reported.
    mutating func fail(_ code: SitemapError.Code, _ message: String) {
        if summary.error == nil { summary.error = SitemapError(code, message) }
        stopped = true
    }

    /// The input stops short (a limit, a gzip stream that breaks off): an entry whose
    /// `<loc>` is complete is handed out; a text line that may be cut is not.
    mutating func cut(_ emit: (SitemapEntry) -> Void) {
        flushItem(emit)
        stopped = true
    }

    /// The end of the document.
    mutating func end(_ emit: (SitemapEntry) -> Void) {
        if stopped { return }
        switch mode {
        case .bom, .sniff:
            fail(.notSitemap, summary.bytes == 0 ? "empty body" : "no content but whitespace")
        case .text:
            endLine(emit)
            if !stopped && !sawURLLine { fail(.notSitemap, "no URL lines") }
        case .xml:
            if summary.kind == nil {
                fail(.notSitemap, "no root element")
            } else if state != .text {
                flushItem(emit)
                fail(.malformed, "the document ends inside markup")
            } else if let open = stack.last {
                flushItem(emit)
                fail(.malformed, "the document ends with <\(String(decoding: open, as: UTF8.self))> open")
            }
        }
        stopped = true
    }

    // MARK: Sniffing

    /// Skips a UTF-8 BOM and leading whitespace; the first other byte decides XML or text.
    /// Returns where the content starts in `buf` (buf.count when undecided).
    private mutating func sniff(_ buf: UnsafeRawBufferPointer) -> Int {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        var i = 0
        while i < buf.count {
            let b = buf[i]
            if mode == .bom {
                if b == bom[bomMatched] {
                    bomMatched += 1
                    i += 1
                    if bomMatched == 3 { mode = .sniff }
                    continue
                }
                if bomMatched > 0 {
                    // A partial BOM is not whitespace: this is not a sitemap.
                    fail(.notSitemap, "neither XML nor a list of URLs")
                    return buf.count
                }
                mode = .sniff
            }
            if Self.isSpace(b) {
                i += 1
                continue
            }
            mode = b == UInt8(ascii: "<") ? .xml : .text
            return i
        }
        return i
    }

    @inline(__always)
    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    // MARK: Text sitemaps

    /// Returns where it stopped.
    private mutating func text(_ buf: UnsafeRawBufferPointer, from start: Int, _ emit: (SitemapEntry) -> Void) -> Int {
        var i = start
        let n = buf.count
        while i < n && !stopped {
            var j = i
            while j < n && buf[j] != 0x0A && buf[j] != 0x0D { j += 1 }
            if j > i {
                let room = limits.maxLocBytes - line.count
                if j - i > room { lineOverflow = true }
                line.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[i..<min(j, i + max(0, room))]))
                if !sawURLLine && !firstLineMayBeURL() {
                    fail(.notSitemap, "neither XML nor a list of URLs")
                    return j
                }
            }
            if j < n { endLine(emit) }
            i = j + 1
        }
        return min(i, n)
    }

    /// The first non-blank line must be an http(s) URL; decided as soon as its start shows.
    private func firstLineMayBeURL() -> Bool {
        var k = 0
        while k < line.count && Self.isLineSpace(line[k]) { k += 1 }
        return Self.hasHTTPPrefix(line[k...], partial: true)
    }

    private static func isLineSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0B || b == 0x0C }

    /// Starts with `http://` or `https://` (ASCII case-insensitive); `partial`: or could,
    /// once more bytes come.
    private static func hasHTTPPrefix(_ s: ArraySlice<UInt8>, partial: Bool) -> Bool {
        let http = Array("http://".utf8), https = Array("https://".utf8)
        func matches(_ p: [UInt8]) -> Bool {
            if s.count < p.count && !partial { return false }
            for (a, b) in zip(s, p) where HTMLByte.lower(a) != b { return false }
            return true
        }
        return matches(http) || matches(https)
    }

    private mutating func endLine(_ emit: (SitemapEntry) -> Void) {
        defer {
            line.removeAll(keepingCapacity: true)
            lineOverflow = false
        }
        var lo = line.startIndex, hi = line.endIndex
        while lo < hi && Self.isLineSpace(line[lo]) { lo += 1 }
        while hi > lo && Self.isLineSpace(line[hi - 1]) { hi -= 1 }
        if lo == hi { return }
        guard Self.hasHTTPPrefix(line[lo..<hi], partial: false) else {
            if sawURLLine { summary.skipped += 1 } else { fail(.notSitemap, "neither XML nor a list of URLs") }
            return
        }
        sawURLLine = true
        summary.kind = .text
        if lineOverflow {
            summary.skipped += 1
            return
        }
        add(SitemapEntry(loc: String(decoding: line[lo..<hi], as: UTF8.self)), emit)
    }

    /// Hands out an entry unless the count limit is reached.
    private mutating func add(_ entry: SitemapEntry, _ emit: (SitemapEntry) -> Void) {
        if summary.entries >= limits.maxEntries {
            summary.truncated = .maxEntries
            stopped = true
            return
        }
        summary.entries += 1
        emit(entry)
    }

    // MARK: XML

    private var capturing: Bool { capture != nil && stack.count == 3 }

    /// Returns where it stopped.
    private mutating func xml(_ buf: UnsafeRawBufferPointer, from start: Int, _ emit: (SitemapEntry) -> Void) -> Int {
        let lt = UInt8(ascii: "<"), gt = UInt8(ascii: ">"), amp = UInt8(ascii: "&")
        let n = buf.count
        var i = start
        while i < n && !stopped {
            let b = buf[i]
            switch state {
            case .text:
                if capturing {
                    var j = i
                    while j < n && buf[j] != lt && buf[j] != amp { j += 1 }
                    append(UnsafeRawBufferPointer(rebasing: buf[i..<j]))
                    i = j
                    if i < n {
                        if buf[i] == lt { state = .tagOpen } else { state = .entity; pendingMarkup.removeAll() }
                        i += 1
                    }
                } else if stack.isEmpty {
                    // Before and after the root: only whitespace and markup.
                    if b == lt {
                        state = .tagOpen
                    } else if !Self.isSpace(b) {
                        fail(.malformed, rootClosed ? "content after the root element" : "text before the root element")
                    }
                    i += 1
                } else if let p = memchr(buf.baseAddress! + i, Int32(lt), n - i) {
                    // Text nobody wants (whitespace between elements, <changefreq>…).
                    i = buf.baseAddress!.distance(to: UnsafeRawPointer(p)) + 1
                    state = .tagOpen
                } else {
                    i = n
                }
                continue
            case .tagOpen:
                switch b {
                case UInt8(ascii: "/"):
                    state = .endName
                    name.removeAll(keepingCapacity: true)
                case UInt8(ascii: "!"):
                    state = .bang
                    pendingMarkup.removeAll()
                case UInt8(ascii: "?"):
                    state = .pi
                    sawQuestion = false
                default:
                    guard Self.isNameStart(b) else {
                        fail(.malformed, "'<' not followed by a name")
                        return i
                    }
                    state = .startName
                    name.removeAll(keepingCapacity: true)
                    name.append(b)
                }
            case .startName, .endName:
                if Self.isNameByte(b) {
                    guard name.count < Self.maxNameBytes else {
                        fail(.malformed, "a tag name longer than \(Self.maxNameBytes) bytes")
                        return i
                    }
                    name.append(b)
                } else {
                    if state == .startName {
                        state = .inTag
                        lastNonSpace = 0
                    } else {
                        state = .endTail
                    }
                    continue   // the same byte, in the next state
                }
            case .inTag:
                switch b {
                case gt:
                    state = .text
                    startTag(selfClosing: lastNonSpace == UInt8(ascii: "/"), emit)
                case UInt8(ascii: "\""), UInt8(ascii: "'"):
                    quote = b
                    lastNonSpace = b
                    state = .quoted
                case lt:
                    fail(.malformed, "'<' inside a tag")
                    return i
                default:
                    if !Self.isSpace(b) { lastNonSpace = b }
                }
            case .quoted:
                if b == quote { state = .inTag }
            case .endTail:
                if b == gt {
                    state = .text
                    endTag(emit)
                } else if !Self.isSpace(b) {
                    fail(.malformed, "a malformed end tag")
                    return i
                }
            case .bang:
                pendingMarkup.append(b)
                if Self.isPrefix(pendingMarkup, of: Self.commentOpen) {
                    if pendingMarkup.count == Self.commentOpen.count {
                        state = .comment
                        run = 0
                    }
                } else if Self.isPrefix(pendingMarkup, of: Self.cdataOpen) {
                    if pendingMarkup.count == Self.cdataOpen.count {
                        guard !stack.isEmpty else {
                            fail(.malformed, "CDATA outside the root element")
                            return i
                        }
                        state = .cdata
                        run = 0
                    }
                } else {
                    // <!DOCTYPE …> or another declaration: skipped.
                    state = .decl
                    run = 0
                    declQuote = 0
                    for c in pendingMarkup where state == .decl { declaration(c) }
                }
            case .comment:
                if b == UInt8(ascii: "-") {
                    run += 1
                } else {
                    if b == gt && run >= 2 { state = .text }
                    run = 0
                }
            case .cdata:
                if b == UInt8(ascii: "]") {
                    run += 1
                } else if b == gt && run >= 2 {
                    appendBrackets(run - 2)
                    state = .text
                } else {
                    appendBrackets(run)
                    run = 0
                    var j = i
                    while j < n && buf[j] != UInt8(ascii: "]") { j += 1 }
                    if capturing { append(UnsafeRawBufferPointer(rebasing: buf[i..<j])) }
                    i = j
                    continue
                }
            case .pi:
                if b == gt && sawQuestion { state = .text }
                sawQuestion = b == UInt8(ascii: "?")
            case .decl:
                declaration(b)
            case .entity:
                if b == UInt8(ascii: ";") {
                    reference()
                    state = .text
                } else if pendingMarkup.count < Self.maxReferenceBytes && (HTMLByte.isAlphanumeric(b) || b == UInt8(ascii: "#")) {
                    pendingMarkup.append(b)
                } else {
                    // Not a reference: the `&` and what followed stay as written.
                    appendByte(amp)
                    pendingMarkup.withUnsafeBytes { append($0) }
                    state = .text
                    continue
                }
            }
            i += 1
        }
        return i
    }

    private static let commentOpen = Array("--".utf8)
    private static let cdataOpen = Array("[CDATA[".utf8)

    private static func isPrefix(_ a: [UInt8], of b: [UInt8]) -> Bool {
        a.count <= b.count && a.elementsEqual(b[..<a.count])
    }

    /// XML name start: a letter, `_`, `:`, or any non-ASCII byte (UTF-8).
    private static func isNameStart(_ b: UInt8) -> Bool {
        HTMLByte.isAlpha(b) || b == UInt8(ascii: "_") || b == UInt8(ascii: ":") || b >= 0x80
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: "/"), UInt8(ascii: ">"), UInt8(ascii: "<"),
             UInt8(ascii: "="), UInt8(ascii: "\""), UInt8(ascii: "'"):
            return false
        default:
            return true
        }
    }

    /// One byte of a declaration: quotes and the internal subset's brackets hide its `>`.
    private mutating func declaration(_ b: UInt8) {
        if declQuote != 0 {
            if b == declQuote { declQuote = 0 }
            return
        }
        switch b {
        case UInt8(ascii: "\""), UInt8(ascii: "'"): declQuote = b
        case UInt8(ascii: "["): run += 1
        case UInt8(ascii: "]"): run = max(0, run - 1)
        case UInt8(ascii: ">"): if run == 0 { state = .text }
        default: break
        }
    }

    /// The element's name after any prefix.
    private func localName() -> ArraySlice<UInt8> {
        if let colon = name.lastIndex(of: UInt8(ascii: ":")) { return name[(colon + 1)...] }
        return name[...]
    }

    private func localNameIs(_ s: StaticString) -> Bool {
        let local = localName()
        return local.count == s.utf8CodeUnitCount
            && s.withUTF8Buffer { local.elementsEqual($0) }
    }

    private mutating func startTag(selfClosing: Bool, _ emit: (SitemapEntry) -> Void) {
        let depth = stack.count
        switch depth {
        case 0:
            if rootClosed {
                fail(.malformed, "a second root element")
                return
            }
            if localNameIs("urlset") {
                summary.kind = .urlset
            } else if localNameIs("sitemapindex") {
                summary.kind = .sitemapindex
            } else {
                fail(.notSitemap, "the root element is <\(String(decoding: name, as: UTF8.self))>, not <urlset> or <sitemapindex>")
                return
            }
        case 1:
            if localNameIs(summary.kind == .urlset ? "url" : "sitemap") {
                inItem = true
                itemLoc = nil
                itemLocBad = false
                itemLastmod = nil
            }
        case 2 where inItem:
            if localNameIs("loc") && itemLoc == nil && !itemLocBad {
                capture = .loc
            } else if localNameIs("lastmod") && itemLastmod == nil {
                capture = .lastmod
            }
            if capture != nil {
                value.removeAll(keepingCapacity: true)
                overflow = false
            }
        default:
            break
        }
        if selfClosing {
            closed(depth: depth, emit)
            return
        }
        guard depth < Self.maxDepth else {
            fail(.malformed, "elements nested deeper than \(Self.maxDepth)")
            return
        }
        stack.append(name)
    }

    private mutating func endTag(_ emit: (SitemapEntry) -> Void) {
        guard let open = stack.last else {
            fail(.malformed, "</\(String(decoding: name, as: UTF8.self))> closes nothing")
            return
        }
        guard open == name else {
            fail(.malformed, "</\(String(decoding: name, as: UTF8.self))> closes <\(String(decoding: open, as: UTF8.self))>")
            return
        }
        stack.removeLast()
        closed(depth: stack.count, emit)
    }

    /// The element at `depth` ended.
    private mutating func closed(depth: Int, _ emit: (SitemapEntry) -> Void) {
        switch depth {
        case 0:
            rootClosed = true
        case 1 where inItem:
            finishItem(emit)
        case 2 where capture != nil:
            let text = overflow ? nil : Self.trimmed(value)
            if capture == .loc {
                if let text, !text.isEmpty { itemLoc = text } else { itemLocBad = true }
            } else {
                itemLastmod = text
            }
            capture = nil
        default:
            break
        }
    }

    /// The input stops inside an entry: it is handed out if its `<loc>` is complete.
    private mutating func flushItem(_ emit: (SitemapEntry) -> Void) {
        if mode == .xml && inItem && itemLoc != nil { finishItem(emit) }
    }

    /// The entry ends: its loc is handed out, or it is counted as skipped.
    private mutating func finishItem(_ emit: (SitemapEntry) -> Void) {
        inItem = false
        capture = nil
        guard let loc = itemLoc else {
            summary.skipped += 1
            return
        }
        add(SitemapEntry(loc: String(decoding: loc, as: UTF8.self),
                         lastmod: itemLastmod.map { String(decoding: $0, as: UTF8.self) }), emit)
    }

    private static func trimmed(_ v: [UInt8]) -> [UInt8] {
        var lo = 0, hi = v.count
        while lo < hi && isSpace(v[lo]) { lo += 1 }
        while hi > lo && isSpace(v[hi - 1]) { hi -= 1 }
        return Array(v[lo..<hi])
    }

    private mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard capturing, !bytes.isEmpty, !overflow else { return }
        if value.count + bytes.count > limits.maxLocBytes {
            overflow = true
            return
        }
        value.append(contentsOf: bytes)
    }

    private mutating func appendByte(_ b: UInt8) {
        withUnsafeBytes(of: b) { append($0) }
    }

    private mutating func appendBrackets(_ count: Int) {
        for _ in 0..<count { appendByte(UInt8(ascii: "]")) }
    }

    /// `&` + `pendingMarkup` + `;` ended: XML's five named references and numeric ones are
    /// decoded; anything else stays as written.
    private mutating func reference() {
        var decoded: UInt32? = nil
        let r = pendingMarkup
        if r.first == UInt8(ascii: "#") {
            var k = 1
            var hex = false
            if k < r.count && (r[k] | 0x20) == UInt8(ascii: "x") { hex = true; k += 1 }
            var v: UInt32 = 0
            var digits = 0
            while k < r.count {
                let c = r[k]
                let d: UInt32
                if c >= 0x30 && c <= 0x39 { d = UInt32(c - 0x30) }
                else if hex && (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 { d = UInt32((c | 0x20) - 0x61 + 10) }
                else { digits = 0; break }
                v = min(v &* (hex ? 16 : 10) &+ d, 0x110000)
                digits += 1
                k += 1
            }
            if digits > 0 && k == r.count {
                decoded = (v == 0 || v > 0x10FFFF || (0xD800...0xDFFF).contains(v)) ? 0xFFFD : v
            }
        } else {
            switch String(decoding: r, as: UTF8.self) {
            case "amp": decoded = 0x26
            case "lt": decoded = 0x3C
            case "gt": decoded = 0x3E
            case "quot": decoded = 0x22
            case "apos": decoded = 0x27
            default: decoded = nil
            }
        }
        if let decoded {
            var out: [UInt8] = []
            HTMLEntities.appendUTF8(decoded, to: &out)
            out.withUnsafeBytes { append($0) }
        } else {
            var out: [UInt8] = [UInt8(ascii: "&")]
            out += r
            out.append(UInt8(ascii: ";"))
            out.withUnsafeBytes { append($0) }
        }
    }
}
