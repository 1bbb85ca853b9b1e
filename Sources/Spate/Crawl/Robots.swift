// robots.txt per RFC 9309: a parser that keeps only the rules that apply to one product
// token, and a matcher that works on UTF-8 bytes with precompiled patterns.
//
// Where RFC 9309 is silent this follows Google's open-source robotstxt parser/matcher:
// lenient field names and separators, the leading [A-Za-z_-] run of a user-agent value as
// the compared token, pattern length as the match priority, Allow winning ties.

/// The rules of one robots.txt for one user-agent product token.
public struct RobotsRules: Sendable {
    /// How many bytes of a body are parsed (RFC 9309 §2.5 requires at least 500 KiB).
    /// A line cut by this limit is dropped, never parsed truncated.
    public static let maxParsedBytes = 512 * 1024

    enum Mode: Sendable { case parsed, allowAll, disallowAll }

    let mode: Mode
    /// The applicable rules, in precedence order: longest pattern first, Allow before
    /// Disallow on equal length, then file order. The first rule that matches decides.
    let rules: [RobotsRule]
    /// `rules[i].pattern`'s cheap rejection data, packed densely for the scan.
    let filters: [RobotsPrefilter]

    /// Crawl-delay (seconds) of the group that applies to the token, if any (non-standard
    /// but widely used). The largest valid value among the merged groups; invalid ignored.
    public let crawlDelay: Double?
    /// Every `Sitemap:` URL in the file (group-independent), in order, as written.
    public let sitemaps: [String]
    /// Which group applied: the first matching user-agent value as written (e.g. "spate"
    /// or "Spate/2.1"), or "*", or nil when no group applied (everything allowed).
    public let group: String?

    private init(mode: Mode) {
        self.mode = mode
        rules = []
        filters = []
        crawlDelay = nil
        sitemaps = []
        group = nil
    }

    /// Everything allowed (e.g. robots.txt answered 4xx).
    public static let allowAll = RobotsRules(mode: .allowAll)
    /// Everything but /robots.txt disallowed (e.g. 5xx or network error: fail closed).
    public static let disallowAll = RobotsRules(mode: .disallowAll)

    /// Parses a robots.txt body (bytes as received; UTF-8, BOM tolerated, CR/LF/CRLF line ends).
    /// Parses the first 512 KiB (RFC 9309 requires ≥ 500 KiB); bytes beyond are ignored.
    /// `productToken` is e.g. "spate" (case-insensitive match against user-agent lines;
    /// only its leading run of [A-Za-z_-] is used).
    public init(parsing body: [UInt8], productToken: String) {
        var parser = RobotsParser(token: RobotsParser.agentKey(Array(productToken.utf8)[...]))
        body.withUnsafeBufferPointer { parser.parse($0) }

        let chosen: [RobotsPendingRule]
        let delays: [Double]
        if parser.sawSpecific {
            chosen = parser.specificRules
            delays = parser.specificDelays
            group = parser.specificName
        } else if parser.sawGlobal {
            chosen = parser.globalRules
            delays = parser.globalDelays
            group = "*"
        } else {
            chosen = []
            delays = []
            group = nil
        }
        var compiled = chosen.map(RobotsRule.init)
        compiled.sort { a, b in
            if a.priority != b.priority { return a.priority > b.priority }
            if a.allow != b.allow { return a.allow }
            return a.line < b.line
        }
        mode = .parsed
        rules = compiled
        filters = compiled.map { RobotsPrefilter($0.pattern) }
        crawlDelay = delays.max()
        sitemaps = parser.sitemaps
    }

