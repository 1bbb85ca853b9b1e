/// A crawl URL: the WHATWG URL Standard's "basic URL parser" (https://url.spec.whatwg.org/)
/// for the two schemes spate fetches, `http` and `https`, with relative resolution against
/// a base and a versioned canonical form used as the crawl's dedupe key.
///
/// Called for every link of every page, so the parser works on UTF-8 bytes and builds the
/// serialized URL (`href`, all ASCII) in one byte buffer; the components are offsets into it
/// and become `String`s only when asked for.
///
/// Only `http` and `https` parse; every other scheme (special or not) is refused with
/// `.unsupportedScheme`, so opaque-path URLs never reach the crawler. The path
/// percent-encode set is the current one, which includes `^` (older parsers, e.g. Node 20,
/// leave `^` unescaped in paths).
///
/// Known deviations from the URL Standard (checked against Node's WHATWG `URL` on ~140,000
/// generated inputs), all in host names that are not plain ASCII:
/// - UTS #46 mapping is reduced to lowercasing, full-width ASCII forms (U+FF01–U+FF5E),
///   the ideographic/full-width/half-width full stops (U+3002, U+FF0E, U+FF61), the usual
///   "ignored" code points (soft hyphen, ZWSP, word joiner, BOM, variation selectors,
///   U+034F, U+180B–U+180D) and rejection of spaces, controls, joiners (U+200C/U+200D),
///   private-use, non-character, U+FFF9–U+FFFD and line/paragraph separator code points;
///   no NFC normalisation, no Bidi/joiner context rules, other disallowed code points pass.
/// - Labels that start with `xn--` must decode (RFC 3492) to a non-ASCII label that does not
///   itself start with `xn--` and that the reduced mapping leaves unchanged; unassigned code
///   points are not detected.
public struct CrawlURL: Sendable, Hashable, CustomStringConvertible {
    public enum Failure: Error, Sendable, Equatable {
        /// The input is not a valid URL; the reason is human readable.
        case invalid(String)
        /// The input has a scheme other than http/https (lowercased), e.g. "mailto", "ftp".
        case unsupportedScheme(String)
    }

    /// Full WHATWG serialization, including userinfo and fragment. Always ASCII.
    public let href: String
    // Byte offsets into `href`. `schemeEnd` is the index of ':' (4 or 5); the authority
    // starts at schemeEnd + 3. Username is [schemeEnd+3, usernameEnd); if
    // href[usernameEnd] == ':' the password runs to hostStart - 1 ('@').
    fileprivate let schemeEnd: Int32
    fileprivate let usernameEnd: Int32
    fileprivate let hostStart: Int32
    fileprivate let hostEnd: Int32
    fileprivate let pathStart: Int32
    fileprivate let queryStart: Int32      // index of '?', or -1
    fileprivate let fragmentStart: Int32   // index of '#', or -1
    fileprivate let portValue: Int32       // -1 when absent or default

    /// Version of the rules `canonical(sortQuery:)` follows; stored next to dedupe keys so a
    /// change of rules can be detected.
    public static let canonicalRulesVersion = 1

    fileprivate init(_ p: CrawlURLParser) {
        href = String(decoding: p.out, as: UTF8.self)
        schemeEnd = Int32(p.schemeEnd)
        usernameEnd = Int32(p.usernameEnd)
        hostStart = Int32(p.hostStart)
        hostEnd = Int32(p.hostEnd)
        pathStart = Int32(p.pathStart)
        queryStart = Int32(p.queryStart)
        fragmentStart = Int32(p.fragmentStart)
        portValue = Int32(p.port)
    }

    // MARK: Parsing

    /// WHATWG "basic URL parser" for `input`, optionally against `base`. Leading and
    /// trailing C0-control-or-space are stripped, tab/LF/CR removed anywhere, backslash is a
    /// slash, dot segments are resolved, path/query/fragment/userinfo are percent-encoded
    /// with their sets and the host is parsed (domain → lowercase/punycode, IPv4 in all its
    /// number forms, IPv6 compressed). Only http and https produce a URL; any other scheme
    /// is `.unsupportedScheme`, a relative input without base is `.invalid`.
    public static func parse(_ input: String, base: CrawlURL? = nil) -> Result<CrawlURL, Failure> {
        input.withUTF8Bytes { parse(bytes: $0, base: base) }
    }

    private static func parse(bytes raw: UnsafeBufferPointer<UInt8>, base: CrawlURL?) -> Result<CrawlURL, Failure> {
        var lo = 0
        var hi = raw.count
        while lo < hi && raw[lo] <= 0x20 { lo += 1 }
        while hi > lo && raw[hi - 1] <= 0x20 { hi -= 1 }
        var hasTabOrNewline = false
        var i = lo
        while i < hi {
            let c = raw[i]
            if c == 0x09 || c == 0x0A || c == 0x0D { hasTabOrNewline = true; break }
            i += 1
        }
        if hasTabOrNewline {
            var cleaned: [UInt8] = []
            cleaned.reserveCapacity(hi - lo)
            for j in lo..<hi {
                let c = raw[j]
                if c != 0x09 && c != 0x0A && c != 0x0D { cleaned.append(c) }
            }
            return cleaned.withUnsafeBufferPointer { run($0, 0, $0.count, base) }
        }
        return run(raw, lo, hi, base)
    }

    private static func run(_ s: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int,
                            _ base: CrawlURL?) -> Result<CrawlURL, Failure> {
        var parser = CrawlURLParser()
        let failure: Failure?
        if let base {
            failure = base.href.utf8.withContiguousStorageIfAvailable {
                parser.parse(s, start, end, base, $0)
            } ?? Array(base.href.utf8).withUnsafeBufferPointer {
                parser.parse(s, start, end, base, $0)
            }
        } else {
            failure = parser.parse(s, start, end, nil, UnsafeBufferPointer(start: nil, count: 0))
        }
        if let failure { return .failure(failure) }
        if parser.out.count > Int(Int32.max) { return .failure(.invalid("URL too long")) }
        return .success(CrawlURL(parser))
    }

    // MARK: Components

