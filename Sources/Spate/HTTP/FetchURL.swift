import CSpate

/// A URL as spate fetches it, parsed and normalised by libcurl's URL API (the same parser
/// the transfer will use, so spate and curl never disagree about a URL).
public struct FetchURL: Sendable, Hashable, CustomStringConvertible {
    /// The parts, in one immutable object: a URL is copied many times on its way through a
    /// job (the batch, the job's work, the task, each hop, the record), and a copy of five
    /// strings retained each of their buffers (perf: ~25 retains and releases per fetched
    /// URL for FetchURL copies alone); a copy of this is one.
    private final class Parts: Sendable {
        let full: String
        let display: String
        let scheme: String
        let host: String
        let port: Int
        let origin: String

        init(full: String, display: String, scheme: String, host: String, port: Int, origin: String) {
            self.full = full
            self.display = display
            self.scheme = scheme
            self.host = host
            self.port = port
            self.origin = origin
        }
    }

    private let parts: Parts

    /// The full URL for the request (with userinfo, if any).
    public var full: String { parts.full }
    /// The URL without userinfo: what records show.
    public var display: String { parts.display }
    public var scheme: String { parts.scheme }
    /// Host as in the URL (IPv6 without brackets), lowercased.
    public var host: String { parts.host }
    public var port: Int { parts.port }
    /// The per-host key: scheme, host and port (made once: the gates, the hub choice and the
    /// crawler ask for it several times per transfer).
    public var origin: String { parts.origin }

    public init(full: String, display: String, scheme: String, host: String, port: Int) {
        self.init(full: full, display: display, scheme: scheme, host: host, port: port,
                  origin: CrawlURL.origin(scheme: scheme, host: host.containsByte(UInt8(ascii: ":")) ? "[" + host + "]" : host, port: port))
    }

    /// With the origin ("scheme://host:port", IPv6 hosts in brackets) known already.
    init(full: String, display: String, scheme: String, host: String, port: Int, origin: String) {
        parts = Parts(full: full, display: display, scheme: scheme, host: host, port: port, origin: origin)
    }

    public static func == (a: FetchURL, b: FetchURL) -> Bool {
        a.parts === b.parts
            || (a.full == b.full && a.display == b.display && a.scheme == b.scheme && a.host == b.host && a.port == b.port
                && a.origin == b.origin)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(full)
        hasher.combine(display)
        hasher.combine(scheme)
        hasher.combine(host)
        hasher.combine(port)
        hasher.combine(origin)
    }

    public var description: String { display }
    public var hostIsLiteral: Bool { IPAddress.isIPv4(host) || IPAddress.isIPv6(host) }

    /// Removes `user:password@` from the authority of a URL-like string, valid or not.
    public static func redactUserinfo(_ text: String) -> String {
        guard text.containsByte(UInt8(ascii: "@")) else { return text }
        let start = text.range(of: "://")?.upperBound ?? text.startIndex
        let rest = text[start...]
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        guard let at = rest[..<end].lastIndex(of: "@") else { return text }
        return String(text[..<start]) + String(text[text.index(after: at)...])
    }

    public static let allowedSchemes: Set<String> = ["http", "https"]

    /// Parses a line: with "://" it is a URL; otherwise `defaultScheme://line`.
    public static func parse(_ text: String, defaultScheme: String = "https") -> Result<FetchURL, FetchError> {
        // C sees a NUL as the end of the string: "http://a\0…" would silently fetch http://a.
        if text.containsByte(0) { return .failure(FetchError(.invalidURL, "URL contains a NUL byte")) }
        var t = text
        if !hasSchemeSeparator(t) {
            if let scheme = bareScheme(t), !allowedSchemes.contains(scheme) {
                return .failure(FetchError(.protocolDenied, "scheme '\(scheme)' is not allowed (http, https only)"))
            }
            t = defaultScheme + "://" + t
        }
        return parseAbsolute(t)
    }

    /// The lowercased scheme of "mailto:x", "file:/etc/passwd", "javascript:…": a scheme
    /// without "//" is not a bare host ("host:8080" is, a digit follows its colon).
    static func bareScheme(_ t: String) -> String? {
        guard let colon = t.firstIndex(of: ":"), t[..<colon].allSatisfy({ $0.isLetter }),
              !(t[t.index(after: colon)...].first?.isNumber ?? false) else { return nil }
        return t[..<colon].lowercased()
    }

