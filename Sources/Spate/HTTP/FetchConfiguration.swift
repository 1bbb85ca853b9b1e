/// How `spate fetch` fetches. Every knob is separate (concurrency, per-host, rate, retries,
/// timeouts), as users of massdns, curl and httpx expect.
public struct FetchConfiguration: Sendable {
    public enum HTTPVersion: Sendable {
        /// HTTP/2 over TLS when the server offers it (ALPN), HTTP/1.1 otherwise.
        case automatic
        case http1_1
        /// HTTP/2, with prior knowledge for cleartext http://.
        case http2

        var curlValue: Int {
            switch self {
            case .automatic: Int(CURL_HTTP_VERSION_2TLS_VALUE)
            case .http1_1: Int(CURL_HTTP_VERSION_1_1_VALUE)
            case .http2: Int(CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE_VALUE)
            }
        }
    }

    public var concurrency = 100
    /// Transfers (and connections) per scheme+host+port.
    public var perHost = 6
    public var followRedirects = false
    public var maxRedirects = 10
    /// Extra tries after the first, with exponential back-off and jitter.
    public var retries = 0
    /// Upper bound for one wait between tries, `Retry-After` included (seconds).
    public var retryMaxWait = 30.0
    public var connectTimeout = 10.0
    /// Per transfer (per hop), seconds.
    public var maxTime = 30.0
    public var method = "GET"
    /// "Name: value" lines.
    public var headers: [String] = []
    public var body: [UInt8]? = nil
    public var userAgent = "spate/0.2 (+https://github.com/spate/spate)"
    public var proxy: String? = nil
    /// Decoded body bytes allowed; over it the transfer fails with `body_too_large`.
    public var maxBody = 10 << 20
    public var saveDirectory: String? = nil
    public var includeHeaders = false
    public var httpVersion = HTTPVersion.automatic
    public var caCert: String? = nil
    public var insecure = false
    /// Scheme for lines without one ("example.org" → "https://example.org/").
    public var defaultScheme = "https"
    /// When set, every exchange that got a response is archived: its `request` and `response`
    /// records, raw, as they crossed the wire (README, "WARC output"). Fixed for the life of a
    /// ``Fetcher``: curl's handles are configured for it once.
    public var warc: WARCWriter? = nil

    public init() {}
}

import CSpate

// curl's CURL_HTTP_VERSION_* are an anonymous enum; spelled once here.
let CURL_HTTP_VERSION_1_1_VALUE = CURL_HTTP_VERSION_1_1
let CURL_HTTP_VERSION_2TLS_VALUE = CURL_HTTP_VERSION_2TLS
let CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE_VALUE = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