    /// Decides for a URL's path+query as it appears in the URL (percent-encoded, starting
    /// with "/", query included with "?", no fragment; a fragment is cut off, a missing
    /// leading "/" is supplied).
    public func decide(_ pathAndQuery: String) -> RobotsDecision {
        if mode == .allowAll { return RobotsDecision(allowed: true, rule: nil, line: nil) }
        if mode == .parsed && rules.isEmpty { return RobotsDecision(allowed: true, rule: nil, line: nil) }
        // A path already in the comparison form (the common case: starts with "/", no
        // fragment, nothing to normalise) is matched in place, without a copy.
        var text = pathAndQuery
        return text.withUTF8 { raw in
            if raw.first == UInt8(ascii: "/") && !raw.contains(UInt8(ascii: "#")) && !robotsNeedsNormalising(raw) {
                return decide(path: raw)
            }
            return RobotsRules.normalisedPath(pathAndQuery).withUnsafeBufferPointer { decide(path: $0) }
        }
    }

    /// The decision for a path+query in the comparison form (``normalisedPath(_:)``).
    private func decide(path p: UnsafeBufferPointer<UInt8>) -> RobotsDecision {
        if p.elementsEqual(robotsTxtPath) { return RobotsDecision(allowed: true, rule: nil, line: nil) }
        if mode == .disallowAll { return RobotsDecision(allowed: false, rule: nil, line: nil) }
        let hit: Int? = rules.withUnsafeBufferPointer { rs in
            filters.withUnsafeBufferPointer { fs in
                let word = RobotsPrefilter.pathWord(p)
                let count = p.count
                for i in fs.indices {
                    let f = fs[i]
                    if word & f.mask == f.word && count >= f.minLength && rs[i].pattern.matches(p) { return i }
                }
                return nil
            }
        }
        guard let hit else { return RobotsDecision(allowed: true, rule: nil, line: nil) }
        let rule = rules[hit]
        return RobotsDecision(allowed: rule.allow, rule: rule.text, line: rule.line)
    }

    /// The path+query bytes in the form patterns are compared in.
    static func normalisedPath(_ pathAndQuery: String) -> [UInt8] {
        var raw = Array(pathAndQuery.utf8)
        if let hash = raw.firstIndex(of: UInt8(ascii: "#")) { raw.removeSubrange(hash...) }
        if raw.first != UInt8(ascii: "/") { raw.insert(UInt8(ascii: "/"), at: 0) }
        return robotsNeedsNormalising(raw) ? robotsNormalise(raw) : raw
    }
}

/// The outcome of ``RobotsRules/decide(_:)``.
public struct RobotsDecision: Sendable, Equatable {
    public var allowed: Bool
    /// The deciding rule, field name normalised and value as written, e.g.
    /// "Disallow: /private/" or "Allow: /p/$"; nil when no rule matched (allowed by
    /// default) or for allowAll/disallowAll.
    public var rule: String?
    /// 1-based line number of the deciding rule in the file, nil if none.
    public var line: Int?

    public init(allowed: Bool, rule: String?, line: Int?) {
        self.allowed = allowed
        self.rule = rule
        self.line = line
    }
}

// MARK: - Rules and patterns

/// An Allow/Disallow line kept by the parser for the token's groups.
struct RobotsPendingRule: Sendable {
    var allow: Bool
    var value: [UInt8]
    var line: Int
}

/// A rule's quick rejection test: the path's first 8 octets under `mask` must equal
/// `word`, and the path must have at least `minLength` octets.
struct RobotsPrefilter: Sendable {
    let word: UInt64
    let mask: UInt64
    let minLength: Int

    init(_ pattern: RobotsPattern) {
        var word: UInt64 = 0, mask: UInt64 = 0
        for (i, b) in pattern.head.prefix(8).enumerated() {
            word |= UInt64(b) << (8 * i)
            mask |= 0xFF << (8 * i)
        }
        self.word = word
        self.mask = mask
        minLength = pattern.minLength
    }

    /// A path's first (up to) 8 octets packed like `word` (zero-padded).
    static func pathWord(_ p: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var word: UInt64 = 0
        for i in 0..<min(8, p.count) { word |= UInt64(p[i]) << (8 * i) }
        return word
    }
}

/// One compiled Allow/Disallow rule.
struct RobotsRule: Sendable {
    let allow: Bool
    /// "Allow: <value>" / "Disallow: <value>", value as written.
    let text: String
    let line: Int
    /// Octets in the normalised pattern (the RFC's "most octets"; Google's priority).
    let priority: Int
    let pattern: RobotsPattern