    private var fragmentOrEnd: Int { fragmentStart >= 0 ? Int(fragmentStart) : href.utf8.count }
    private var pathEnd: Int { queryStart >= 0 ? Int(queryStart) : fragmentOrEnd }

    private func slice(_ from: Int, _ to: Int) -> String {
        // From the bytes: a String slice would check its bounds for scalar alignment first.
        if let s = href.utf8.withContiguousStorageIfAvailable({ String(decoding: UnsafeBufferPointer(rebasing: $0[from..<to]), as: UTF8.self) }) {
            return s
        }
        let u = href.utf8
        let a = u.index(u.startIndex, offsetBy: from)
        let b = u.index(a, offsetBy: to - from)
        return String(href[a..<b])
    }

    /// How many times `byte` occurs in the serialization's bytes `from..<to`.
    private func occurrences(of byte: UInt8, _ from: Int, _ to: Int) -> Int {
        if let n = href.utf8.withContiguousStorageIfAvailable({ b -> Int in
            var n = 0
            for i in from..<to where b[i] == byte { n &+= 1 }
            return n
        }) { return n }
        return href.utf8.dropFirst(from).prefix(to - from).reduce(0) { $1 == byte ? $0 + 1 : $0 }
    }

    /// The number of `/` in the path (its segments: no more than this).
    var pathSlashCount: Int { occurrences(of: UInt8(ascii: "/"), Int(pathStart), pathEnd) }
    /// The number of query parameters (`&`-separated; 0 for no or an empty query).
    var queryParameterCount: Int {
        guard queryStart >= 0, Int(queryStart) + 1 < fragmentOrEnd else { return 0 }
        return 1 + occurrences(of: UInt8(ascii: "&"), Int(queryStart) + 1, fragmentOrEnd)
    }

    var isHTTPS: Bool { schemeEnd == 5 }
    /// "http" or "https".
    public var scheme: String { isHTTPS ? "https" : "http" }
    /// Percent-encoded as serialized; "" if none.
    public var username: String { slice(Int(schemeEnd) + 3, Int(usernameEnd)) }
    /// Percent-encoded as serialized; "" if none.
    public var password: String {
        guard usernameEnd < hostStart, href.utf8[href.utf8.index(href.utf8.startIndex, offsetBy: Int(usernameEnd))] == 0x3A
        else { return "" }
        return slice(Int(usernameEnd) + 1, Int(hostStart) - 1)
    }
    /// Serialized host: lowercase ASCII domain (punycode for IDN), dotted IPv4, or
    /// compressed IPv6 in brackets ("[::1]").
    public var host: String { slice(Int(hostStart), Int(hostEnd)) }
    /// The port, nil when absent or the scheme's default (80/443).
    public var port: Int? { portValue >= 0 ? Int(portValue) : nil }
    public var effectivePort: Int { portValue >= 0 ? Int(portValue) : (isHTTPS ? 443 : 80) }
    /// Serialized path, starting with "/".
    public var path: String { slice(Int(pathStart), pathEnd) }
    /// Query without "?", nil if absent ("" if "?" is present but empty).
    public var query: String? { queryStart >= 0 ? slice(Int(queryStart) + 1, fragmentOrEnd) : nil }
    /// Fragment without "#", nil if absent.
    public var fragment: String? { fragmentStart >= 0 ? slice(Int(fragmentStart) + 1, href.utf8.count) : nil }
    /// `href` without fragment and without userinfo: what spate shows and requests.
    public var display: String {
        let authority = Int(schemeEnd) + 3
        if hostStart == authority { return fragmentStart >= 0 ? slice(0, Int(fragmentStart)) : href }
        return slice(0, authority) + slice(Int(hostStart), fragmentOrEnd)
    }
    /// `display.utf8.count`, without making the string.
    public var displayUTF8Count: Int {
        let authority = Int(schemeEnd) + 3
        if hostStart == authority { return fragmentStart >= 0 ? Int(fragmentStart) : href.utf8.count }
        return authority + fragmentOrEnd - Int(hostStart)
    }
    /// `href` without fragment (userinfo kept): for the request.
    public var requestURL: String { fragmentStart >= 0 ? slice(0, Int(fragmentStart)) : href }
    /// "/path?query": for robots.txt matching and the request target.
    public var pathAndQuery: String { slice(Int(pathStart), fragmentOrEnd) }
    /// The host without IPv6 brackets ("::1"), for DNS and connect.
    public var hostForConnect: String {
        let h = host
        if h.utf8.first == 0x5B { return slice(Int(hostStart) + 1, Int(hostEnd) - 1) }
        return h
    }
    /// "scheme://host:effectivePort", the politeness key (e.g. "https://example.org:443").
    public var origin: String { Self.origin(scheme: scheme, host: host, port: effectivePort) }

