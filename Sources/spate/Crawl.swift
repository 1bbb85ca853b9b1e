import ArgumentParser
import Foundation
import Spate

extension CrawlConfiguration.Scope: ExpressibleByArgument {}

struct Crawl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Crawl from seed URLs: polite (robots.txt, per-host slots and delays), trap-proof, deduplicated.",
        discussion: """
        Seeds are lines of the input files (or stdin), or URLs given as arguments. One job per
        fetched URL, one record per job: every seed line and every new in-scope link becomes
        a record (fetched, failed, denied by robots.txt, or given up with its host). Links
        that are not followed (out of scope, already seen, over a limit, a trap guard) are
        counted in the summary and, with --links, shown on the page's record.
        """
    )

    @OptionGroup var run: RunOptions
    @OptionGroup var dns: DNSOptions
    @OptionGroup var warc: WARCOptions
    @OptionGroup var hubs: HubOptions
    @Option(name: .long, help: ArgumentHelp(
        "Run the hubs after the first this much nicer (lower CPU priority) than the process, so the first, which runs the crawler, goes first; 0 = alike; 0...19, capped at nice 19.",
        valueName: "n"))
    var helperHubNice: Int32 = 10

    @Option(name: .long, help: "Follow links this many hops from a seed at most (default: no limit).") var maxDepth: Int?
    @Option(name: .long, help: "Admit at most this many URLs (seeds included) in all.") var maxPages: Int?
    @Option(name: .long, help: "Trap guard: URLs admitted per host at most.") var maxPagesPerHost = 1_000_000
    @Option(name: .long, help: "host (the seeds' hosts), domain (their registrable domains), prefix (below each seed's directory), any.")
    var scope = CrawlConfiguration.Scope.host
    @Option(name: .long, help: "Follow only discovered URLs matching this POSIX extended regex (repeatable).") var include: [String] = []
    @Option(name: .long, help: "Do not follow discovered URLs matching this POSIX extended regex (repeatable).") var exclude: [String] = []
    @Option(name: .long, help: "Requests in flight per scheme+host+port.") var perHost = 4
    @Option(name: .long, help: "Seconds between request starts on one host (robots.txt Crawl-delay may raise it).") var delay = 0.0
    @Option(name: .long, help: "Largest Crawl-delay and Retry-After honoured, in seconds.") var maxCrawlDelay = 30.0
    @Flag(name: .long, help: "Do not fetch or obey robots.txt.") var ignoreRobots = false
    @Option(name: .long, help: "User-Agent header; its product token (e.g. 'spate') selects the robots.txt group.") var userAgent: String?
    @Flag(name: .long, help: "Write each page's extracted links (url, tag, attribute, rel, nofollow, in_scope, status).") var links = false
    @Flag(name: .long, help: "Also follow img/script/source/video/audio/embed src and srcset.") var assets = false
    @Flag(name: .long, help: "Also follow GET form actions.") var forms = false
    @Flag(name: .long, help: "Follow rel=nofollow links and pages marked nofollow too.") var followNofollow = false
    @Flag(name: .long, help: "Sort query parameters in the dedupe key.") var sortQuery = false
    @Option(name: .long, help: "Tries after a retryable failure or 429/503 (re-queued with back-off).") var retries = 2
    @Option(name: .long, help: "Give up a host after this many consecutive failures (each queued URL gets a record).") var maxHostErrors = 10
    @Option(name: .long, help: "Trap guard: longest URL followed.") var maxURLLength = 2083
    @Option(name: .long, help: "Trap guard: times one path segment may repeat.") var maxRepeatedSegments = 3
    @Option(name: .long, help: "Trap guard: query parameters at most.") var maxQueryParams = 32
    @Option(name: .long, help: "Trap guard: links taken from one page at most.") var maxOutlinks = 1000
    @Option(name: .long, help: "Connect timeout in seconds.") var connectTimeout = 10.0
    @Option(name: .long, help: "Time limit per request in seconds.") var maxTime = 30.0
    @Option(name: [.customShort("H"), .long], help: "Request header 'Name: value' (repeatable).") var header: [String] = []
    @Option(name: .long, help: "Largest decoded body in bytes; over it the page fails with body_too_large.") var maxBody = 10 << 20
    @Flag(name: .long, help: "Include the response headers in value.headers.") var headers = false
    @Flag(name: .customLong("http1.1"), help: "HTTP/1.1 only.") var http11 = false
    @Flag(name: .long, help: "HTTP/2 (prior knowledge for http://).") var http2 = false
    @Option(name: .long, help: "CA bundle to verify servers with.") var cacert: String?
    @Flag(name: [.customShort("k"), .long], help: "Do not verify TLS certificates.") var insecure = false
    @Option(name: .long, help: "Proxy URL.") var proxy: String?
    @Flag(name: .long, help: "Do not read the sitemaps robots.txt lists.") var noSitemaps = false
    @Option(name: .long, help: "Read this sitemap (XML urlset or index, gzip'd or not, or plain text) from the start (repeatable).")
    var sitemap: [String] = []
    @Option(name: .long, help: "Keep a crash-safe journal of the crawl in this directory; the same command resumes it (after Ctrl-C, kill -9, a full disk).")
    var state: String?
    @Option(name: .long, help: "With --state: seconds between checkpoints (journal and records fsync'd; records are written at checkpoints).")
    var syncInterval = 1.0

    func validate() throws {
        guard perHost >= 1 else { throw ValidationError("--per-host must be at least 1") }
        guard (0...19).contains(helperHubNice) else { throw ValidationError("--helper-hub-nice must be 0...19") }
        guard delay >= 0, maxCrawlDelay >= 0 else { throw ValidationError("delays must not be negative") }
        guard retries >= 0, maxHostErrors >= 1, maxBody >= 0 else { throw ValidationError("bad limit") }
        guard maxURLLength >= 16, maxRepeatedSegments >= 1, maxQueryParams >= 0, maxOutlinks >= 0, maxPagesPerHost >= 1 else {
            throw ValidationError("trap guard limits out of range")
        }
        if let d = maxDepth, d < 0 { throw ValidationError("--max-depth must not be negative") }
        if let p = maxPages, p < 1 { throw ValidationError("--max-pages must be at least 1") }
        guard connectTimeout > 0, maxTime > 0 else { throw ValidationError("timeouts must be positive") }
        guard !(http11 && http2) else { throw ValidationError("--http1.1 and --http2 exclude each other") }
        guard !run.ordered else { throw ValidationError("--ordered is not supported by crawl (records follow the crawl)") }
        for h in header where !h.contains(":") { throw ValidationError("header '\(h)' is not 'Name: value'") }
        for s in sitemap {
            guard case .success = CrawlURL.parse(s), s.hasPrefix("http://") || s.hasPrefix("https://") else {
                throw ValidationError("--sitemap '\(s)' is not an http(s) URL")
            }
        }
        guard syncInterval > 0 else { throw ValidationError("--sync-interval must be positive") }
    }

    /// What makes a crawl the same crawl, for `--state`: its seeds, scope, filters, limits and
    /// what its records hold. Concurrency, delays, timeouts and retries may change between runs.
    func identity(literalSeeds: [String], seedFiles: [String], productToken: String) -> [(String, String)] {
        let cwd = FileManager.default.currentDirectoryPath
        let files = seedFiles.map { $0 == "-" ? "-" : ($0.hasPrefix("/") ? $0 : cwd + "/" + $0) }
        return [
            ("seed_urls", literalSeeds.joined(separator: " ")),
            ("seed_files", files.joined(separator: " ")),
            ("scope", "\(scope)"),
            ("include", include.joined(separator: " ")),
            ("exclude", exclude.joined(separator: " ")),
            ("max_depth", maxDepth.map(String.init) ?? "none"),
            ("max_pages", maxPages.map(String.init) ?? "none"),
            ("max_pages_per_host", String(maxPagesPerHost)),
            ("robots", ignoreRobots ? "ignored" : "obeyed as " + productToken),
            ("follow", "assets=\(assets) forms=\(forms) nofollow=\(followNofollow)"),
            ("sort_query", String(sortQuery)),
            ("guards", "url_length=\(maxURLLength) repeated_segments=\(maxRepeatedSegments) query_params=\(maxQueryParams) outlinks=\(maxOutlinks)"),
            ("records", "links=\(links) headers=\(headers)"),
            ("sitemaps", (noSitemaps ? "not from robots.txt" : "from robots.txt") + (sitemap.isEmpty ? "" : "; " + sitemap.joined(separator: " "))),
        ]
    }

    func run() async throws {
        var f = FetchConfiguration()
        f.concurrency = run.concurrency
        f.perHost = perHost
        f.followRedirects = false
        f.retries = 0
        f.connectTimeout = connectTimeout
        f.maxTime = maxTime
        f.headers = header
        if let userAgent { f.userAgent = userAgent }
        f.proxy = proxy
        f.maxBody = maxBody
        f.includeHeaders = headers
        f.httpVersion = http11 ? .http1_1 : (http2 ? .http2 : .automatic)
        f.caCert = cacert
        f.insecure = insecure

        var c = CrawlConfiguration()
        let batch = run.batchOptions
        c.concurrency = batch.concurrency
        c.rate = batch.rate
        c.joinTimeout = batch.joinTimeout
        c.jobTimeout = batch.jobTimeout
        c.perHost = perHost
        c.delay = delay
        c.maxCrawlDelay = maxCrawlDelay
        c.ignoreRobots = ignoreRobots
        c.productToken = robotsProductToken(f.userAgent)
        c.retries = retries
        c.maxHostErrors = maxHostErrors
        c.scope = scope
        c.include = include
        c.exclude = exclude
        c.maxDepth = maxDepth
        c.maxPages = maxPages
        c.maxPagesPerHost = maxPagesPerHost
        c.sortQuery = sortQuery
        c.followNofollow = followNofollow
        c.maxURLLength = maxURLLength
        c.maxRepeatedSegments = maxRepeatedSegments
        c.maxQueryParams = maxQueryParams
        c.extraction.assets = assets
        c.extraction.forms = forms
        c.extraction.maxLinks = maxOutlinks
        c.recordLinks = links
        c.sitemapsFromRobots = !noSitemaps && !ignoreRobots
        c.sitemaps = sitemap

        // Arguments that are URLs (and not files) are seeds themselves, read first.
        let inputs = try run.inputs()
        defer { withExtendedLifetime(inputs.arguments) {} }
        var paths = inputs.paths
        var names = inputs.names
        let literal = inputs.literal
        // Only --sitemap: no seed list, and no waiting for stdin.
        if paths.isEmpty && !sitemap.isEmpty {
            paths = ["/dev/null"]
            names = ["<none>"]
        }
        c.includeSource = paths.count > 1

        // --state: open (or resume) before anything runs; a directory of another crawl is refused.
        var crawlState: CrawlState? = nil
        var outputFD: Int32 = 1
        if let state {
            do {
                crawlState = try CrawlState.open(
                    directory: state, identity: identity(literalSeeds: literal, seedFiles: literal.isEmpty && run.files.isEmpty ? ["-"] : run.files.filter { !literal.contains($0) },
                                                         productToken: c.productToken),
                    outputPath: run.output)
            } catch {
                StandardError.write("spate crawl: --state: \(error)\n")
                throw ExitCode(ExitStatus.usage.rawValue)
            }
            if let r = crawlState?.resumeSummary, !run.quiet {
                StandardError.write("spate crawl: \(r)\n")
            }
        }

        let (reader, hub, resolver) = try await Runner.start(
            files: paths, names: names, dns: try dns.configuration(concurrency: run.concurrency, hostsFile: true))
        // Only once the inputs and the resolver are ready (see resolve); with --state the
        // output belongs to the crawl's state.
        if crawlState == nil { outputFD = try run.openOutput(else: hub) }
        do {
            // With --state the WARC series continues across runs (never replaced).
            f.warc = try warc.open(command: "spate crawl", info: [WARCWriter.Field("robots", ignoreRobots ? "ignore" : "obey")],
                                   continuing: state != nil)
            if let note = f.warc?.continuation?.summary, !run.quiet {
                StandardError.write("spate crawl: \(note)\n")
            }
        } catch {
            hub.shutdown()
            throw error
        }
        let crawler: Crawler
        // The first hub also carries the crawler: the others give way to it (FetcherGroup.start).
        let fetchers = try await hubs.startFetchers(home: hub, resolver: resolver, configuration: f, concurrency: run.concurrency,
                                                    helperNice: helperHubNice)
        do {
            crawler = try Crawler(fetchers: fetchers, configuration: c, reader: reader, outputFD: outputFD,
                                  state: crawlState, syncInterval: syncInterval)
        } catch {
            fetchers.shutdown()
            hub.shutdown()
            throw ValidationError("\(error)")
        }
        let status = await Runner.supervise(crawler, hub: hub, command: "spate crawl", unit: "pages", quiet: run.quiet,
                                            interrupt: { crawler.stop(.interrupted) }, run: { await crawler.run() })
        fetchers.shutdown()
        if let state {
            if crawler.stoppedBecause == .outputClosed {
                // A closed pipe ends the run quietly (exit 141); the journal stays consistent.
            } else if let failure = crawler.stateFailure {
                StandardError.write(("spate crawl: --state: \(failure). The journal is consistent up to its last "
                    + "checkpoint: make room and run the same command to resume.\n"))
            } else if crawler.stoppedBecause == .interrupted || crawler.stoppedBecause == .joinTimeout {
                StandardError.write(("spate crawl: stopped; \(state) keeps the crawl's unfinished URLs: "
                    + "run the same command to resume.\n"))
            }
        }
        throw ExitCode(WARCOptions.close(f.warc, command: "spate crawl", status: status.rawValue))
    }
}
