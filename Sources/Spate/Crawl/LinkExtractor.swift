/// Link extraction from HTML that arrives in chunks, on top of `HTMLTokenizer`.
///
/// Feed the body as it comes (chunks may split anything: a tag, a quoted value, a
/// character reference, a UTF-8 sequence), then call `finish()`. Memory is bounded by
/// the current token and the links kept (`maxLinks`); the body is never buffered.
/// Links are reported as written (references decoded, surrounding whitespace trimmed):
/// resolving them against the page or `<base>` URL, and filtering schemes, is the URL
/// parser's job.

public struct LinkExtractionOptions: Sendable {
    /// Also report images, scripts, media, embeds and `<input type=image>` (`src`, and each
    /// `srcset` candidate of `img` and `source`). `<link href>` (stylesheets, icons,
    /// preloads) is always reported.
    public var assets = false
    /// Also report the `action` of forms submitted with GET (no `method`, `get`, or an
    /// unknown method, which HTML treats as GET; `post` and `dialog` are left out).
    public var forms = false
    /// Links kept; more are counted in `ExtractedPage.total` but not stored.
    public var maxLinks = 1000

    public init() {}
}

public struct ExtractedLink: Sendable, Equatable {
    /// The attribute value: character references decoded, leading and trailing ASCII
    /// whitespace stripped, inner tabs and newlines kept (the URL parser removes them).
    public var url: String
    /// Lowercase element name: "a", "area", "link", "frame", "iframe", "meta" (refresh),
    /// "form", "img", "script", "source", "video", "audio", "embed", "input".
    public var tag: String
    /// "href", "src", "srcset", "content" (meta refresh) or "action".
    public var attribute: String
    /// For a, area and link: the rel value lowercased, split on ASCII whitespace and
    /// rejoined with single spaces; nil when there is no rel attribute.
    public var rel: String?
    /// rel contains the token "nofollow".
    public var nofollow: Bool

    public init(url: String, tag: String, attribute: String, rel: String? = nil, nofollow: Bool = false) {
        self.url = url
        self.tag = tag
        self.attribute = attribute
        self.rel = rel
        self.nofollow = nofollow
    }
}

public struct ExtractedPage: Sendable, Equatable {
    /// In document order, at most `maxLinks` (made from ``urlBytes`` and ``entries`` when asked for).
    public var links: [ExtractedLink] { entries.indices.map(link(at:)) }
    /// The links' URLs as bytes, back to back: a crawl probes most links' fingerprints from
    /// them, and makes a String only for the few that get past the seen-set (a String per
    /// link and its ExtractedLink cost ~450 instructions a link).
    private(set) var urlBytes: [UInt8] = []
    /// Each link: its URL's place in ``urlBytes``, and the rest of it.
    private(set) var entries: [LinkEntry] = []
    /// Every link seen, including those beyond `maxLinks`.
    public var total: Int
    /// The href of the first `<base>` that has one (later ones do not count), decoded and trimmed.
    public var baseHref: String?
    /// The content of `<meta name=robots>`, lowercased; several are joined with ", ".
    public var metaRobots: String?
    /// The href of the first `<link rel=canonical>` with a non-empty href.
    public var relCanonical: String?
    /// The text of the first `<title>`, references decoded, whitespace collapsed.
    public var title: String?

    public init(
        total: Int = 0, baseHref: String? = nil,
        metaRobots: String? = nil, relCanonical: String? = nil, title: String? = nil
    ) {
        self.total = total
        self.baseHref = baseHref
        self.metaRobots = metaRobots
        self.relCanonical = relCanonical
        self.title = title
    }
}

extension ExtractedPage {
    /// One link's place and attributes; its URL is `urlBytes[start..<start + count]`.
    struct LinkEntry: Sendable, Equatable {
        var start: Int
        var count: Int
        var tag: HTMLTagName
        var attribute: HTMLAttributeName
        var rel: String?
        var nofollow: Bool
    }

    var linkCount: Int { entries.count }

    func link(at i: Int) -> ExtractedLink {
        let e = entries[i]
        return ExtractedLink(url: url(at: i), tag: e.tag.name, attribute: e.attribute.name, rel: e.rel, nofollow: e.nofollow)
    }