    /// "scheme://host:port" in one allocation (a chain of `+` made one per step).
    static func origin(scheme: String, host: String, port: Int) -> String {
        // Written as bytes: appending the parts to a String cost ~2,000 instructions. (The
        // port's digits are a small string: no allocation.)
        var scheme = scheme, host = host, digits = String(port)
        return scheme.withUTF8 { s in
            host.withUTF8 { h in
                digits.withUTF8 { d in
                    String(unsafeUninitializedCapacity: s.count + 3 + h.count + 1 + d.count) { out in
                        var i = 0
                        func put(_ part: UnsafeBufferPointer<UInt8>) { for b in part { out[i] = b; i += 1 } }
                        func put(_ text: StaticString) { put(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)) }
                        put(s); put("://"); put(h); put(":"); put(d)
                        return i
                    }
                }
            }
        }
    }
    public var description: String { display }

    public static func == (a: CrawlURL, b: CrawlURL) -> Bool { a.href == b.href }
    public func hash(into hasher: inout Hasher) { hasher.combine(href) }

    // MARK: Canonical key

    /// The crawl's dedupe key, rules version `canonicalRulesVersion` (1):
    ///
    /// Starting from the WHATWG-parsed URL, which already has the scheme and host
    /// lowercased, IDN hosts in punycode, IPv4/IPv6 hosts in their canonical form, the
    /// default port dropped and dot segments resolved:
    /// 1. the fragment is dropped;
    /// 2. the userinfo is dropped;
    /// 3. percent-encoding is normalised in path and query: the hex digits of every `%xx`
    ///    escape are uppercased and escapes of unreserved characters (`A–Z a–z 0–9 - . _ ~`)
    ///    are decoded; every other byte (reserved, `%` not starting an escape, or anything
    ///    else WHATWG left unescaped) stays as it is — so "%7e" and "~" are equal, "%2f"
    ///    becomes "%2F" and stays escaped;
    /// 4. an empty query ("?" with nothing after it) is dropped;
    /// 5. query parameters keep their order, unless `sortQuery` is true: then the
    ///    `&`-separated parameters (each `key=value` as a whole, after step 3) are stably
    ///    sorted by their bytes;
    /// 6. the path is never empty ("/").
    ///
    /// Result: `scheme://host[:port]/path[?query]`, e.g.
    /// "HTTP://Example.COM:80/a/./b/../c#x" → "http://example.com/a/c".
    public func canonical(sortQuery: Bool = false) -> String {
        String(decoding: canonicalUTF8(sortQuery: sortQuery), as: UTF8.self)
    }

    /// A link that is a plain path — absolute ("/p/004203.html") or relative to this URL's
    /// directory ("004203.html", "sub/x.html") — resolved against this URL without the
    /// parser: the fingerprint of its canonical key, the length of its display form and the
    /// number of slashes in its path. Plain means: holds only bytes the WHATWG parser keeps
    /// as they are and the canonical rules leave alone (letters, digits,
    /// `-._~!$&'()*+,=:@/`; no "%", "?", ";", backslash, space or control byte, no "." or
    /// ".." segment); an absolute one starts with exactly one "/"; a relative one has no ":"
    /// in its first segment (it could be a scheme), and this URL's directory must be plain
    /// too. A "#" ends it (the fragment is dropped). For such a link the canonical key is
    /// this URL's scheme and authority (userinfo dropped), the directory for a relative
    /// link, then the link, exactly as ``canonicalUTF8(sortQuery:)`` of the parsed link.
    /// nil for anything else: the parser decides. `scratch` is reused between calls.
    func plainPathLink(_ raw: UnsafeBufferPointer<UInt8>, scratch: inout [UInt8]) -> (fingerprint: UInt64, displayCount: Int, slashes: Int)? {
        guard raw.count >= 1 else { return nil }
        let absolute = raw[0] == UInt8(ascii: "/")
        if absolute && raw.count > 1 && raw[1] == UInt8(ascii: "/") { return nil }
        var end = raw.count
        var slashes = 0
        var segmentStart = 0
        var i = 0
        while i < raw.count {
            let c = raw[i]
            if c == UInt8(ascii: "#") { end = i; break }
            if c == UInt8(ascii: "/") {
                if Self.isDotSegment(raw, segmentStart, i) { return nil }
                slashes += 1
                segmentStart = i + 1
            } else if !Self.plainPathByte(c) || (c == UInt8(ascii: ":") && !absolute && slashes == 0) {
                return nil
            }
            i += 1
        }
        if end == 0 || Self.isDotSegment(raw, segmentStart, end) { return nil }
        let authority = Int(schemeEnd) + 3
        let (pathFrom, pathTo) = (Int(pathStart), pathEnd)
        let key = href.utf8.withContiguousStorageIfAvailable { h -> (UInt64, Int, Int)? in
            // A relative link replaces what follows the last "/" of this URL's path.
            var directoryEnd = pathFrom
            if !absolute {
                var j = pathTo - 1
                while j >= pathFrom && h[j] != UInt8(ascii: "/") { j -= 1 }
                guard j >= pathFrom else { return nil }
                directoryEnd = j + 1
                for k in pathFrom..<directoryEnd {
                    if h[k] == UInt8(ascii: "/") { slashes += 1 } else if !Self.plainPathByte(h[k]) { return nil }
                }
            }
            // The key's bytes are copied into the scratch array's storage (grown, never
            // emptied): three appends to an emptied array cost ~250 instructions a link.
            let host = Int(hostStart)
            let total = authority + (directoryEnd - host) + end
            if scratch.count < total { scratch = [UInt8](repeating: 0, count: Swift.max(total, 2 * scratch.count, 256)) }
            let fingerprint = scratch.withUnsafeMutableBufferPointer { s -> UInt64 in
                let out = UnsafeMutableRawPointer(s.baseAddress!)
                out.copyMemory(from: h.baseAddress!, byteCount: authority)
                out.advanced(by: authority).copyMemory(from: h.baseAddress! + host, byteCount: directoryEnd - host)
                out.advanced(by: authority + directoryEnd - host).copyMemory(from: raw.baseAddress!, byteCount: end)
                return URLFingerprint.xxh64(UnsafeBufferPointer(rebasing: s[0..<total]))
            }
            return (fingerprint, total, slashes)
        }
        return key ?? nil
    }

    /// A "." or ".." path segment (between `from` and `to`).
    private static func isDotSegment(_ b: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> Bool {
        let n = to - from
        return (n == 1 && b[from] == 0x2E) || (n == 2 && b[from] == 0x2E && b[from + 1] == 0x2E)
    }

    /// Bytes a path keeps as they are, in WHATWG's parser and in the canonical key (no
    /// percent-encoding, no normalising, no session-id rule).
    /// ASCII letters and digits and `-._~!$&'()*+,=:@`, as two 64-bit masks (bytes 0-63
    /// and 64-127): one shift and test a byte, where a switch of ranges compared several times.
    @inline(__always)
    private static func plainPathByte(_ c: UInt8) -> Bool {
        let low: UInt64 = 0x27ff_7fd2_0000_0000, high: UInt64 = 0x47ff_fffe_87ff_ffff
        if c >= 128 { return false }
        return ((c < 64 ? low : high) &>> UInt64(c & 63)) & 1 != 0
    }

    /// ``canonical(sortQuery:)`` as bytes (the crawler fingerprints them without a String).
    public func canonicalUTF8(sortQuery: Bool = false) -> [UInt8] {
        href.withUTF8Bytes { canonicalBytes($0, sortQuery) }
    }

    private func canonicalBytes(_ h: UnsafeBufferPointer<UInt8>, _ sortQuery: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(h.count)
        let authority = Int(schemeEnd) + 3
        out.append(contentsOf: UnsafeBufferPointer(rebasing: h[0..<authority]))
        out.append(contentsOf: UnsafeBufferPointer(rebasing: h[Int(hostStart)..<Int(pathStart)]))
        let pEnd = pathEnd
        if pEnd == Int(pathStart) {
            out.append(0x2F)
        } else {
            CrawlURLBytes.normalizePercent(h, Int(pathStart), pEnd, into: &out)
        }
        if queryStart >= 0 && Int(queryStart) + 1 < fragmentOrEnd {
            out.append(0x3F)
            let qStart = out.count
            CrawlURLBytes.normalizePercent(h, Int(queryStart) + 1, fragmentOrEnd, into: &out)
            if sortQuery { CrawlURLBytes.sortParameters(&out, from: qStart) }
        }
        return out
    }
}

