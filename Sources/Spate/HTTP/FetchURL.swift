import CSpate

/// A URL as spate fetches it, parsed and normalised by libcurl's URL API (the same parser
/// the transfer will use, so spate and curl never disagree about a URL).
public struct FetchURL: Sendable, Hashable, CustomStringConvertible {
    /// The full URL for the request (with userinfo, if any).
    public let full: String
    /// The URL without userinfo: what records show.
    public let display: String
    public let scheme: String
    /// Host as in the URL (IPv6 without brackets), lowercased.
    public let host: String
    public let port: Int
    /// The per-host key: scheme, host and port (made once: the gates, the hub choice and the
    /// crawler ask for it several times per transfer).
    public let origin: String

    public init(full: String, display: String, scheme: String, host: String, port: Int) {
        self.full = full
        self.display = display
        self.scheme = scheme
        self.host = host
        self.port = port
        origin = scheme + "://" + (host.utf8.contains(UInt8(ascii: ":")) ? "[" + host + "]" : host) + ":" + String(port)
    }

    public var description: String { display }
    public var hostIsLiteral: Bool { IPAddress.isIPv4(host) || IPAddress.isIPv6(host) }

    /// Removes `user:password@` from the authority of a URL-like string, valid or not.
    public static func redactUserinfo(_ text: String) -> String {
        guard text.utf8.contains(UInt8(ascii: "@")) else { return text }
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
        if text.utf8.contains(0) { return .failure(FetchError(.invalidURL, "URL contains a NUL byte")) }
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
        guard let u = curl_url() else { return .failure(FetchError(.internal, "curl_url failed")) }
        defer { curl_url_cleanup(u) }
        let rc = curl_url_set(u, CURLUPART_URL, text, UInt32(CURLU_NON_SUPPORT_SCHEME))
        guard rc == CURLUE_OK else {
            return .failure(FetchError(.invalidURL, "\(String(cString: curl_url_strerror(rc)))"))
        }
        return from(u)
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
        if full.utf8.contains(UInt8(ascii: "@")) {
            curl_url_set(u, CURLUPART_USER, nil, 0)
            curl_url_set(u, CURLUPART_PASSWORD, nil, 0)
            display = part(u, CURLUPART_URL) ?? full
        }
        return .success(FetchURL(full: full, display: display, scheme: scheme, host: host, port: port))
    }
}