    init(_ pending: RobotsPendingRule) {
        allow = pending.allow
        line = pending.line
        text = (pending.allow ? "Allow: " : "Disallow: ") + String(decoding: pending.value, as: UTF8.self)
        var raw = pending.value
        // Google's leniency: a pattern not starting with "/" or "*" gets a leading "/".
        if let first = raw.first, first != UInt8(ascii: "/"), first != UInt8(ascii: "*") {
            raw.insert(UInt8(ascii: "/"), at: 0)
        }
        let normalised = robotsNormalise(raw)
        priority = normalised.count
        pattern = RobotsPattern(normalised)
    }
}

/// A pattern split at its `*` wildcards: a literal head that must be a prefix, then
/// literal segments found left to right (greedy leftmost is optimal for `*`-only globs),
/// the last one pinned to the end of the path when the pattern ends with `$`.
/// Worst case O(path × pattern) per match, no backtracking.
struct RobotsPattern: Sendable {
    let head: [UInt8]
    /// Non-empty segments after the `*`s.
    let tail: [[UInt8]]
    let hasStar: Bool
    /// Ends with `$`: the match must reach the end of the path+query.
    let anchored: Bool
    /// Literal octets the path needs at least.
    let minLength: Int

    init(_ normalised: [UInt8]) {
        var body = normalised[...]
        var anchored = false
        if body.last == UInt8(ascii: "$") {
            anchored = true
            body = body.dropLast()
        }
        let segments = body.split(separator: UInt8(ascii: "*"), omittingEmptySubsequences: false)
        head = Array(segments[0])
        hasStar = segments.count > 1
        if hasStar && anchored && segments[segments.count - 1].isEmpty {
            anchored = false   // "…*$" matches whatever the path continues with
        }
        self.anchored = anchored
        tail = segments.dropFirst().filter { !$0.isEmpty }.map { Array($0) }
        minLength = head.count + tail.reduce(0) { $0 + $1.count }
    }

    func matches(_ p: UnsafeBufferPointer<UInt8>) -> Bool {
        if p.count < minLength { return false }
        let n = head.count
        let headMatches = head.withUnsafeBufferPointer { h -> Bool in
            var i = 0
            while i < n {
                if p[i] != h[i] { return false }
                i += 1
            }
            return true
        }
        if !headMatches { return false }
        if !hasStar { return !anchored || p.count == n }
        var pos = n
        let free = anchored ? tail.count - 1 : tail.count
        var k = 0
        while k < free {
            guard let at = RobotsPattern.find(tail[k], in: p, from: pos) else { return false }
            pos = at + tail[k].count
            k += 1
        }
        if !anchored { return true }
        let last = tail[tail.count - 1]
        let start = p.count - last.count
        if start < pos { return false }
        return last.withUnsafeBufferPointer { l in
            var i = 0
            while i < l.count {
                if p[start + i] != l[i] { return false }
                i += 1
            }
            return true
        }
    }

    /// Leftmost occurrence of `needle` (non-empty) in `p` at or after `from`.
    private static func find(_ needle: [UInt8], in p: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        let m = needle.count
        let lastStart = p.count - m
        if from > lastStart { return nil }
        return needle.withUnsafeBufferPointer { s -> Int? in
            let first = s[0]
            var i = from
            while i <= lastStart {
                if p[i] == first {
                    var k = 1
                    while k < m && p[i + k] == s[k] { k += 1 }
                    if k == m { return i }
                }
                i += 1
            }
            return nil
        }
    }
}

// MARK: - Parser

/// Walks the lines once, keeping only what applies to one product token.
struct RobotsParser {
    let token: [UInt8]

    // Group state (Google's model): consecutive user-agent lines form a group's head; the
    // first member line (allow/disallow/crawl-delay, even empty or invalid) closes it.
    private var inAgentRun = false
    private var groupIsSpecific = false
    private var groupIsGlobal = false