extension CrawlURL.Failure: CustomStringConvertible {
    public var description: String {
        switch self {
        case .invalid(let reason): return "invalid URL: \(reason)"
        case .unsupportedScheme(let scheme): return "unsupported scheme '\(scheme)' (http, https only)"
        }
    }
}

// MARK: - Byte classes

fileprivate enum CrawlURLBytes {
    // Percent-encode sets as 128-bit masks (bits 0–63, 64–127); bytes ≥ 0x80 are in every set.
    // C0 control set = 0x00–0x1F, 0x7F (and ≥ 0x80).
    // fragment = C0 + space " < > `
    // special-query = C0 + space " # ' < >
    // path = query (C0 + space " # < >) + ? ^ ` { }
    // userinfo = path + / : ; = @ [ \ ] ^ |
    // forbidden domain code point = C0 + space # % / : < > ? @ [ \ ] ^ |
    static let fragmentLo: UInt64 = 0x5000_0005_FFFF_FFFF, fragmentHi: UInt64 = 0x8000_0001_0000_0000
    static let queryLo: UInt64 = 0x5000_008D_FFFF_FFFF, queryHi: UInt64 = 0x8000_0000_0000_0000
    static let pathLo: UInt64 = 0xD000_000D_FFFF_FFFF, pathHi: UInt64 = 0xA800_0001_4000_0000
    static let userinfoLo: UInt64 = 0xFC00_800D_FFFF_FFFF, userinfoHi: UInt64 = 0xB800_0001_7800_0001
    static let forbiddenLo: UInt64 = 0xD400_8029_FFFF_FFFF, forbiddenHi: UInt64 = 0x9000_0000_7800_0001
    static let unreservedLo: UInt64 = 0x03FF_6000_0000_0000, unreservedHi: UInt64 = 0x47FF_FFFE_87FF_FFFE

    @inline(__always)
    static func inSet(_ c: UInt8, _ lo: UInt64, _ hi: UInt64) -> Bool {
        if c >= 0x80 { return true }
        return c < 64 ? (lo >> UInt64(c)) & 1 != 0 : (hi >> UInt64(c &- 64)) & 1 != 0
    }

    @inline(__always)
    static func isUnreserved(_ c: UInt8) -> Bool {
        if c >= 0x80 { return false }
        return c < 64 ? (unreservedLo >> UInt64(c)) & 1 != 0 : (unreservedHi >> UInt64(c &- 64)) & 1 != 0
    }

    @inline(__always) static func isAlpha(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }
    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    @inline(__always) static func isAlnum(_ c: UInt8) -> Bool { isAlpha(c) || isDigit(c) }
    @inline(__always) static func isSlash(_ c: UInt8) -> Bool { c == 0x2F || c == 0x5C }

    /// Value of an ASCII hex digit, or 0xFF.
    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt8 {
        switch c {
        case 0x30...0x39: return c &- 0x30
        case 0x41...0x46: return c &- 0x37
        case 0x61...0x66: return c &- 0x57
        default: return 0xFF
        }
    }

    @inline(__always) static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? v &+ 0x30 : v &+ 0x37 }

    /// Percent-normalisation of canonical rule 3 for h[from..<to].
    static func normalizePercent(_ h: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int, into out: inout [UInt8]) {
        var i = from
        while i < to {
            let c = h[i]
            if c == 0x25 && i + 2 < to {
                let hi = hexValue(h[i + 1]), lo = hexValue(h[i + 2])
                if hi != 0xFF && lo != 0xFF {
                    let v = hi << 4 | lo
                    if isUnreserved(v) {
                        out.append(v)
                    } else {
                        out.append(0x25)
                        out.append(hexDigit(hi))
                        out.append(hexDigit(lo))
                    }
                    i += 3
                    continue
                }
            }
            out.append(c)
            i += 1
        }
    }

    /// Stable byte-wise sort of the '&'-separated parameters in out[from...].
    static func sortParameters(_ out: inout [UInt8], from: Int) {
        var ranges: [Range<Int>] = []
        var start = from
        for i in from..<out.count where out[i] == 0x26 {
            ranges.append(start..<i)
            start = i + 1
        }
        ranges.append(start..<out.count)
        if ranges.count < 2 { return }
        let sorted: [UInt8] = out.withUnsafeBufferPointer { buf in
            let ordered = ranges.sorted { a, b in
                buf[a].lexicographicallyPrecedes(buf[b])
            }
            var joined: [UInt8] = []
            joined.reserveCapacity(buf.count - from)
            for (n, r) in ordered.enumerated() {
                if n > 0 { joined.append(0x26) }
                joined.append(contentsOf: UnsafeBufferPointer(rebasing: buf[r]))
            }
            return joined
        }
        out.replaceSubrange(from..<out.count, with: sorted)
    }
}

// MARK: - The parser state machine (special schemes only)

