import Glibc

/// Which discovered URLs the crawl follows: the scope the seeds define, the
/// `--include`/`--exclude` patterns, and the trap guards. Hub-confined.
final class CrawlScope {
    let kind: CrawlConfiguration.Scope
    private var hosts: Set<String> = []
    private var domains: Set<String> = []
    /// origin → path prefixes.
    private var prefixes: [String: [String]] = [:]
    private let include: [UnsafeMutablePointer<regex_t>]
    private let exclude: [UnsafeMutablePointer<regex_t>]
    private let configuration: CrawlConfiguration

    /// Compiles the patterns; a bad one is reported with regerror's message.
    init(_ configuration: CrawlConfiguration) throws(CrawlScopeError) {
        self.configuration = configuration
        self.kind = configuration.scope
        func compile(_ patterns: [String]) throws(CrawlScopeError) -> [UnsafeMutablePointer<regex_t>] {
            var out: [UnsafeMutablePointer<regex_t>] = []
            for p in patterns {
                let re = UnsafeMutablePointer<regex_t>.allocate(capacity: 1)
                let rc = regcomp(re, p, REG_EXTENDED | REG_NOSUB)
                if rc != 0 {
                    var buf = [CChar](repeating: 0, count: 256)
                    regerror(rc, re, &buf, buf.count)
                    re.deallocate()
                    for r in out { regfree(r); r.deallocate() }
                    throw CrawlScopeError(pattern: p, message: String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                }
                out.append(re)
            }
            return out
        }
        include = try compile(configuration.include)
        do { exclude = try compile(configuration.exclude) } catch {
            for r in include { regfree(r); r.deallocate() }
            throw error
        }
    }

    deinit {
        for r in include + exclude { regfree(r); r.deallocate() }
    }

    /// A seed widens the scope.
    func addSeed(_ url: CrawlURL) {
        switch kind {
        case .host: hosts.insert(url.hostForConnect)
        case .domain: domains.insert(PublicSuffix.registrableDomain(url.hostForConnect))
        case .prefix:
            let path = url.path
            let dir = path.lastIndex(of: "/").map { String(path[...$0]) } ?? "/"
            prefixes[url.origin, default: []].append(dir)
        case .any: break
        }
    }

    /// Whether `url` is inside the seeds' scope (patterns not included).
    func inScope(_ url: CrawlURL) -> Bool {
        switch kind {
        case .host: return hosts.contains(url.hostForConnect)
        case .domain: return domains.contains(PublicSuffix.registrableDomain(url.hostForConnect))
        case .prefix:
            guard let list = prefixes[url.origin] else { return false }
            let path = url.path
            return list.contains { path.hasPrefix($0) }
        case .any: return true
        }
    }

    /// Whether `--include` or `--exclude` was given (else ``filteredOut(_:)`` is always false).
    var hasPatterns: Bool { !include.isEmpty || !exclude.isEmpty }

    /// `--exclude` matched, or some `--include` was given and none matched.
    func filteredOut(_ text: String) -> Bool {
        for r in exclude where regexec(r, text, 0, nil, 0) == 0 { return true }
        if include.isEmpty { return false }
        for r in include where regexec(r, text, 0, nil, 0) == 0 { return false }
        return true
    }

    /// The trap guard that rejects `url`, if any: over-long URLs, a path segment repeated
    /// too often, too many query parameters.
    func trapGuard(_ url: CrawlURL) -> String? {
        if url.displayUTF8Count > configuration.maxURLLength { return "url_length" }
        // Only a path with more segments than the limit can repeat one too often.
        if url.pathSlashCount > configuration.maxRepeatedSegments {
            var counts: [Substring: Int] = [:]
            for segment in url.path.split(separator: "/") {
                let n = (counts[segment] ?? 0) + 1
                if n > configuration.maxRepeatedSegments { return "repeated_segments" }
                counts[segment] = n
            }
        }
        if url.queryParameterCount > configuration.maxQueryParams { return "query_params" }
        return nil
    }
}

@available(*, unavailable)
extension CrawlScope: Sendable {}

public struct CrawlScopeError: Error, CustomStringConvertible {
    public var pattern: String
    public var message: String
    public var description: String { "bad pattern '\(pattern)': \(message)" }
}