    private(set) var sawSpecific = false
    private(set) var sawGlobal = false
    private(set) var specificName: String?
    private(set) var specificRules: [RobotsPendingRule] = []
    private(set) var globalRules: [RobotsPendingRule] = []
    private(set) var specificDelays: [Double] = []
    private(set) var globalDelays: [Double] = []
    private(set) var sitemaps: [String] = []

    init(token: [UInt8]) { self.token = token }

    enum Field { case userAgent, allow, disallow, crawlDelay, sitemap }

    /// The lowercased leading run of [A-Za-z_-] (what Google compares).
    static func agentKey(_ value: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        for b in value {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): out.append(b | 0x20)
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "-"), UInt8(ascii: "_"): out.append(b)
            default: return out
            }
        }
        return out
    }

    mutating func parse(_ buf: UnsafeBufferPointer<UInt8>) {
        let lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        var end = min(buf.count, RobotsRules.maxParsedBytes)
        if buf.count > end, buf[end] != lf, buf[end] != cr {
            // The limit cuts a line: drop that partial line rather than parse it shortened.
            while end > 0 && buf[end - 1] != lf && buf[end - 1] != cr { end -= 1 }
        }
        var i = 0
        if end >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF { i = 3 }
        var lineNumber = 0
        while i < end {
            let start = i
            while i < end && buf[i] != lf && buf[i] != cr { i += 1 }
            let lineEnd = i
            if i < end {
                if buf[i] == cr && i + 1 < end && buf[i + 1] == lf { i += 2 } else { i += 1 }
            }
            lineNumber += 1
            line(buf[start..<lineEnd], number: lineNumber)
        }
    }

    private static func isSpace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x0B || b == 0x0C
    }

    private static func trimmed(_ s: Slice<UnsafeBufferPointer<UInt8>>) -> Slice<UnsafeBufferPointer<UInt8>> {
        var lo = s.startIndex, hi = s.endIndex
        while lo < hi && isSpace(s[lo]) { lo += 1 }
        while hi > lo && isSpace(s[hi - 1]) { hi -= 1 }
        return s[lo..<hi]
    }

    private static func field(_ key: Slice<UnsafeBufferPointer<UInt8>>) -> Field? {
        var lower = ""
        lower.unicodeScalars.reserveCapacity(key.count)
        for b in key {
            let c = (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) ? b | 0x20 : b
            lower.unicodeScalars.append(Unicode.Scalar(c))
        }
        switch lower {
        case "user-agent", "useragent", "user agent": return .userAgent
        case "allow": return .allow
        case "disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw": return .disallow
        case "crawl-delay", "crawldelay", "crawl delay": return .crawlDelay
        case "sitemap", "site-map": return .sitemap
        default: return nil
        }
    }

    private mutating func line(_ raw: Slice<UnsafeBufferPointer<UInt8>>, number: Int) {
        var text = raw
        if let hash = text.firstIndex(of: UInt8(ascii: "#")) { text = text[..<hash] }
        text = RobotsParser.trimmed(text)
        if text.isEmpty { return }
        let key: Slice<UnsafeBufferPointer<UInt8>>
        let value: Slice<UnsafeBufferPointer<UInt8>>
        if let colon = text.firstIndex(of: UInt8(ascii: ":")) {
            key = RobotsParser.trimmed(text[..<colon])
            value = RobotsParser.trimmed(text[(colon + 1)...])
        } else {
            // Google: whitespace instead of the colon, if the line is exactly two words.
            guard let gap = text.firstIndex(where: RobotsParser.isSpace) else { return }
            key = text[..<gap]
            value = RobotsParser.trimmed(text[gap...])
            if value.contains(where: RobotsParser.isSpace) { return }
        }
        guard !key.isEmpty, let field = RobotsParser.field(key) else { return }

        switch field {
        case .sitemap:
            if !value.isEmpty { sitemaps.append(String(decoding: value, as: UTF8.self)) }
        case .userAgent:
            if !inAgentRun {
                inAgentRun = true
                groupIsSpecific = false
                groupIsGlobal = false
            }
            if let first = value.first, first == UInt8(ascii: "*"),
               value.count == 1 || RobotsParser.isSpace(value[value.startIndex + 1]) {
                groupIsGlobal = true
                sawGlobal = true
            } else if !token.isEmpty && RobotsParser.agentKey(ArraySlice(value)) == token {
                groupIsSpecific = true
                sawSpecific = true
                if specificName == nil { specificName = String(decoding: value, as: UTF8.self) }
            }
        case .allow, .disallow:
            inAgentRun = false
            guard groupIsSpecific || groupIsGlobal, !value.isEmpty else { return }
            let rule = RobotsPendingRule(allow: field == .allow, value: Array(value), line: number)
            if groupIsSpecific { specificRules.append(rule) }
            if groupIsGlobal { globalRules.append(rule) }
        case .crawlDelay:
            inAgentRun = false
            guard groupIsSpecific || groupIsGlobal, let delay = RobotsParser.delay(value) else { return }
            if groupIsSpecific { specificDelays.append(delay) }
            if groupIsGlobal { globalDelays.append(delay) }
        }
    }

    /// A non-negative decimal number of seconds ("2", "2.5", ".5"); anything else is nil.
    private static func delay(_ value: Slice<UnsafeBufferPointer<UInt8>>) -> Double? {
        var digits = 0, dots = 0
        for b in value {
            if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
                digits += 1
            } else if b == UInt8(ascii: ".") {
                dots += 1
            } else {
                return nil
            }
        }
        guard digits > 0, dots <= 1, let d = Double(String(decoding: value, as: UTF8.self)), d.isFinite else {
            return nil
        }
        return d
    }
}