    func url(at i: Int) -> String {
        withURL(at: i) { String(decoding: $0, as: UTF8.self) }
    }

    func withURL<R>(at i: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let e = entries[i]
        return urlBytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[e.start..<e.start + e.count])) }
    }

    mutating func appendLink(_ url: UnsafeRawBufferPointer, tag: HTMLTagName, attribute: HTMLAttributeName, rel: String?, nofollow: Bool) {
        // One allocation each for a typical page's links (glibc's per-thread cache sizes).
        if entries.capacity == 0 { entries.reserveCapacity(12); urlBytes.reserveCapacity(512) }
        entries.append(LinkEntry(start: urlBytes.count, count: url.count, tag: tag, attribute: attribute, rel: rel, nofollow: nofollow))
        urlBytes.append(contentsOf: url)
    }

    public static func == (a: ExtractedPage, b: ExtractedPage) -> Bool {
        a.links == b.links && a.total == b.total && a.baseHref == b.baseHref && a.metaRobots == b.metaRobots
            && a.relCanonical == b.relCanonical && a.title == b.title
    }
}

/// Extracts links from one HTML document fed in chunks. Use from one thread at a time.
public final class LinkExtractor {
    private var tokenizer = HTMLTokenizer()
    private var collector: LinkCollector
    private var result: ExtractedPage?

    public init(options: LinkExtractionOptions = LinkExtractionOptions()) {
        collector = LinkCollector(options: options)
    }

    /// The next bytes of the body. Ignored after `finish()`.
    public func feed(_ chunk: UnsafeRawBufferPointer) {
        guard result == nil, chunk.count > 0 else { return }
        tokenizer.feed(chunk, into: &collector)
    }

    public func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// Ends the document (a tag still open at EOF is dropped, as HTML does) and returns
    /// what was found. Further calls return the same page.
    public func finish() -> ExtractedPage {
        if let result { return result }
        tokenizer.finish(into: &collector)
        let page = collector.finish()
        result = page
        return page
    }

    /// Ready for another document, as if new (its buffers' memory kept).
    public func reset() {
        tokenizer.reset()
        collector.reset()
        result = nil
    }

    /// Extracts from a complete body in one go.
    public static func extract(_ bytes: [UInt8], options: LinkExtractionOptions = LinkExtractionOptions()) -> ExtractedPage {
        let extractor = LinkExtractor(options: options)
        extractor.feed(bytes)
        return extractor.finish()
    }
}

/// The token sink that applies the extraction rules.
struct LinkCollector: HTMLTokenSink {
    /// Most bytes of `<title>` text kept, and most characters of joined meta robots.
    static let maxTextBytes = 64 * 1024

    let options: LinkExtractionOptions
    private var page = ExtractedPage()
    private var sawBase = false
    private var titleState: UInt8 = 0       // 0: no title yet, 1: in the first one, 2: done
    private var titleBytes: [UInt8] = []
    private var scratch: [UInt8] = []

    init(options: LinkExtractionOptions) {
        self.options = options
    }

    var wantsText: Bool { titleState == 1 }

    func wantsAttributes(of tag: HTMLTagName) -> Bool {
        switch tag {
        case .a, .area, .link, .frame, .iframe, .base, .meta: true
        case .form: options.forms
        case .img, .script, .source, .video, .audio, .embed, .input: options.assets
        default: false
        }
    }