fileprivate struct CrawlURLParser {
    typealias Bytes = UnsafeBufferPointer<UInt8>
    typealias B = CrawlURLBytes

    var out: [UInt8] = []
    var schemeEnd = 0
    var usernameEnd = 0
    var hostStart = 0
    var hostEnd = 0
    var pathStart = 0
    var queryStart = -1
    var fragmentStart = -1
    var port = -1

    /// s[start..<end] is the input, already trimmed and without tab/newline; `b` the base's href.
    mutating func parse(_ s: Bytes, _ start: Int, _ end: Int, _ base: CrawlURL?, _ b: Bytes) -> CrawlURL.Failure? {
        out.reserveCapacity(end - start + b.count + 8)
        var p = start
        // Scheme start / scheme state.
        var schemeLength = -1
        if p < end && B.isAlpha(s[p]) {
            var q = p + 1
            while q < end {
                let c = s[q]
                if B.isAlnum(c) || c == 0x2B || c == 0x2D || c == 0x2E { q += 1 } else { break }
            }
            if q < end && s[q] == 0x3A { schemeLength = q - p }
        }
        if schemeLength >= 0 {
            let https: Bool
            if schemeLength == 4 && Self.matches(s, p, "http") {
                https = false
            } else if schemeLength == 5 && Self.matches(s, p, "https") {
                https = true
            } else {
                var lower: [UInt8] = []
                for i in p..<(p + schemeLength) { let c = s[i]; lower.append(c >= 0x41 && c <= 0x5A ? c | 0x20 : c) }
                return .unsupportedScheme(String(decoding: lower, as: UTF8.self))
            }
            p += schemeLength + 1
            // "special relative or authority state": same scheme as base and not "//" → relative.
            if let base, base.isHTTPS == https, !(p + 1 < end && s[p] == 0x2F && s[p + 1] == 0x2F) {
                return relative(s, p, end, base, b)
            }
            return absolute(s, p, end, https: https)
        }
        guard let base else { return .invalid("relative URL without a base") }
        return relative(s, p, end, base, b)
    }

    static func matches(_ s: Bytes, _ p: Int, _ word: StaticString) -> Bool {
        let w = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        for i in 0..<w.count where s[p + i] | 0x20 != w[i] { return false }
        return true
    }

    mutating func appendScheme(https: Bool) {
        if https {
            out.append(contentsOf: [0x68, 0x74, 0x74, 0x70, 0x73, 0x3A, 0x2F, 0x2F])
            schemeEnd = 5
        } else {
            out.append(contentsOf: [0x68, 0x74, 0x74, 0x70, 0x3A, 0x2F, 0x2F])
            schemeEnd = 4
        }
    }

    /// Special authority (ignore) slashes state onwards.
    mutating func absolute(_ s: Bytes, _ from: Int, _ end: Int, https: Bool) -> CrawlURL.Failure? {
        var p = from
        while p < end && B.isSlash(s[p]) { p += 1 }
        out.removeAll(keepingCapacity: true)
        appendScheme(https: https)
        if let failure = authority(s, &p, end, https: https) { return failure }
        // Path start state.
        pathStart = out.count
        if p < end && B.isSlash(s[p]) { p += 1 }
        parsePath(s, &p, end)
        queryAndFragment(s, p, end)
        return nil
    }

    /// Relative state, `base` special with the same scheme.
    mutating func relative(_ s: Bytes, _ from: Int, _ end: Int, _ base: CrawlURL, _ b: Bytes) -> CrawlURL.Failure? {
        var p = from
        let baseEnd = b.count
        let baseFragmentOrEnd = base.fragmentStart >= 0 ? Int(base.fragmentStart) : baseEnd
        let basePathEnd = base.queryStart >= 0 ? Int(base.queryStart) : baseFragmentOrEnd
        if p < end && B.isSlash(s[p]) {
            if p + 1 < end && B.isSlash(s[p + 1]) {
                return absolute(s, p, end, https: base.isHTTPS)   // relative slash → authority
            }
            copyBase(base, b, Int(base.pathStart))
            pathStart = out.count
            p += 1
            parsePath(s, &p, end)
            queryAndFragment(s, p, end)
            return nil
        }
        pathStart = Int(base.pathStart)
        if p == end {
            copyBase(base, b, baseFragmentOrEnd)
            queryStart = Int(base.queryStart)
            return nil
        }
        switch s[p] {
        case 0x3F:  // '?'
            copyBase(base, b, basePathEnd)
        case 0x23:  // '#'
            copyBase(base, b, baseFragmentOrEnd)
            queryStart = Int(base.queryStart)
        default:
            copyBase(base, b, basePathEnd)
            shortenPath()
            parsePath(s, &p, end)
        }
        queryAndFragment(s, p, end)
        return nil
    }

    mutating func copyBase(_ base: CrawlURL, _ b: Bytes, _ upTo: Int) {
        out.append(contentsOf: UnsafeBufferPointer(rebasing: b[0..<upTo]))
        schemeEnd = Int(base.schemeEnd)
        usernameEnd = Int(base.usernameEnd)
        hostStart = Int(base.hostStart)
        hostEnd = Int(base.hostEnd)
        port = Int(base.portValue)
    }

    // MARK: Authority

    mutating func authority(_ s: Bytes, _ p: inout Int, _ end: Int, https: Bool) -> CrawlURL.Failure? {
        var q = p
        var lastAt = -1
        while q < end {
            let c = s[q]
            if c == 0x2F || c == 0x5C || c == 0x3F || c == 0x23 { break }
            if c == 0x40 { lastAt = q }
            q += 1
        }
        let authorityEnd = q
        var hostFrom = p
        let userinfoStart = out.count
        if lastAt >= 0 {
            if lastAt + 1 == authorityEnd { return .invalid("missing host after userinfo") }
            var colon = -1
            var i = p
            while i < lastAt { if s[i] == 0x3A { colon = i; break }; i += 1 }
            let userEnd = colon >= 0 ? colon : lastAt
            appendEncoded(s, p, userEnd, B.userinfoLo, B.userinfoHi)
            usernameEnd = out.count
            if colon >= 0 && colon + 1 < lastAt {
                out.append(0x3A)
                appendEncoded(s, colon + 1, lastAt, B.userinfoLo, B.userinfoHi)
            }
            if out.count > userinfoStart { out.append(0x40) }
            hostFrom = lastAt + 1
        } else {
            usernameEnd = userinfoStart
        }
        hostStart = out.count
        var inBrackets = false
        var colon = -1
        var i = hostFrom
        while i < authorityEnd {
            let c = s[i]
            if c == 0x5B { inBrackets = true } else if c == 0x5D { inBrackets = false } else if c == 0x3A && !inBrackets { colon = i; break }
            i += 1
        }
        let hostTo = colon >= 0 ? colon : authorityEnd
        if hostTo == hostFrom { return .invalid("empty host") }
        if let failure = parseHost(s, hostFrom, hostTo) { return failure }
        hostEnd = out.count
        if colon >= 0 {
            var value = 0
            var digits = 0
            for j in (colon + 1)..<authorityEnd {
                let c = s[j]
                guard B.isDigit(c) else { return .invalid("invalid port") }
                if value <= 65535 { value = value * 10 + Int(c &- 0x30) }
                digits += 1
            }
            if digits > 0 {
                if value > 65535 { return .invalid("port out of range") }
                if value != (https ? 443 : 80) {
                    port = value
                    out.append(0x3A)
                    appendDecimal(value)
                }
            }
        }
        p = authorityEnd
        return nil
    }

    mutating func appendDecimal(_ value: Int) {
        if value >= 10 { appendDecimal(value / 10) }
        out.append(UInt8(truncatingIfNeeded: value % 10) &+ 0x30)
    }

    @inline(__always)
    mutating func appendEscaped(_ c: UInt8) {
        out.append(0x25)
        out.append(B.hexDigit(c >> 4))
        out.append(B.hexDigit(c & 0xF))
    }

    mutating func appendEncoded(_ s: Bytes, _ from: Int, _ to: Int, _ lo: UInt64, _ hi: UInt64) {
        var i = from
        while i < to {
            let c = s[i]
            if B.inSet(c, lo, hi) { appendEscaped(c) } else { out.append(c) }
            i += 1
        }
    }

    // MARK: Host

    mutating func parseHost(_ s: Bytes, _ from: Int, _ to: Int) -> CrawlURL.Failure? {
        if s[from] == 0x5B {
            guard to - from >= 2, s[to - 1] == 0x5D else { return .invalid("unterminated IPv6 address") }
            guard let pieces = CrawlURLIPv6.parse(s, from + 1, to - 1) else { return .invalid("invalid IPv6 address") }
            out.append(0x5B)
            CrawlURLIPv6.serialize(pieces, into: &out)
            out.append(0x5D)
            return nil
        }
        var plain = true
        for i in from..<to where s[i] >= 0x80 || s[i] == 0x25 { plain = false; break }
        if plain { return asciiHost(s, from, to) }
        // Percent-decode, then domain to ASCII.
        var decoded: [UInt8] = []
        decoded.reserveCapacity(to - from)
        var ascii = true
        var i = from
        while i < to {
            var c = s[i]
            if c == 0x25 && i + 2 < to {
                let hi = B.hexValue(s[i + 1]), lo = B.hexValue(s[i + 2])
                if hi != 0xFF && lo != 0xFF { c = hi << 4 | lo; i += 2 }
            }
            if c >= 0x80 { ascii = false }
            decoded.append(c)
            i += 1
        }
        if ascii {
            return decoded.withUnsafeBufferPointer { asciiHost($0, 0, $0.count) }
        }
        guard let name = CrawlURLIDNA.toASCII(decoded), !name.isEmpty else {
            return .invalid("invalid internationalized domain name")
        }
        let bytes = Array(name.utf8)
        return bytes.withUnsafeBufferPointer { asciiHost($0, 0, $0.count) }
    }

    /// An ASCII domain: lowercased, checked for forbidden domain code points, and parsed as
    /// IPv4 when it ends in a number.
    mutating func asciiHost(_ h: Bytes, _ from: Int, _ to: Int) -> CrawlURL.Failure? {
        let start = out.count
        for i in from..<to {
            var c = h[i]
            if B.inSet(c, B.forbiddenLo, B.forbiddenHi) {
                out.removeLast(out.count - start)
                return .invalid("forbidden host code point")
            }
            if c >= 0x41 && c <= 0x5A { c |= 0x20 }
            out.append(c)
        }
        // Labels already in A-label form must decode to a valid non-ASCII U-label.
        var label = start
        while label + 4 <= out.count {
            if out[label] == 0x78 && out[label + 1] == 0x6E && out[label + 2] == 0x2D && out[label + 3] == 0x2D {
                var labelEnd = label + 4
                while labelEnd < out.count && out[labelEnd] != 0x2E { labelEnd += 1 }
                if !CrawlURLIDNA.isValidALabel(Array(out[(label + 4)..<labelEnd])) {
                    out.removeLast(out.count - start)
                    return .invalid("invalid punycode label")
                }
            }
            while label < out.count && out[label] != 0x2E { label += 1 }
            label += 1
        }
        if CrawlURLIPv4.endsInNumber(h, from, to) {
            guard let address = CrawlURLIPv4.parse(h, from, to) else { return .invalid("invalid IPv4 address") }
            out.removeLast(out.count - start)
            for shift in [24, 16, 8, 0] as [UInt32] {
                if shift != 24 { out.append(0x2E) }
                appendDecimal(Int((address >> shift) & 0xFF))
            }
        }
        return nil
    }

    // MARK: Path, query, fragment

    /// Path state from s[p] (the start of a segment) to '?', '#' or the end.
    mutating func parsePath(_ s: Bytes, _ p: inout Int, _ end: Int) {
        while true {
            let segmentStart = out.count
            out.append(0x2F)
            var slash = false
            while p < end {
                let c = s[p]
                if c == 0x2F || c == 0x5C { slash = true; break }
                if c == 0x3F || c == 0x23 { break }
                if B.inSet(c, B.pathLo, B.pathHi) { appendEscaped(c) } else { out.append(c) }
                p += 1
            }
            let length = out.count - segmentStart - 1
            if length > 0 && length <= 6 {
                let dots = dotSegment(segmentStart + 1, length)
                if dots != 0 {
                    out.removeLast(out.count - segmentStart)
                    if dots == 2 { shortenPath() }
                    if !slash { out.append(0x2F) }
                }
            }
            if !slash { return }
            p += 1
        }
    }

    /// 1 for a single-dot segment ("." "%2e"), 2 for a double-dot one, else 0.
    func dotSegment(_ at: Int, _ length: Int) -> Int {
        @inline(__always) func dot(_ i: Int) -> Int {   // length of a dot at i: 1, 3 or 0
            if out[i] == 0x2E { return 1 }
            if out[i] == 0x25 && i + 2 < at + length && out[i + 1] == 0x32 && out[i + 2] | 0x20 == 0x65 { return 3 }
            return 0
        }
        let first = dot(at)
        if first == 0 { return 0 }
        if first == length { return 1 }
        let second = dot(at + first)
        return second != 0 && first + second == length ? 2 : 0
    }

    /// Removes the last path segment, if any.
    mutating func shortenPath() {
        var i = out.count
        while i > pathStart {
            i -= 1
            if out[i] == 0x2F { out.removeLast(out.count - i); return }
        }
    }

    mutating func queryAndFragment(_ s: Bytes, _ from: Int, _ end: Int) {
        var p = from
        if p < end && s[p] == 0x3F {
            queryStart = out.count
            out.append(0x3F)
            p += 1
            while p < end {
                let c = s[p]
                if c == 0x23 { break }
                if B.inSet(c, B.queryLo, B.queryHi) { appendEscaped(c) } else { out.append(c) }
                p += 1
            }
        }
        if p < end && s[p] == 0x23 {
            fragmentStart = out.count
            out.append(0x23)
            appendEncoded(s, p + 1, end, B.fragmentLo, B.fragmentHi)
        }
    }
}