// MARK: - Percent-encoding normalisation (RFC 9309 §2.2.2)

fileprivate let robotsTxtPath: [UInt8] = Array("/robots.txt".utf8)
fileprivate let robotsHexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

@inline(__always)
fileprivate func robotsHexValue(_ b: UInt8) -> UInt8? {
    switch b {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
    default: return nil
    }
}

@inline(__always)
fileprivate func robotsIsUnreserved(_ b: UInt8) -> Bool {
    switch b {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
         UInt8(ascii: "0")...UInt8(ascii: "9"),
         UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
        return true
    default:
        return false
    }
}

/// Octets that need no encoding: printable ASCII other than space.
@inline(__always)
fileprivate func robotsIsPlain(_ b: UInt8) -> Bool { b > 0x20 && b < 0x7F }

/// Whether ``robotsNormalise(_:)`` could change these bytes.
fileprivate func robotsNeedsNormalising<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Bool {
    for b in bytes where b == UInt8(ascii: "%") || !robotsIsPlain(b) { return true }
    return false
}

/// The comparison form: `%xx` of an unreserved character decoded, other `%xx` with
/// uppercase hex, octets outside printable ASCII (non-ASCII, controls, space) encoded.
/// A `%` not followed by two hex digits stays as it is. `*` and `$` are untouched.
fileprivate func robotsNormalise(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count + 8)
    var i = 0
    let n = bytes.count
    while i < n {
        let b = bytes[i]
        if b == UInt8(ascii: "%"), i + 2 < n, let hi = robotsHexValue(bytes[i + 1]), let lo = robotsHexValue(bytes[i + 2]) {
            let v = hi << 4 | lo
            if robotsIsUnreserved(v) {
                out.append(v)
            } else {
                out.append(b)
                out.append(robotsHexDigits[Int(hi)])
                out.append(robotsHexDigits[Int(lo)])
            }
            i += 3
        } else if robotsIsPlain(b) {
            out.append(b)
            i += 1
        } else {
            out.append(UInt8(ascii: "%"))
            out.append(robotsHexDigits[Int(b >> 4)])
            out.append(robotsHexDigits[Int(b & 0x0F)])
            i += 1
        }
    }
    return out
}