    /// "://" within the first 64 bytes.
    static func hasSchemeSeparator(_ s: String) -> Bool {
        var matched = 0   // bytes of "://" matched so far
        for c in s.utf8.prefix(64) {
            switch (matched, c) {
            case (_, UInt8(ascii: ":")): matched = 1
            case (1, UInt8(ascii: "/")): matched = 2
            case (2, UInt8(ascii: "/")): return true
            default: matched = 0
            }
        }
        return false
    }

    /// Resolves `location` (absolute or relative) against this URL, as a browser does.
    public func resolve(_ location: String) -> Result<FetchURL, FetchError> {
        guard let u = curl_url() else { return .failure(FetchError(.internal, "curl_url failed")) }
        defer { curl_url_cleanup(u) }
        guard curl_url_set(u, CURLUPART_URL, full, 0) == CURLUE_OK else {
            return .failure(FetchError(.invalidURL, "bad base URL"))
        }
        let rc = curl_url_set(u, CURLUPART_URL, location, UInt32(CURLU_NON_SUPPORT_SCHEME))
        guard rc == CURLUE_OK else {
            return .failure(FetchError(.invalidURL, "bad redirect location '\(location.prefix(200))': \(String(cString: curl_url_strerror(rc)))"))
        }
        return FetchURL.from(u)
    }

    private static func parseAbsolute(_ text: String) -> Result<FetchURL, FetchError> {
        if let plain = plain(text) { return .success(plain) }
        return parsedByCurl(text)
    }

    /// `text` through libcurl's URL API.
    static func parsedByCurl(_ text: String) -> Result<FetchURL, FetchError> {
        guard let u = curl_url() else { return .failure(FetchError(.internal, "curl_url failed")) }
        defer { curl_url_cleanup(u) }
        let rc = curl_url_set(u, CURLUPART_URL, text, UInt32(CURLU_NON_SUPPORT_SCHEME))
        guard rc == CURLUE_OK else {
            return .failure(FetchError(.invalidURL, "\(String(cString: curl_url_strerror(rc)))"))
        }
        return from(u)
    }

    /// The common URL that libcurl's parser would hand back unchanged, taken without the
    /// URL API (a `curl_url` round trip was ~6 % of a fetch's CPU): `http` or `https` in
    /// lowercase, a lowercase host name (or a dotted-quad IPv4 address in its canonical form),
    /// no userinfo, an optional port other than the scheme's default, and a path (with an
    /// optional query) of plain characters without dot segments, percent signs or a fragment.
    /// Anything else — and anything curl might normalise (hex or short IPv4 forms, default
    /// ports, `%` escapes, `.`/`..` segments, IDN, case) — returns nil and goes through curl.
    /// `FetchURLParsingTests.plainURLsAgreeWithCurl` holds the two paths equal.
    static func plain(_ text: String) -> FetchURL? {
        var text = text
        return text.withUTF8 { b -> FetchURL? in
            let n = b.count
            var i: Int
            let https: Bool
            @inline(__always) func at(_ k: Int, _ c: Unicode.Scalar) -> Bool { k < n && b[k] == UInt8(ascii: c) }
            guard at(0, "h"), at(1, "t"), at(2, "t"), at(3, "p") else { return nil }
            if at(4, "s") { https = true; i = 5 } else { https = false; i = 4 }
            guard at(i, ":"), at(i + 1, "/"), at(i + 2, "/") else { return nil }
            i += 3
            // Host: labels of [a-z0-9_-], single dots between them.
            let hostStart = i
            var label = 0, labels = 0, numeric = true, lenientIPv4 = true
            while i < n, b[i] != UInt8(ascii: ":"), b[i] != UInt8(ascii: "/") {
                let c = b[i]
                if c == UInt8(ascii: ".") {
                    guard label > 0, label <= HostName.maxLabel else { return nil }
                    label = 0; labels += 1
                } else {
                    let digit = c >= 0x30 && c <= 0x39
                    guard digit || (c >= 0x61 && c <= 0x7A) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") else { return nil }
                    if !digit { numeric = false }
                    // What curl's IPv4 parser might read as a number (hex, octal, short forms).
                    if !(digit || (c >= 0x61 && c <= 0x66) || c == UInt8(ascii: "x")) { lenientIPv4 = false }
                    label += 1
                }
                i += 1
            }
            guard label > 0, label <= HostName.maxLabel else { return nil }
            labels += 1
            let hostEnd = i
            guard hostEnd - hostStart <= HostName.maxLength else { return nil }
            if numeric {
                guard labels == 4, Self.canonicalDottedQuad(b, hostStart, hostEnd) else { return nil }
            } else if lenientIPv4 {
                return nil
            }
            var port = https ? 443 : 80
            if i < n, b[i] == UInt8(ascii: ":") {
                i += 1
                var p = 0, digits = 0
                while i < n, b[i] >= 0x30, b[i] <= 0x39 {
                    p = p * 10 + Int(b[i] - 0x30); digits += 1; i += 1
                    if digits > 5 { return nil }
                }
                guard digits > 0, b[i - digits] != 0x30, p <= 65535, p != port else { return nil }
                port = p
            }
            // Path and query: "/" first, then plain characters only.
            guard i < n, b[i] == UInt8(ascii: "/") else { return nil }
            var inQuery = false
            var segment = 0, dots = 0   // bytes of the current path segment, and how many are dots
            while i < n {
                let c = b[i]
                switch c {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                     UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"), UInt8(ascii: "$"),
                     UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"),
                     UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="), UInt8(ascii: ":"):
                    segment += 1
                case UInt8(ascii: "."):
                    segment += 1; dots += 1
                case UInt8(ascii: "/"), UInt8(ascii: "?"):
                    if !inQuery {
                        if segment > 0 && segment == dots && dots <= 2 { return nil }   // "." or ".."
                        segment = 0; dots = 0
                        if c == UInt8(ascii: "?") { inQuery = true }
                    }
                default:
                    return nil
                }
                i += 1
            }
            if !inQuery && segment > 0 && segment == dots && dots <= 2 { return nil }
            if b[n - 1] == UInt8(ascii: "?") { return nil }   // curl drops an empty query
            let host = String(decoding: UnsafeBufferPointer(rebasing: b[hostStart..<hostEnd]), as: UTF8.self)
            let full = String(decoding: b, as: UTF8.self)
            return FetchURL(full: full, display: full, scheme: https ? "https" : "http", host: host, port: port)
        }
    }