    mutating func startTag(_ tag: HTMLTagName, attributes a: HTMLAttributes, selfClosing: Bool) {
        if titleState == 1 { endTitle() }
        switch tag {
        case .a, .area:
            if let href = a.value(.href) { add(href, tag, .href, rel: rel(a)) }
        case .link:
            guard let href = a.value(.href) else { return }
            let rel = rel(a)
            if page.relCanonical == nil, rel?.canonical == true {
                let url = withDecoded(href, LinkValue.trimmedString)
                if !url.isEmpty { page.relCanonical = url }
            }
            add(href, tag, .href, rel: rel)
        case .frame, .iframe:
            if let src = a.value(.src) { add(src, tag, .src) }
        case .base:
            if !sawBase, let href = a.value(.href) {
                sawBase = true
                page.baseHref = withDecoded(href, LinkValue.trimmedString)
            }
        case .meta:
            meta(a)
        case .form:
            guard options.forms, let action = a.value(.action) else { return }
            if let method = a.value(.method) {
                let m = withDecoded(method, LinkValue.lowercasedTrimmed)
                if m == "post" || m == "dialog" { return }
            }
            add(action, tag, .action)
        case .img, .source:
            guard options.assets else { return }
            // Both in the order they appear in the tag.
            if a.position(.srcset) < a.position(.src) {
                addSrcset(a, tag)
                if let src = a.value(.src) { add(src, tag, .src) }
            } else {
                if let src = a.value(.src) { add(src, tag, .src) }
                addSrcset(a, tag)
            }
        case .script, .video, .audio, .embed:
            if options.assets, let src = a.value(.src) { add(src, tag, .src) }
        case .input:
            guard options.assets, let type = a.value(.type), let src = a.value(.src) else { return }
            if withDecoded(type, LinkValue.lowercasedTrimmed) == "image" { add(src, tag, .src) }
        case .title:
            if titleState == 0 { titleState = 1 }
        default:
            break
        }
    }

    mutating func endTag(_ tag: HTMLTagName) {
        if titleState == 1 { endTitle() }
    }

    static var wantsEndTagNames: Bool { false }

    mutating func text(_ bytes: UnsafeRawBufferPointer) {
        guard titleState == 1 else { return }
        let room = Self.maxTextBytes - titleBytes.count
        if room > 0 { titleBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes.prefix(room))) }
    }

    mutating func finish() -> ExtractedPage {
        if titleState == 1 { endTitle() }
        scratch.removeAll(keepingCapacity: scratch.capacity <= 4096)
        return page
    }

    /// As new, with the scratch buffers' memory kept (moved out first, so that emptying them
    /// copies nothing).
    mutating func reset() {
        var titleBytes: [UInt8] = [], scratch: [UInt8] = []
        swap(&titleBytes, &self.titleBytes)
        swap(&scratch, &self.scratch)
        titleBytes.removeAll(keepingCapacity: titleBytes.capacity <= 4096)
        scratch.removeAll(keepingCapacity: scratch.capacity <= 4096)
        self = LinkCollector(options: options)
        swap(&self.titleBytes, &titleBytes)
        swap(&self.scratch, &scratch)
    }

    // MARK: - Rules

    private mutating func meta(_ a: HTMLAttributes) {
        guard let content = a.value(.content) else { return }
        if let equiv = a.value(.httpEquiv), withDecoded(equiv, LinkValue.lowercasedTrimmed) == "refresh",
           let url = withDecoded(content, LinkValue.refreshURL)
        {
            add(url: url, .meta, .content, rel: nil)
        }
        if let name = a.value(.name), withDecoded(name, LinkValue.lowercasedTrimmed) == "robots" {
            let value = withDecoded(content, LinkValue.lowercasedTrimmed)
            guard !value.isEmpty else { return }
            if let existing = page.metaRobots {
                if existing.utf8.count + value.utf8.count < Self.maxTextBytes { page.metaRobots = existing + ", " + value }
            } else {
                page.metaRobots = value
            }
        }
    }

    private mutating func addSrcset(_ a: HTMLAttributes, _ tag: HTMLTagName) {
        guard let srcset = a.value(.srcset) else { return }
        for url in withDecoded(srcset, LinkValue.srcsetURLs) { add(url: url, tag, .srcset, rel: nil) }
    }

    private mutating func rel(_ a: HTMLAttributes) -> LinkRel? {
        guard let rel = a.value(.rel) else { return nil }
        return withDecoded(rel, LinkValue.rel)
    }

    /// Adds the link in a raw attribute value (skipped when blank), kept as bytes.
    private mutating func add(_ raw: UnsafeRawBufferPointer, _ tag: HTMLTagName, _ attribute: HTMLAttributeName, rel: LinkRel? = nil) {
        guard HTMLEntities.mayContainReference(raw) else { return keep(raw, tag, attribute, rel) }
        // Decoded into the scratch buffer, moved out of `self` while `page` changes.
        var decoded: [UInt8] = []
        swap(&decoded, &scratch)
        decoded.removeAll(keepingCapacity: true)
        HTMLEntities.decode(raw, inAttribute: true, into: &decoded)
        decoded.withUnsafeBytes { keep($0, tag, attribute, rel) }
        if decoded.capacity <= 4 * HTMLTokenizer.maxAttributeValue { swap(&decoded, &scratch) }
    }

    /// A decoded value: trimmed, counted, and kept if there is room.
    private mutating func keep(_ value: UnsafeRawBufferPointer, _ tag: HTMLTagName, _ attribute: HTMLAttributeName, _ rel: LinkRel?) {
        let r = LinkValue.trimmed(value)
        if r.isEmpty { return }
        page.total += 1
        if page.linkCount < options.maxLinks {
            page.appendLink(UnsafeRawBufferPointer(rebasing: value[r]), tag: tag, attribute: attribute,
                            rel: rel?.value, nofollow: rel?.nofollow ?? false)
        }
    }

    /// Adds an already decoded and trimmed link (skipped when empty).
    private mutating func add(url: String, _ tag: HTMLTagName, _ attribute: HTMLAttributeName, rel: LinkRel?) {
        guard !url.isEmpty else { return }
        page.total += 1
        if page.linkCount < options.maxLinks {
            var url = url
            url.withUTF8 { page.appendLink(UnsafeRawBufferPointer($0), tag: tag, attribute: attribute, rel: rel?.value,
                                           nofollow: rel?.nofollow ?? false) }
        }
    }

    private mutating func endTitle() {
        titleState = 2
        scratch.removeAll(keepingCapacity: true)
        titleBytes.withUnsafeBytes { HTMLEntities.decode($0, inAttribute: false, into: &scratch) }
        page.title = scratch.withUnsafeBytes(LinkValue.collapsedWhitespace)
        titleBytes = []
    }

    /// Runs `body` on the value with character references decoded (attribute rules).
    private mutating func withDecoded<R>(_ raw: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard HTMLEntities.mayContainReference(raw) else { return body(raw) }
        scratch.removeAll(keepingCapacity: true)
        HTMLEntities.decode(raw, inAttribute: true, into: &scratch)
        if scratch.capacity > 4 * HTMLTokenizer.maxAttributeValue {
            defer { scratch = [] }
            return scratch.withUnsafeBytes(body)
        }
        return scratch.withUnsafeBytes(body)
    }
}