// MARK: - Hosts

fileprivate enum CrawlURLIPv4 {
    /// The URL Standard's "ends in a number checker".
    static func endsInNumber(_ h: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> Bool {
        var last = to
        if last > from && h[last - 1] == 0x2E { last -= 1 }
        var start = last
        while start > from && h[start - 1] != 0x2E { start -= 1 }
        if start == last { return false }
        var allDigits = true
        for i in start..<last where !CrawlURLBytes.isDigit(h[i]) { allDigits = false; break }
        if allDigits { return true }
        return number(h, start, last) != nil
    }

    /// IPv4 number parser (decimal, 0x hex, 0 octal); values saturate above 2^40.
    static func number(_ h: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> UInt64? {
        if from == to { return nil }
        var i = from
        var radix: UInt64 = 10
        if to - i >= 2 && h[i] == 0x30 && h[i + 1] | 0x20 == 0x78 {
            i += 2
            radix = 16
        } else if to - i >= 2 && h[i] == 0x30 {
            i += 1
            radix = 8
        }
        var value: UInt64 = 0
        while i < to {
            let d = UInt64(CrawlURLBytes.hexValue(h[i]))
            if d >= radix { return nil }
            value = min(value &* radix &+ d, 1 << 40)
            i += 1
        }
        return value
    }

    static func parse(_ h: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> UInt32? {
        var end = to
        if end - from > 1 && h[end - 1] == 0x2E { end -= 1 }
        var numbers: [UInt64] = []
        numbers.reserveCapacity(4)
        var start = from
        var i = from
        while i <= end {
            if i == end || h[i] == 0x2E {
                if numbers.count == 4 { return nil }
                guard let n = number(h, start, i) else { return nil }
                numbers.append(n)
                start = i + 1
            }
            i += 1
        }
        let count = numbers.count
        for n in numbers.dropLast() where n > 255 { return nil }
        let last = numbers[count - 1]
        if last >= UInt64(1) << UInt64(8 * (5 - count)) { return nil }
        var address = last
        for (index, n) in numbers.dropLast().enumerated() { address += n << UInt64(8 * (3 - index)) }
        return UInt32(address)
    }
}

fileprivate enum CrawlURLIPv6 {
    /// The URL Standard's IPv6 parser over h[from..<to] (inside the brackets).
    static func parse(_ h: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> [UInt16]? {
        var address = [UInt16](repeating: 0, count: 8)
        var pieceIndex = 0
        var compress = -1
        var p = from
        @inline(__always) func at(_ i: Int) -> UInt8? { i < to ? h[i] : nil }
        if at(p) == 0x3A {
            if at(p + 1) != 0x3A { return nil }
            p += 2
            pieceIndex += 1
            compress = pieceIndex
        }
        while let c = at(p) {
            if pieceIndex == 8 { return nil }
            if c == 0x3A {
                if compress >= 0 { return nil }
                p += 1
                pieceIndex += 1
                compress = pieceIndex
                continue
            }
            var value: UInt32 = 0
            var length = 0
            while length < 4, let d = at(p), CrawlURLBytes.hexValue(d) != 0xFF {
                value = value << 4 | UInt32(CrawlURLBytes.hexValue(d))
                p += 1
                length += 1
            }
            if at(p) == 0x2E {
                if length == 0 { return nil }
                p -= length
                if pieceIndex > 6 { return nil }
                var numbersSeen = 0
                while let d = at(p) {
                    var piece = -1
                    if numbersSeen > 0 {
                        if d == 0x2E && numbersSeen < 4 { p += 1 } else { return nil }
                    }
                    guard let first = at(p), CrawlURLBytes.isDigit(first) else { return nil }
                    while let digit = at(p), CrawlURLBytes.isDigit(digit) {
                        let n = Int(digit &- 0x30)
                        if piece == -1 { piece = n } else if piece == 0 { return nil } else { piece = piece * 10 + n }
                        if piece > 255 { return nil }
                        p += 1
                    }
                    address[pieceIndex] = address[pieceIndex] &* 0x100 &+ UInt16(piece)
                    numbersSeen += 1
                    if numbersSeen == 2 || numbersSeen == 4 { pieceIndex += 1 }
                }
                if numbersSeen != 4 { return nil }
                break
            } else if at(p) == 0x3A {
                p += 1
                if at(p) == nil { return nil }
            } else if at(p) != nil {
                return nil
            }
            address[pieceIndex] = UInt16(value)
            pieceIndex += 1
        }
        if compress >= 0 {
            var swaps = pieceIndex - compress
            pieceIndex = 7
            while pieceIndex != 0 && swaps > 0 {
                address.swapAt(pieceIndex, compress + swaps - 1)
                pieceIndex -= 1
                swaps -= 1
            }
        } else if pieceIndex != 8 {
            return nil
        }
        return address
    }

    /// The URL Standard's IPv6 serializer (lowercase hex, first longest run of ≥ 2 zero
    /// pieces compressed).
    static func serialize(_ address: [UInt16], into out: inout [UInt8]) {
        var compress = -1
        var bestLength = 1
        var i = 0
        while i < 8 {
            if address[i] == 0 {
                var j = i
                while j < 8 && address[j] == 0 { j += 1 }
                if j - i > bestLength { bestLength = j - i; compress = i }
                i = j
            } else {
                i += 1
            }
        }
        var ignore0 = false
        for index in 0..<8 {
            if ignore0 && address[index] == 0 { continue }
            ignore0 = false
            if compress == index {
                out.append(0x3A)
                if index == 0 { out.append(0x3A) }
                ignore0 = true
                continue
            }
            let v = address[index]
            var started = false
            for shift in stride(from: 12, through: 0, by: -4) {
                let nibble = UInt8(truncatingIfNeeded: v >> UInt16(shift)) & 0xF
                if nibble != 0 || started || shift == 0 {
                    started = true
                    out.append(nibble < 10 ? nibble &+ 0x30 : nibble &+ 0x57)
                }
            }
            if index != 7 { out.append(0x3A) }
        }
    }
}

fileprivate enum CrawlURLIDNA {
    /// Whether `xn--` + `rest` is a valid A-label: `rest` decodes as punycode to a non-empty,
    /// not all-ASCII label that does not start with "xn--" and whose code points the reduced
    /// mapping leaves unchanged.
    static func isValidALabel(_ rest: [UInt8]) -> Bool {
        guard !rest.isEmpty, let decoded = decode(rest) else { return false }
        // UTS #46 validity: a U-label must not itself begin with "xn--".
        if decoded.count >= 4 && decoded[0] | 0x20 == 0x78 && decoded[1] | 0x20 == 0x6E && decoded[2] == 0x2D && decoded[3] == 0x2D {
            return false
        }
        var nonASCII = false
        for v in decoded {
            if v < 0x80 { continue }
            nonASCII = true
            guard let u = Unicode.Scalar(v), status(u) == .valid else { return false }
            let s = String(u)
            if s.lowercased() != s { return false }
        }
        return nonASCII
    }

    /// RFC 3492 decoding of a punycode string (without "xn--"); nil when malformed.
    static func decode(_ input: [UInt8]) -> [UInt32]? {
        let base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700
        var output: [UInt32] = []
        var position = 0
        if let delimiter = input.lastIndex(of: 0x2D) {
            for c in input[..<delimiter] {
                guard c < 0x80 else { return nil }
                output.append(UInt32(c))
            }
            position = delimiter + 1
        }
        var n = 128, i = 0, bias = 72
        while position < input.count {
            let oldI = i
            var w = 1
            var k = base
            while true {
                guard position < input.count else { return nil }
                let c = input[position]
                position += 1
                let digit: Int
                switch c {
                case 0x61...0x7A: digit = Int(c - 0x61)
                case 0x41...0x5A: digit = Int(c - 0x41)
                case 0x30...0x39: digit = Int(c - 0x30) + 26
                default: return nil
                }
                let (product, o1) = digit.multipliedReportingOverflow(by: w)
                let (sum, o2) = i.addingReportingOverflow(product)
                if o1 || o2 { return nil }
                i = sum
                let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                if digit < t { break }
                let (nextW, o3) = w.multipliedReportingOverflow(by: base - t)
                if o3 { return nil }
                w = nextW
                k += base
            }
            let count = output.count + 1
            var delta = oldI == 0 ? (i - oldI) / damp : (i - oldI) / 2
            delta += delta / count
            var kk = 0
            while delta > ((base - tMin) * tMax) / 2 {
                delta /= base - tMin
                kk += base
            }
            bias = kk + (base - tMin + 1) * delta / (delta + skew)
            let (nextN, o4) = n.addingReportingOverflow(i / count)
            if o4 || nextN > 0x10FFFF { return nil }
            n = nextN
            i %= count
            output.insert(UInt32(n), at: i)
            i += 1
        }
        return output
    }

    enum Status { case valid, mapped, ignored, disallowed }

    /// The reduced UTS #46 status of a non-ASCII code point.
    static func status(_ u: Unicode.Scalar) -> Status {
        switch u.value {
        case 0xFF01...0xFF5E, 0x3002, 0xFF0E, 0xFF61:
            return .mapped
        case 0x00AD, 0x034F, 0x180B...0x180D, 0x200B, 0x2060, 0xFE00...0xFE0F, 0xFEFF:
            return .ignored
        case 0x80...0xA0, 0x1680, 0x2000...0x200A, 0x200C, 0x200D, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
             0xD800...0xDFFF, 0xE000...0xF8FF, 0xFDD0...0xFDEF, 0xFFF9...0xFFFD, 0xF0000...:
            return .disallowed  // spaces, controls, joiners, private use, non-characters, U+FFFD
        case let v where v & 0xFFFE == 0xFFFE:
            return .disallowed
        default:
            return .valid
        }
    }

    /// Domain to ASCII for a percent-decoded host with non-ASCII bytes: the reduced UTS #46
    /// mapping described on `CrawlURL`, then `Punycode.toASCII`. nil on failure.
    static func toASCII(_ bytes: [UInt8]) -> String? {
        let name = String(decoding: bytes, as: UTF8.self)
        var mapped = String.UnicodeScalarView()
        var ascii = true
        for u in name.unicodeScalars {
            let v = u.value
            if v < 0x80 { mapped.append(u); continue }
            switch status(u) {
            case .mapped:
                if v >= 0xFF01 && v <= 0xFF5E, let m = Unicode.Scalar(v - 0xFEE0) { mapped.append(m) } else { mapped.append(".") }
            case .ignored:
                continue
            case .disallowed:
                return nil
            case .valid:
                ascii = false
                mapped.append(u)
            }
        }
        let result = String(mapped)
        if ascii { return result }
        return Punycode.toASCII(result)
    }
}
