/// How `spate crawl` crawls. Fetch knobs (timeouts, headers, TLS, body cap) live in the
/// ``FetchConfiguration`` the crawler's ``Fetcher`` was started with.
public struct CrawlConfiguration: Sendable {
    public enum Scope: String, Sendable, CaseIterable {
        /// The seeds' hosts (any scheme and port).
        case host
        /// The seeds' registrable domains (Public Suffix List): www.example.org and
        /// docs.example.org are one site; example.co.uk and other.co.uk are not.
        case domain
        /// Below each seed's directory: https://h/docs/a.html → https://h/docs/…
        case prefix
        /// Everything (still bounded by depth, page limits and the trap guards).
        case any
    }

    // Admission
    public var concurrency = 100
    /// Requests started per second, globally; 0 = unlimited.
    public var rate = 0.0
    public var joinTimeout: Double? = nil
    public var jobTimeout: Double? = nil
    public var ordered = false
    public var includeSource = false

    // Politeness
    /// Connections (requests in flight) per scheme+host+port.
    public var perHost = 4
    /// Seconds between request starts on one host; robots Crawl-delay may raise it.
    public var delay = 0.0
    /// The largest Crawl-delay and Retry-After honoured (seconds).
    public var maxCrawlDelay = 30.0
    public var ignoreRobots = false
    /// The robots.txt product token (from `--user-agent`: "spate/0.2 (…)" → "spate").
    public var productToken = "spate"
    /// Tries after a retryable failure or 429/503, re-queued with back-off.
    public var retries = 2
    /// Consecutive failures after which a host is given up (circuit breaker).
    public var maxHostErrors = 10

    // Scope and limits
    public var scope = Scope.host
    /// POSIX extended regular expressions matched against discovered URLs.
    public var include: [String] = []
    public var exclude: [String] = []
    public var maxDepth: Int? = nil
    public var maxPages: Int? = nil
    public var maxPagesPerHost = 1_000_000
    public var sortQuery = false
    public var followNofollow = false

    // Trap guards
    public var maxURLLength = 2083
    /// A path segment repeated more often than this (…/a/b/a/b/a/b/a/…) is a trap.
    public var maxRepeatedSegments = 3
    public var maxQueryParams = 32

    // Extraction and output
    public var extraction = LinkExtractionOptions()
    /// Write the extracted links in each record (`--links`).
    public var recordLinks = false
    /// Read the sitemaps robots.txt lists (`Sitemap:` lines).
    public var sitemapsFromRobots = true
    /// Sitemaps to read from the start (`--sitemap URL`).
    public var sitemaps: [String] = []

    public init() {}
}

/// The product token of a User-Agent: its leading run of letters, '-' and '_'
/// ("spate/0.2 (+https://…)" → "spate"), as RFC 9309 matches groups.
public func robotsProductToken(_ userAgent: String) -> String {
    let token = userAgent.utf8.prefix { b in
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
    }
    return token.isEmpty ? "spate" : String(decoding: token, as: UTF8.self)
}