struct LinkRel {
    var value: String
    var nofollow: Bool
    var canonical: Bool
}

/// Parsers for decoded attribute values, on bytes.
enum LinkValue {
    static func trimmed(_ b: UnsafeRawBufferPointer) -> Range<Int> {
        var lo = 0, hi = b.count
        while lo < hi && HTMLByte.isSpace(b[lo]) { lo += 1 }
        while hi > lo && HTMLByte.isSpace(b[hi - 1]) { hi -= 1 }
        return lo..<hi
    }

    static func trimmedString(_ b: UnsafeRawBufferPointer) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: b[trimmed(b)]), as: UTF8.self)
    }

    static func lowercasedTrimmed(_ b: UnsafeRawBufferPointer) -> String {
        let r = trimmed(b)
        return String(unsafeUninitializedCapacity: r.count, initializingUTF8With: { (out: UnsafeMutableBufferPointer<UInt8>) -> Int in
            for (k, i) in r.enumerated() { out[k] = HTMLByte.lower(b[i]) }
            return r.count
        })
    }

    /// The rel value lowercased with its tokens joined by single spaces.
    static func rel(_ b: UnsafeRawBufferPointer) -> LinkRel {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var nofollow = false, canonical = false
        var i = 0
        while i < b.count {
            while i < b.count && HTMLByte.isSpace(b[i]) { i += 1 }
            let start = i
            while i < b.count && !HTMLByte.isSpace(b[i]) { i += 1 }
            guard i > start else { break }
            if !out.isEmpty { out.append(0x20) }
            let tokenStart = out.count
            for k in start..<i { out.append(HTMLByte.lower(b[k])) }
            if i - start == 8 && matches(out, tokenStart, "nofollow") { nofollow = true }
            if i - start == 9 && matches(out, tokenStart, "canonical") { canonical = true }
        }
        return LinkRel(value: String(decoding: out, as: UTF8.self), nofollow: nofollow, canonical: canonical)
    }

    private static func matches(_ bytes: [UInt8], _ at: Int, _ word: StaticString) -> Bool {
        for k in 0..<word.utf8CodeUnitCount where bytes[at + k] != word.utf8Start[k] { return false }
        return true
    }

    /// The URL of a `<meta http-equiv=refresh>` content value, per the HTML "shared
    /// declarative refresh steps": a number, then `;` or `,` or whitespace, then an
    /// optional `url=` (any case, spaces around `=`), then an optionally quoted URL.
    /// Nil when the content is malformed or has no (non-blank) URL.
    static func refreshURL(_ s: UnsafeRawBufferPointer) -> String? {
        let n = s.count
        var p = 0
        func skipSpace(_ p: inout Int) { while p < n && HTMLByte.isSpace(s[p]) { p += 1 } }
        func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }
        skipSpace(&p)
        let digits = p
        while p < n && isDigit(s[p]) { p += 1 }
        if p == digits && (p >= n || s[p] != UInt8(ascii: ".")) { return nil }
        while p < n && (isDigit(s[p]) || s[p] == UInt8(ascii: ".")) { p += 1 }
        guard p < n else { return nil }                          // just a delay: reloads the page
        guard s[p] == UInt8(ascii: ";") || s[p] == UInt8(ascii: ",") || HTMLByte.isSpace(s[p]) else { return nil }
        skipSpace(&p)
        if p < n && (s[p] == UInt8(ascii: ";") || s[p] == UInt8(ascii: ",")) { p += 1 }
        skipSpace(&p)
        guard p < n else { return nil }
        var start = p, end = n
        var q = p
        var skipQuotes = true
        if s[q] | 0x20 == UInt8(ascii: "u") {
            q += 1
            skipQuotes = false
            if q < n && s[q] | 0x20 == UInt8(ascii: "r") {
                q += 1
                if q < n && s[q] | 0x20 == UInt8(ascii: "l") {
                    q += 1
                    skipSpace(&q)
                    if q < n && s[q] == UInt8(ascii: "=") {
                        q += 1
                        skipSpace(&q)
                        skipQuotes = true
                    }
                }
            }
        }
        if skipQuotes {
            start = q
            if q < n && (s[q] == UInt8(ascii: "'") || s[q] == UInt8(ascii: "\"")) {
                let quote = s[q]
                start = q + 1
                var k = start
                while k < n && s[k] != quote { k += 1 }
                end = k
            }
        }
        let url = trimmedString(UnsafeRawBufferPointer(rebasing: s[start..<end]))
        return url.isEmpty ? nil : url
    }

    /// The URLs of a srcset value: candidates are separated by commas, each a URL (a run of
    /// non-whitespace, trailing commas removed) and optional descriptors (which may contain
    /// commas inside parentheses). Descriptors are not validated.
    static func srcsetURLs(_ s: UnsafeRawBufferPointer) -> [String] {
        var urls: [String] = []
        let n = s.count
        var p = 0
        while true {
            while p < n && (HTMLByte.isSpace(s[p]) || s[p] == UInt8(ascii: ",")) { p += 1 }
            guard p < n else { break }
            let start = p
            while p < n && !HTMLByte.isSpace(s[p]) { p += 1 }
            var end = p
            if s[end - 1] == UInt8(ascii: ",") {
                while end > start && s[end - 1] == UInt8(ascii: ",") { end -= 1 }
            } else {
                var inParens = false
                while p < n {
                    let c = s[p]
                    p += 1
                    if inParens {
                        if c == UInt8(ascii: ")") { inParens = false }
                    } else if c == UInt8(ascii: "(") {
                        inParens = true
                    } else if c == UInt8(ascii: ",") {
                        break
                    }
                }
            }
            if end > start { urls.append(String(decoding: UnsafeRawBufferPointer(rebasing: s[start..<end]), as: UTF8.self)) }
        }
        return urls
    }

    /// Runs of ASCII whitespace become one space; leading and trailing ones go.
    static func collapsedWhitespace(_ b: UnsafeRawBufferPointer) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var pendingSpace = false
        for c in b {
            if HTMLByte.isSpace(c) {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(0x20); pendingSpace = false }
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