    /// Four decimal numbers 0–255 without leading zeros.
    private static func canonicalDottedQuad(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        var value = 0, digits = 0, first: UInt8 = 0
        var i = start
        while i <= end {
            if i == end || b[i] == UInt8(ascii: ".") {
                guard digits > 0, digits <= 3, value <= 255, !(digits > 1 && first == 0x30) else { return false }
                value = 0; digits = 0
            } else {
                if digits == 0 { first = b[i] }
                value = value * 10 + Int(b[i] - 0x30); digits += 1
            }
            i += 1
        }
        return true
    }

    private static func part(_ u: OpaquePointer, _ what: CURLUPart, _ flags: Int32 = 0) -> String? {
        var p: UnsafeMutablePointer<CChar>? = nil
        guard curl_url_get(u, what, &p, UInt32(flags)) == CURLUE_OK, let p else { return nil }
        defer { curl_free(p) }
        return String(cString: p)
    }

    private static func from(_ u: OpaquePointer) -> Result<FetchURL, FetchError> {
        guard let scheme = part(u, CURLUPART_SCHEME)?.lowercased() else {
            return .failure(FetchError(.invalidURL, "no scheme"))
        }
        guard allowedSchemes.contains(scheme) else {
            return .failure(FetchError(.protocolDenied, "scheme '\(scheme)' is not allowed (http, https only)"))
        }
        guard var host = part(u, CURLUPART_HOST), !host.isEmpty else {
            return .failure(FetchError(.invalidURL, "no host"))
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        host = host.lowercased()
        if !IPAddress.isIPv4(host) && !IPAddress.isIPv6(host) {
            if case let .failure(e) = HostName.validate(host) { return .failure(FetchError(.invalidURL, "host: \(e.message)")) }
        }
        let port = part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT).flatMap { Int($0) } ?? (scheme == "https" ? 443 : 80)
        // The fragment is never sent.
        curl_url_set(u, CURLUPART_FRAGMENT, nil, 0)
        guard let full = part(u, CURLUPART_URL) else { return .failure(FetchError(.invalidURL, "cannot rebuild URL")) }
        // Without an "@" there is no userinfo to take out: the display form is the same.
        var display = full
        if full.containsByte(UInt8(ascii: "@")) {
            curl_url_set(u, CURLUPART_USER, nil, 0)
            curl_url_set(u, CURLUPART_PASSWORD, nil, 0)
            display = part(u, CURLUPART_URL) ?? full
        }
        return .success(FetchURL(full: full, display: display, scheme: scheme, host: host, port: port))
    }
}
