import Foundation
import Glibc
import Synchronization

/// The crawl engine: seeds in, one record per admitted URL out.
///
/// An actor on the hub's executor, like ``Fetcher``: the frontier, the seen-set and the
/// per-host state are hub state. A page is a job without a task of its own when its
/// transfer can start at once (``Fetcher/fetch(_:overrides:handle:)``; robots.txt, sitemaps
/// and pages that must wait for DNS or a slot get one): its transfer completes into its
/// ``PageFetch``, and the page is finished on this hub's next turn, with the others that
/// completed meanwhile (the other hubs hand theirs over in one batch a turn,
/// ``Hub/post(to:_:)``), so that the next pages' requests leave together. Every URL
/// the crawler admits (a seed line, or a new in-scope link that passed the guards) gets a
/// job number and ends as exactly one record: fetched, failed, declined (robots.txt,
/// duplicate seed), given up with its host, or unfinished at a stop. Links that are not
/// admitted (out of scope, already seen, over a limit, caught by a trap guard) are not
/// jobs; the summary counts them, and `--links` shows each one's fate.
public actor Crawler {
    public nonisolated let hub: Hub
    /// The fetchers, one per hub; the crawler lives on the first one's hub. Pages are fetched
    /// and their links extracted on every hub; the frontier's work is done here.
    public nonisolated let fetchers: FetcherGroup
    public nonisolated var fetcher: Fetcher { fetchers.home }
    public nonisolated let configuration: CrawlConfiguration
    public nonisolated var unownedExecutor: UnownedSerialExecutor { hub.asUnownedSerialExecutor() }
    public nonisolated let startedAt = monotonicNanos()

    private nonisolated let sink: any RecordEmitter
    /// `--state`: the journal and what this run resumes from.
    private nonisolated let state: CrawlState?
    private nonisolated let durable: DurableSink?
    private nonisolated let feed: SeedFeed
    private nonisolated let shared = Mutex(Shared())

    /// What other threads read (the reporter, the seed reader).
    private struct Shared {
        var stats = RunStatistics()
        var inFlight = 0
        var stopReason: StopReason? = nil
        var outputErrno: Int32 = 0
        var stateFailure: DurableSink.Failure? = nil
    }

    private struct Running {
        var entry: FrontierEntry
        var host: HostState
        var fetch: PageFetch?
        var startedAt: UInt64
        var robots: JSONValue
        var timer: HubTimer?
        var deadlineHit = false
        /// The fetcher (hub) the page is fetched on.
        var hubIndex = 0
    }

    private let frontier: CrawlFrontier
    private let seen: SeenSet
    private let scope: CrawlScope
    private var inflight: [Int: Running] = [:]
    private var nextJob = 0
    private var admittedPages = 0
    /// Page readers whose pages are done (their tokenizer's and collector's buffers reused).
    private var readers: [PageReader] = []
    /// ``CrawlURL/plainPathLink(_:scratch:)``'s buffer, reused for every link.
    private var linkScratch: [UInt8] = []
    private var wakeTimer: HubTimer? = nil
    private var wakeAt: UInt64 = 0
    private var nextDue: UInt64 = 0
    private var stopped: StopReason? = nil
    private var completion: CheckedContinuation<Void, Never>? = nil
    private var seedsDone = false
    private static let robotsMaxAge: UInt64 = 24 * 3600 * 1_000_000_000
    private static let robotsBytes = 512 * 1024

    /// `reader` yields the seed lines; records go to `outputFD`, or with `state` to its
    /// output file (or `outputFD` when it has none) at checkpoints every `syncInterval` s.
    public init(fetchers: FetcherGroup, configuration: CrawlConfiguration, reader: LineReader,
                outputFD: Int32 = 1, state: CrawlState? = nil, syncInterval: Double = 1) throws(CrawlScopeError) {
        let fetcher = fetchers.home
        self.hub = fetcher.hub
        self.fetchers = fetchers
        self.configuration = configuration
        self.scope = try CrawlScope(configuration)
        self.frontier = MemoryFrontier(perHost: configuration.perHost, delay: configuration.delay)
        self.seen = state?.seen ?? FingerprintSet()
        self.state = state
        self.feed = SeedFeed(reader: reader, highWater: max(1000, 2 * configuration.concurrency),
                             skip: state?.resume.seedsTaken ?? 0)
        let box = CrawlerBox()
        if let state {
            let fd = state.outputFD >= 0 ? state.outputFD : outputFD
            let durable = DurableSink(journal: state.journal, outputFD: fd, isFile: state.outputFD >= 0, offset: state.outputOffset,
                                      interval: syncInterval, warc: fetcher.configuration.warc) { failure in
                box.crawler?.stateFailed(failure)
            }
            self.durable = durable
            self.sink = durable
        } else {
            self.durable = nil
            self.sink = RecordSink(fd: outputFD, ordered: configuration.ordered) { err in
                box.crawler?.stop(err == EPIPE ? .outputClosed : .outputFailed, errno: err)
            }
        }
        box.crawler = self
    }

    /// The state directory could not be written (a full disk…): stop; the journal is
    /// consistent up to its last checkpoint.
    private nonisolated func stateFailed(_ failure: DurableSink.Failure) {
        let err: Int32
        switch failure {
        case let .journal(e), let .output(e), let .warc(e): err = e
        }
        shared.withLock { $0.stateFailure = failure }
        stop(err == EPIPE ? .outputClosed : .outputFailed, errno: err)
    }

    /// Why the state could not be written, if it could not.
    public nonisolated var stateFailure: String? {
        guard let f = shared.withLock({ $0.stateFailure }) else { return nil }
        switch f {
        case let .journal(e): return "writing the journal in \(state?.directory ?? ""): \(String(cString: strerror(e)))"
        case let .output(e): return "writing records to \(state?.outputPath ?? "stdout"): \(String(cString: strerror(e)))"
        case let .warc(e): return "syncing the WARC archive: \(String(cString: strerror(e)))"
        }
    }

    // MARK: - Running

    /// Crawls until every admitted URL has its record, or the run stops.
    public func run() async {
        var joinTimer: Task<Void, Never>? = nil
        if let t = configuration.joinTimeout {
            joinTimer = Task.detached { [self] in
                try? await Task.sleep(nanoseconds: nanoseconds(seconds: t))
                if !Task.isCancelled { stop(.joinTimeout) }
            }
        }
        durable?.start()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            completion = c
            restore()
            sitemapSeeds()
            feed.start { [self] line in
                hub.execute { self.assumeIsolated { $0.seed(line) } }
            } done: { [self] in
                hub.execute { self.assumeIsolated { $0.seedsFinished() } }
            }
        }
        joinTimer?.cancel()
        if let durable {
            durable.finish(complete: stopped == nil && feed.readToEnd && feed.readError == nil)
        } else {
            sink.flush(wait: true)
        }
    }

    /// Stops admitting; running fetches are written as unfinished, queued URLs (and, for
    /// regular files, seed lines not yet read) as not started. Callable from any thread.
    public nonisolated func stop(_ reason: StopReason, errno err: Int32 = 0) {
        let first = shared.withLock { s -> Bool in
            if s.stopReason != nil { return false }
            s.stopReason = reason
            if reason == .outputClosed || reason == .outputFailed { s.outputErrno = err }
            return true
        }
        guard first else { return }
        // With --state, unread seed lines stay for the next run (the journal counts them).
        feed.stop(drain: (reason == .interrupted || reason == .joinTimeout) && state == nil)
        hub.execute { self.assumeIsolated { $0.stopOnHub(reason) } }
    }

    private func stopOnHub(_ reason: StopReason) {
        guard stopped == nil else { return }
        stopped = reason
        if let t = wakeTimer { hub.cancel(t); wakeTimer = nil }
        // With --state, unfinished jobs get no record: they stay pending in the journal, and
        // the same command fetches them.
        let writeRecords = reason != .outputClosed && reason != .outputFailed && state == nil
        let running = inflight.sorted { $0.key < $1.key }
        inflight.removeAll()
        for (_, r) in running {
            r.fetch?.cancel()
            if let t = r.timer { hub.cancel(t) }
            count { $0.unfinishedRunning += 1 }
            if writeRecords { emit(r.entry, unfinishedRecord(r.entry, started: true, reason: reason, robots: r.robots)) }
        }
        for e in frontier.drainAll() {
            count { $0.unfinishedNotStarted += 1 }
            if writeRecords { emit(e, unfinishedRecord(e, started: false, reason: reason, robots: .null)) }
        }
        publishLoad()
        checkCompletion()
    }

    private func seedsFinished() {
        seedsDone = true
        checkCompletion()
    }

    private func checkCompletion() {
        guard let c = completion else { return }
        let seedsOver = seedsDone || (stopped != nil && !feed.drains)
        guard seedsOver, inflight.isEmpty, stopped != nil || frontier.pending == 0 else { return }
        completion = nil
        c.resume()
    }

    // MARK: - Seeds

    private func seed(_ line: InputLine) {
        feed.processed()
        defer { checkCompletion() }
        // With --state, a line read after a stop is left for the resumed run. Without, a line
        // from a pipe or terminal read after a stop is not a job (the input is not read to the
        // end, and the run does not wait for it: its record could come after the last flush);
        // lines of regular files are drained and get not-started records below.
        if stopped != nil && (state != nil || !feed.drains) { return }
        let job = nextJob
        nextJob += 1
        let placeholder = FrontierEntry(job: job, url: CrawlURL.placeholder, depth: 0, parent: nil, via: Discovery(.seed),
                                        canonical: "", input: line.text, source: line)
        count { $0.jobs += 1 }
        if stopped != nil {
            // Read after a stop (regular files are drained): never started.
            count { $0.unfinishedNotStarted += 1 }
            emit(placeholder, unfinishedRecord(placeholder, started: false, reason: stopped!, robots: .null))
            return
        }
        if let total = line.oversizedBytes {
            finishWithoutFetch(placeholder, type: FetchError.Code.invalidURL.rawValue, message: "line is \(total) bytes long",
                               journal: true)
            return
        }
        let url: CrawlURL
        switch Self.parseSeed(line.text) {
        case let .failure(.unsupportedScheme(s)):
            finishWithoutFetch(placeholder, type: FetchError.Code.protocolDenied.rawValue,
                               message: "scheme '\(s)' is not allowed (http, https only)", journal: true)
            return
        case let .failure(.invalid(reason)):
            finishWithoutFetch(placeholder, type: FetchError.Code.invalidURL.rawValue, message: reason, journal: true)
            return
        case let .success(u):
            url = u
        }
        let canonical = canonicalKey(url)
        placeholder.url = url
        placeholder.canonical = canonical
        scope.addSeed(url)
        let fingerprint = URLFingerprint.of(canonical)
        if !seen.insert(fingerprint) {
            finishWithoutFetch(placeholder, type: "duplicate", message: "already admitted (canonical \(canonical))", declined: true,
                               journal: true)
            return
        }
        admittedPages += 1
        journalAdmit(placeholder, fingerprint: fingerprint)
        enqueue(placeholder)
        pump()
    }

    /// A seed line: with "://" a URL; "mailto:x"-like lines keep their scheme (and are
    /// refused); anything else is a host or host/path for https://.
    static func parseSeed(_ text: String) -> Result<CrawlURL, CrawlURL.Failure> {
        if text.containsByte(0) { return .failure(.invalid("URL contains a NUL byte")) }
        if FetchURL.hasSchemeSeparator(text) || FetchURL.bareScheme(text) != nil { return CrawlURL.parse(text) }
        return CrawlURL.parse("https://" + text)
    }

    // MARK: - Admission

    /// The dedupe key: ``CrawlURL/canonical(sortQuery:)`` (rules v1) with session ids removed.
    private func canonicalKey(_ url: CrawlURL) -> String {
        String(decoding: dedupeKey(url).key, as: UTF8.self)
    }

    /// The dedupe key's bytes and fingerprint. Most links on a page are already seen: for
    /// them no String is made (the session-id rules need one only when the key has a query
    /// or a `;` parameter).
    private func dedupeKey(_ url: CrawlURL) -> (key: [UInt8], fingerprint: UInt64) {
        var key = url.canonicalUTF8(sortQuery: configuration.sortQuery)
        if key.contains(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: ";") }) {
            key = Array(SessionIDs.strip(String(decoding: key, as: UTF8.self)).utf8)
        }
        return (key, key.withUnsafeBufferPointer { URLFingerprint.xxh64($0) })
    }

    /// Queues an admitted entry on its host (`host`, when the caller has it already: an
    /// origin is a new string each time it is asked for); the host's robots.txt is
    /// scheduled first.
    private func enqueue(_ entry: FrontierEntry, host known: HostState? = nil) {
        let host = known ?? frontier.host(entry.url.origin)
        if frontier.hostCount != statsHosts {
            statsHosts = frontier.hostCount
            let n = statsHosts
            count { $0.hosts = n }
        }
        if host.dead {
            finishWithoutFetch(entry, type: "host_abandoned", message: host.deadReason)
            return
        }
        if case .unknown = host.robots {
            if configuration.ignoreRobots {
                host.robots = .ignored
            } else {
                scheduleRobots(host, like: entry.url)
            }
        }
        if case let .known(robots) = host.robots, !robotsAllows(entry, robots) { return }
        // The per-host guard counts URLs that will be requested (robots.txt-denied ones,
        // decided above when the rules are known, are not).
        host.admitted += 1
        frontier.push(entry, host: host, retry: false)
    }
    private var statsHosts = 0

    private func scheduleRobots(_ host: HostState, like url: CrawlURL) {
        guard case let .success(robotsURL) = CrawlURL.parse("/robots.txt", base: url) else { return }
        host.robots = .fetching
        let job = nextJob
        nextJob += 1
        count { $0.jobs += 1 }
        let e = FrontierEntry(job: job, url: robotsURL, depth: 0, parent: nil, via: Discovery(.robots),
                              canonical: canonicalKey(robotsURL), input: robotsURL.display)
        e.isRobots = true
        journalAdmit(e, fingerprint: nil)
        frontier.push(e, host: host, retry: false)
    }

    /// Checks `entry` against its host's rules; a denied entry gets its record here. The
    /// decision is kept for the record of the fetch that follows.
    private func robotsAllows(_ entry: FrontierEntry, _ robots: KnownRobots) -> Bool {
        let d = robots.rules.decide(entry.url.pathAndQuery)
        lastDecision = robots.json(d)
        if d.allowed { return true }
        if robots.unreachable {
            finishWithoutFetch(entry, type: "robots_unreachable",
                               message: "not fetched: \(robots.note) (RFC 9309: an unreachable robots.txt disallows everything)",
                               robots: lastDecision)
            return false
        }
        var message = "robots.txt disallows \(entry.url.pathAndQuery)"
        if let rule = d.rule { message += " (\(rule)" + (d.line.map { ", line \($0)" } ?? "") + ")" } else { message += " (\(robots.note))" }
        finishWithoutFetch(entry, type: "robots_denied", message: message, declined: true, robots: lastDecision)
        return false
    }
    /// The robots decision of the entry ``robotsAllows(_:_:)`` last allowed.
    private var lastDecision: JSONValue = .null

    static func robotsJSON(_ d: RobotsDecision, note: String) -> JSONValue {
        .object([("allowed", .bool(d.allowed)), ("rule", d.rule.map { .string($0) } ?? .null),
                 ("line", d.line.map { .int($0) } ?? .null), ("source", .string(note))])
    }

    // MARK: - Dispatch

    /// Starts fetches while there is room: global concurrency, `--rate`, and per host
    /// (slots, delay, robots) as the frontier decides.
    private func pump() {
        guard stopped == nil else { return }
        var now = monotonicNanos()
        let interval = configuration.rate > 0 ? max(1, nanoseconds(seconds: 1 / configuration.rate)) : 0
        while inflight.count < configuration.concurrency {
            if interval > 0 {
                if nextDue < now { nextDue = now }
                if nextDue > now { wake(at: nextDue); break }
            }
            guard let (entry, host) = frontier.next(now: now, admit: { e, h in self.admitAtDispatch(e, h) }) else { break }
            start(entry, host, now: now)
            if interval > 0 { nextDue += interval }
            now = monotonicNanos()
        }
        if let t = frontier.nextWake() { wake(at: t) }
        publishLoad()
        checkCompletion()
    }

    /// The last check before a queued entry's request: its host's robots.txt (which may
    /// have arrived, or expired, since it was queued).
    private func admitAtDispatch(_ entry: FrontierEntry, _ host: HostState) -> DispatchDecision {
        guard !entry.isRobots, case let .known(robots) = host.robots else {
            lastDecision = robotsField(entry, host)
            return .start
        }
        if monotonicNanos() &- robots.fetchedAt > Self.robotsMaxAge {
            // Cached for at most 24 hours: ask again before this page.
            scheduleRobots(host, like: entry.url)
            if case .fetching = host.robots { return .putBack }
            lastDecision = .null
            return .start
        }
        return robotsAllows(entry, robots) ? .start : .consumed
    }

    private func wake(at t: UInt64) {
        if wakeTimer != nil && wakeAt <= t { return }
        if let old = wakeTimer { hub.cancel(old) }
        wakeAt = t
        let now = monotonicNanos()
        wakeTimer = hub.schedule(afterNanos: t > now ? t - now : 0) { [self] in
            self.assumeIsolated { c in
                c.wakeTimer = nil
                c.pump()
            }
        }
    }

    private func robotsField(_ entry: FrontierEntry, _ host: HostState) -> JSONValue {
        if entry.isRobots { return .object([("consulted", .bool(false)), ("reason", .string("robots.txt itself"))]) }
        switch host.robots {
        case .ignored: return .object([("consulted", .bool(false)), ("reason", .string("--ignore-robots"))])
        case let .known(r): return r.json(r.rules.decide(entry.url.pathAndQuery))
        case .unknown, .fetching: return .null
        }
    }

    private func start(_ entry: FrontierEntry, _ host: HostState, now: UInt64) {
        let job = entry.job
        let reader = entry.isRobots || entry.isSitemap ? nil : (readers.popLast() ?? PageReader(options: configuration.extraction))
        let collector = entry.isRobots ? BodyCollector(limit: Self.robotsBytes) : nil
        let sitemap = entry.isSitemap ? SitemapConsumer() : nil
        // The host's key is the URL's origin (as FetchURL would make it again).
        assert(host.key == entry.url.origin, "an entry queued on another origin's host")
        let url = FetchURL(full: entry.url.requestURL, display: entry.url.display, scheme: entry.url.scheme,
                           host: entry.url.hostForConnect, port: entry.url.effectivePort, origin: host.key)
        var overrides = FetchOverrides()
        // Pages: redirects become new URLs (scope, robots and dedupe apply). robots.txt:
        // up to five redirects are followed (RFC 9309 §2.3.1.2); sitemaps too.
        overrides.followRedirects = entry.isRobots || entry.isSitemap
        overrides.maxRedirects = 5
        overrides.consumer = reader ?? collector ?? sitemap
        // A sitemap may be 50 MiB uncompressed (the protocol's limit; the reader stops there).
        if entry.isSitemap { overrides.maxBody = max(fetcher.configuration.maxBody, SitemapLimits().maxBytes) }
        var running = Running(entry: entry, host: host, fetch: nil, startedAt: now, robots: lastDecision, timer: nil)
        running.hubIndex = pickHub(host, origin: url.origin)
        let fetcher = fetchers.fetchers[running.hubIndex]
        let page = PageFetch(on: fetcher, crawler: self, job: job, reader: reader, collector: collector, sitemap: sitemap)
        running.fetch = page
        // Inflight before the fetch starts: on this hub it may complete before `start` returns.
        inflight[job] = running
        if fetcher.hub === hub {
            fetcher.assumeIsolated { $0.fetch(url, overrides: overrides, handle: page) }
        } else {
            let options = overrides
            hub.post(to: fetcher.hub) { fetcher.assumeIsolated { $0.fetch(url, overrides: options, handle: page) } }
        }
        if let jt = configuration.jobTimeout {
            inflight[job]?.timer = hub.schedule(afterNanos: nanoseconds(seconds: jt)) { [self] in
                self.assumeIsolated { c in
                    guard c.inflight[job] != nil else { return }
                    c.inflight[job]!.deadlineHit = true
                    c.inflight[job]!.fetch?.cancel()
                }
            }
        }
    }

    /// The hub for a transfer to `origin`: one with a free slot of the origin's share (the
    /// host's transfers are at most `--per-host`, the sum of the shares, so there is one);
    /// the freest, so an origin's transfers spread over the hubs.
    private func pickHub(_ host: HostState, origin: String) -> Int {
        let n = fetchers.count
        if n == 1 { return 0 }
        if host.hubActive.count != n {
            host.hubActive = Array(repeating: 0, count: n)
            host.hubHome = fetchers.peers.home(of: origin)   // a hash of the origin: once per host
        }
        let home = host.hubHome
        var best = home   // the owner of the origin's slot 0
        var bestFree = Int.min
        for i in 0..<n {
            let free = fetchers.peers.share(home: home, hub: i) - host.hubActive[i]
            if free > bestFree { best = i; bestFree = free }
        }
        host.hubActive[best] += 1
        return best
    }

    // MARK: - Completion

    /// A page's fetch is over (on the crawler's hub).
    fileprivate func finished(_ page: PageFetch, _ outcome: FetchOutcome) {
        let reader = page.reader, collector = page.collector, sitemap = page.sitemap
        guard let run = inflight.removeValue(forKey: page.job) else { return }   // written at a stop
        // Its transfer is over: the reader serves another page once this one is decided.
        defer { if let reader, readers.count < configuration.concurrency { readers.append(reader) } }
        if let t = run.timer { hub.cancel(t) }
        let now = monotonicNanos()
        let host = run.host
        if run.hubIndex < host.hubActive.count { host.hubActive[run.hubIndex] -= 1 }
        let entry = run.entry
        let elapsed = Double(now - run.startedAt) / 1e6
        defer {
            frontier.release(host, now: now)
            pump()
        }
        if run.deadlineHit {
            host.consecutiveErrors += 1
            // The robots verdict is journaled before the record that depends on it.
            if entry.isRobots { robotsFetched(host, .failure(FetchError(.jobTimeout, "job timeout")), nil, now: now) }
            finishRecord(entry, value: .null, exception: RecordException(type: "job_timeout", message: "job exceeded --job-timeout \(configuration.jobTimeout ?? 0) s"),
                         elapsed: elapsed, robots: run.robots, micros: (now - run.startedAt) / 1000)
            tripIfNeeded(host, last: "job_timeout")
            return
        }
        switch outcome.result {
        case let .failure(e):
            host.consecutiveErrors += 1
            if e.isRetryable && entry.attempt <= configuration.retries && host.consecutiveErrors < configuration.maxHostErrors {
                host.nextAllowed = max(host.nextAllowed, now &+ nanoseconds(seconds: Fetcher.backoff(entry.attempt)))
                entry.attempt += 1
                count { $0.events["retried", default: 0] += 1 }
                frontier.push(entry, host: host, retry: true)
                return
            }
            if entry.isRobots { robotsFetched(host, .failure(e), nil, now: now) }
            // robots.txt behind more than five redirects means "allow all" (RFC 9309): a
            // decision, not a failure of the crawl.
            finishRecord(entry, value: .null, exception: FetchJob.exception(e), elapsed: elapsed, robots: run.robots,
                         micros: (now - run.startedAt) / 1000, attempts: entry.attempt,
                         declined: entry.isRobots && e.code == .tooManyRedirects)
            tripIfNeeded(host, last: e.code.rawValue)
        case let .success(value):
            let status = outcome.status ?? 0
            if status == 429 || status == 503 {
                host.consecutiveErrors += 1
                let wait = min(configuration.maxCrawlDelay, outcome.retryAfter ?? Fetcher.backoff(entry.attempt))
                host.nextAllowed = max(host.nextAllowed, now &+ nanoseconds(seconds: wait))
                if entry.attempt <= configuration.retries && host.consecutiveErrors < configuration.maxHostErrors {
                    entry.attempt += 1
                    count { $0.events["retried", default: 0] += 1 }
                    frontier.push(entry, host: host, retry: true)
                    return
                }
            } else if status >= 500 {
                host.consecutiveErrors += 1
            } else {
                host.consecutiveErrors = 0
            }
            // The fetch's fields as they are (not copied), with the crawler's changes applied
            // while the record is written: tries re-queued by the crawler (429/503, network
            // errors) count in `attempts`; the title is the link extractor's; then its fields.
            var merged = MergedValue(base: value, extraAttempts: entry.attempt - 1)
            if entry.isRobots {
                merged.extra = [("robots", robotsFetched(host, .success(status), collector, now: now))]
                if (200..<300).contains(status) { robotsSitemaps(entry, host) }
            } else if entry.isSitemap {
                merged.extra = [("sitemap", sitemapFields(entry, status: status, outcome: outcome, sitemap: sitemap))]
            } else {
                var title: JSONValue = .null
                merged.page = pageFields(entry, status: status, outcome: outcome, reader: reader, title: &title)
                merged.title = title
            }
            finishRecord(entry, value: .null, merged: merged, exception: nil, elapsed: elapsed, robots: run.robots,
                         micros: (now - run.startedAt) / 1000, tally: StatusFilter.statusClass(status),
                         bytes: outcome.bytes, attempts: entry.attempt)
            if status >= 500 { tripIfNeeded(host, last: "HTTP \(status)") }
        }
    }

    /// The circuit breaker: after `--max-host-errors` consecutive failures the host is
    /// given up, and each of its queued URLs gets a `host_abandoned` record.
    private func tripIfNeeded(_ host: HostState, last: String) {
        guard !host.dead, host.consecutiveErrors >= configuration.maxHostErrors else { return }
        host.dead = true
        host.deadReason = "gave up on \(host.key) after \(host.consecutiveErrors) consecutive failures (last: \(last))"
        state?.journal.append(.hostDead(origin: host.key, reason: host.deadReason))
        // Every queued job gets its record, a queued robots.txt fetch (due again after 24 h) too.
        for e in frontier.drain(host) {
            finishWithoutFetch(e, type: "host_abandoned", message: host.deadReason)
        }
        count { $0.events["hosts_abandoned", default: 0] += 1 }
    }

    /// robots.txt arrived (or did not): 2xx → its rules; 4xx or more than five redirects →
    /// allow all; 5xx, timeout or network error → disallow all (fail closed).
    @discardableResult
    private func robotsFetched(_ host: HostState, _ result: Result<Int, FetchError>, _ collector: BodyCollector?, now: UInt64) -> JSONValue {
        let rules: RobotsRules
        let note: String
        var unreachable = false
        var body: [UInt8]? = nil
        switch result {
        case let .success(status) where (200..<300).contains(status):
            body = collector?.bytes ?? []
            rules = RobotsRules(parsing: body!, productToken: configuration.productToken)
            note = "robots.txt \(status)"
        case let .success(status) where (400..<500).contains(status):
            rules = .allowAll
            note = "robots.txt \(status): allow all"
        case let .success(status):
            rules = .disallowAll
            unreachable = true
            note = "robots.txt HTTP \(status): disallow all"
        case let .failure(e) where e.code == .tooManyRedirects:
            rules = .allowAll
            note = "robots.txt: more than 5 redirects: allow all"
        case let .failure(e):
            rules = .disallowAll
            unreachable = true
            note = "robots.txt unreachable (\(e.code.rawValue)): disallow all"
        }
        applyRobots(host, KnownRobots(rules: rules, fetchedAt: now, note: note, unreachable: unreachable), now: now)
        if let state {
            state.journal.append(.robots(origin: host.key, verdict: body != nil ? "rules" : (unreachable ? "disallow" : "allow"),
                                         note: note, fetchedAtMillis: Int64(Date().timeIntervalSince1970 * 1000), body: body ?? []))
        }
        let info: [(String, JSONValue)] = [("group", rules.group.map { .string($0) } ?? .null),
                                           ("crawl_delay", rules.crawlDelay.map { .double($0) } ?? .null),
                                           ("sitemaps", .array(rules.sitemaps.map { .string($0) })),
                                           ("applies", .string(note))]
        return .object(info)
    }

    private func applyRobots(_ host: HostState, _ robots: KnownRobots, now: UInt64) {
        host.robots = .known(robots)
        if let cd = robots.rules.crawlDelay, cd > host.delay { host.delay = min(cd, max(configuration.maxCrawlDelay, configuration.delay)) }
        frontier.update(host, now: now)
    }

    // MARK: - Sitemaps

    /// The sitemaps robots.txt lists, admitted as sitemap jobs (scope, robots, dedupe).
    private func robotsSitemaps(_ robotsEntry: FrontierEntry, _ host: HostState) {
        guard configuration.sitemapsFromRobots, case let .known(robots) = host.robots else { return }
        var drops: [String: Int] = [:]
        for raw in robots.rules.sitemaps {
            _ = consider(raw, base: robotsEntry.url, depth: robotsEntry.depth, parent: robotsEntry, via: Discovery(.robots),
                         nofollow: false, drops: &drops, sitemap: true)
        }
        countDrops(drops)
    }

    /// `--sitemap URL`s, admitted before the first seed (a resumed crawl has them already).
    private func sitemapSeeds() {
        for raw in configuration.sitemaps {
            guard case let .success(url) = CrawlURL.parse(raw) else { continue }
            scope.addSeed(url)
            let canonical = canonicalKey(url)
            let fingerprint = URLFingerprint.of(canonical)
            guard seen.insert(fingerprint) else { continue }
            admittedPages += 1
            let job = nextJob
            nextJob += 1
            count { $0.jobs += 1 }
            let e = FrontierEntry(job: job, url: url, depth: 0, parent: nil, via: Discovery(.seed), canonical: canonical, input: raw)
            e.isSitemap = true
            journalAdmit(e, fingerprint: fingerprint)
            enqueue(e)
        }
        pump()
    }

    /// A sitemap arrived: its entries are admitted like links (a sitemap index's as further
    /// sitemaps, at the index's depth; a urlset's or a text sitemap's as pages one deeper).
    private func sitemapFields(_ entry: FrontierEntry, status: Int, outcome: FetchOutcome, sitemap: SitemapConsumer?) -> JSONValue {
        guard let sitemap, (200..<300).contains(status) else { return .null }
        let summary = sitemap.finish()
        let entries = sitemap.drain()
        var drops: [String: Int] = [:]
        var inScope = 0, new = 0
        let base = outcome.finalURL.flatMap { u -> CrawlURL? in
            if case let .success(c) = CrawlURL.parse(u.full) { return c }
            return nil
        } ?? entry.url
        let index = summary.kind == .sitemapindex
        // The protocol does not nest indexes: an index listed in an index is read, not followed.
        let followed = index && entry.via.kind == .sitemap ? [] : entries
        for e in followed {
            let r = consider(e.loc, base: base, depth: index ? entry.depth : entry.depth + 1, parent: entry,
                             via: Discovery(.sitemap), nofollow: false, drops: &drops, sitemap: index)
            if r.inScope { inScope += 1 }
            if r.status == "new" { new += 1 }
        }
        countDrops(drops)
        count {
            $0.events["sitemaps_read", default: 0] += 1
            $0.events["sitemap_entries", default: 0] += entries.count
        }
        var f: [(String, JSONValue)] = [
            ("kind", summary.kind.map { .string($0.rawValue) } ?? .null),
            ("gzip", .bool(summary.gzip)),
            ("entries", .int(entries.count)),
            ("in_scope", .int(inScope)),
            ("new", .int(new)),
            ("truncated", summary.truncated.map { .string($0.rawValue) } ?? .null),
        ]
        if let e = summary.error {
            f.append(("error", .object([("type", .string(e.code.rawValue)), ("message", .string(e.message))])))
        } else {
            f.append(("error", .null))
        }
        return .object(f)
    }

    private func countDrops(_ drops: [String: Int]) {
        if !drops.isEmpty { count { s in for (k, v) in drops { s.drops[k, default: 0] += v } } }
    }

    // MARK: - Links

    private func pageFields(_ entry: FrontierEntry, status: Int, outcome: FetchOutcome, reader: PageReader?,
                            title: inout JSONValue) -> PageExtra {
        var links: [JSONValue] = []
        var drops: [String: Int] = [:]
        defer { countDrops(drops) }
        var total = 0, inScope = 0, new = 0
        let page = reader?.finish()
        if let t = page?.title { title = .string(HTMLTitle.collapse(t)) }
        let robotsTag = outcome.robotsTag.map { RobotsMeta.applicable($0, token: configuration.productToken) } ?? ""
        let meta = page?.metaRobots ?? ""
        let nofollowPage = RobotsMeta.has(meta, "nofollow") || RobotsMeta.has(robotsTag, "nofollow")
        let noindex = RobotsMeta.has(meta, "noindex") || RobotsMeta.has(robotsTag, "noindex")
        if status == 301 || status == 302 || status == 303 || status == 307 || status == 308, let location = outcome.location {
            total += 1
            let r = consider(location, base: entry.url, depth: entry.depth, parent: entry, via: Discovery(.redirect), nofollow: false, drops: &drops)
            if r.inScope { inScope += 1 }
            if r.status == "new" { new += 1 }
            if configuration.recordLinks { links.append(linkJSON(location, r, tag: nil, attribute: nil, rel: nil, nofollow: false)) }
        }
        var base = entry.url
        if let b = page?.baseHref, case let .success(u) = CrawlURL.parse(b, base: entry.url) { base = u }
        if (200..<300).contains(status), let page {
            let baseInScope = scope.inScope(base)   // once per page, not per link
            total += page.total
            if page.total > page.linkCount { drops["guard:outlinks", default: 0] += page.total - page.linkCount }
            // The plain links' seen-set probes first, their memory asked for all at once.
            let plainOK = plainLinksDecidable(depth: entry.depth + 1, baseInScope: baseInScope)
            plainProbes.removeAll(keepingCapacity: true)
            // From the links' bytes: a link's String is made only when it gets past the seen-set.
            let found = page.entries
            for i in found.indices {
                let probe = plainOK && (configuration.followNofollow || !(nofollowPage || found[i].nofollow))
                    ? plainProbe(page, i, base: base) : nil
                if let probe { seen.prefetch(probe.fingerprint) }
                plainProbes.append(probe)
            }
            var seenPlain = 0
            // Counted with the page's record (``finishRecord``), under the lock it takes
            // anyway: most pages drop only seen links, and need no dictionary of their own.
            defer { pendingSeen += seenPlain }
            for i in found.indices {
                if let probe = plainProbes[i], probeSeen(probe) {
                    // What consider() would say (in scope, seen), without its arguments' costs.
                    // (No probes are made when the links are recorded.)
                    seenPlain += 1
                    inScope += 1
                    continue
                }
                let link = found[i]
                let url = page.url(at: i)
                let nofollow = nofollowPage || link.nofollow
                let r = consider(url, base: base, depth: entry.depth + 1, parent: entry,
                                 via: Discovery(.link, tag: link.tag.name, attribute: link.attribute.name), nofollow: nofollow, drops: &drops)
                if r.inScope { inScope += 1 }
                if r.status == "new" { new += 1 }
                if configuration.recordLinks {
                    links.append(linkJSON(url, r, tag: link.tag.name, attribute: link.attribute.name, rel: link.rel, nofollow: link.nofollow))
                }
            }
        }
        return PageExtra(
            total: total, inScope: inScope, new: new, metaRobots: page?.metaRobots, xRobotsTag: outcome.robotsTag,
            noindex: noindex,
            relCanonical: page?.relCanonical.map { href in
                if case let .success(u) = CrawlURL.parse(href, base: base) { return u.display }
                return href
            },
            links: configuration.recordLinks ? links : nil)
    }

    /// A page's own fields in its record's `value`, after the fetch's: written straight into
    /// the record (no `JSONValue` tree per page).
    private struct PageExtra {
        var total: Int, inScope: Int, new: Int
        var metaRobots: String?
        var xRobotsTag: String?
        var noindex: Bool
        var relCanonical: String?
        /// With `--links`.
        var links: [JSONValue]?

        func write(to w: inout JSONWriter) {
            w.raw(",\"outlinks\":{\"total\":"); w.int(total)
            w.raw(",\"in_scope\":"); w.int(inScope)
            w.raw(",\"new\":"); w.int(new)
            w.raw("},\"meta_robots\":"); if let metaRobots { w.string(metaRobots) } else { w.raw("null") }
            w.raw(",\"x_robots_tag\":"); if let xRobotsTag { w.string(xRobotsTag) } else { w.raw("null") }
            w.raw(",\"noindex\":"); w.raw(noindex ? "true" : "false")
            w.raw(",\"rel_canonical\":"); if let relCanonical { w.string(relCanonical) } else { w.raw("null") }
            if let links { w.raw(",\"links\":"); JSONValue.array(links).write(to: &w) }
        }
    }

    private struct PlainLink {
        var fingerprint: UInt64
        var displayCount: Int
        var slashes: Int
    }
    /// ``plainProbe(_:_:base:)`` of each link of the page at hand (reused).
    private var plainProbes: [PlainLink?] = []
    /// Plain links found seen by ``pageFields``, not yet in the run's statistics.
    private var pendingSeen = 0

    private struct LinkFate {
        var status: String
        var url: CrawlURL?
        var inScope: Bool
    }

    private func linkJSON(_ raw: String, _ r: LinkFate, tag: String?, attribute: String?, rel: String?, nofollow: Bool) -> JSONValue {
        var f: [(String, JSONValue)] = [("url", .string(r.url?.display ?? raw))]
        if let tag { f.append(("tag", .string(tag))) }
        if let attribute { f.append(("attribute", .string(attribute))) }
        f.append(("rel", rel.map { .string($0) } ?? .null))
        f.append(("nofollow", .bool(nofollow)))
        f.append(("in_scope", .bool(r.inScope)))
        f.append(("status", .string(r.status)))
        return .object(f)
    }

    /// Decides a link's fate and admits it when it is new, in scope and within limits.
    /// (A page's plain links already seen end before this, in ``pageFields``.)
    private func consider(_ raw: String, base: CrawlURL, depth: Int, parent: FrontierEntry, via: Discovery, nofollow: Bool,
                          drops: inout [String: Int], sitemap: Bool = false) -> LinkFate {
        let url: CrawlURL
        switch CrawlURL.parse(raw, base: base) {
        case .failure(.unsupportedScheme):
            drops["not_http", default: 0] += 1
            return LinkFate(status: "not_http", url: nil, inScope: false)
        case .failure(.invalid):
            drops["invalid_url", default: 0] += 1
            return LinkFate(status: "invalid_url", url: nil, inScope: false)
        case let .success(u):
            url = u
        }
        let hostInScope = scope.inScope(url)
        let inScope = hostInScope && !(scope.hasPatterns && scope.filteredOut(url.display))
        func drop(_ why: String, _ drops: inout [String: Int]) -> LinkFate {
            drops[why, default: 0] += 1
            return LinkFate(status: why, url: url, inScope: inScope)
        }
        if !inScope { return drop(hostInScope ? "excluded" : "out_of_scope", &drops) }
        if nofollow && !configuration.followNofollow { return drop("nofollow", &drops) }
        if let guardName = scope.trapGuard(url) { return drop("guard:" + guardName, &drops) }
        if let max = configuration.maxDepth, depth > max { return drop("max_depth", &drops) }
        let (key, fingerprint) = dedupeKey(url)
        if seen.contains(fingerprint) { return drop("seen", &drops) }
        if let max = configuration.maxPages, admittedPages >= max { return drop("max_pages", &drops) }
        let host = frontier.host(url.origin)
        if host.admitted >= configuration.maxPagesPerHost { return drop("guard:pages_per_host", &drops) }
        let canonical = String(decoding: key, as: UTF8.self)
        let display = url.display
        _ = seen.insert(fingerprint)
        admittedPages += 1
        let job = nextJob
        nextJob += 1
        count { $0.jobs += 1 }
        let entry = FrontierEntry(job: job, url: url, depth: depth, parent: parent.url.display, via: via,
                                  canonical: canonical, input: display)
        entry.isSitemap = sitemap
        journalAdmit(entry, fingerprint: fingerprint)
        enqueue(entry, host: host)
        return LinkFate(status: "new", url: url, inScope: true)
    }

    /// Most links on a page were seen before. For a plain same-origin path, with nothing
    /// that could decide otherwise first (patterns, nofollow, depth, a trap guard, `--links`
    /// output, prefix scope), the fingerprint is computed without parsing: a seen link ends
    /// there, exactly as ``consider`` would have ended it, with no allocation. Anything else
    /// (and every new link) goes the full way. Whether a page's links at `depth` may be
    /// decided so (nofollow aside, which is per link):
    private func plainLinksDecidable(depth: Int, baseInScope: Bool) -> Bool {
        !configuration.recordLinks && !scope.hasPatterns && scope.kind != .prefix
            && (configuration.maxDepth.map { depth <= $0 } ?? true) && baseInScope
    }

    /// A probed link that ends as "seen": within the guards that come before the seen-set
    /// in ``consider``, and already admitted.
    private func probeSeen(_ probe: PlainLink) -> Bool {
        probe.displayCount <= configuration.maxURLLength && probe.slashes <= configuration.maxRepeatedSegments
            && seen.contains(probe.fingerprint)
    }

    /// A plain same-origin link's fingerprint (see ``plainLinksDecidable(depth:baseInScope:)``),
    /// nil for any other link.
    private func plainProbe(_ page: ExtractedPage, _ i: Int, base: CrawlURL) -> PlainLink? {
        var scratch = [UInt8]()
        swap(&scratch, &linkScratch)   // the closure below touches no actor state
        defer { swap(&scratch, &linkScratch) }
        return page.withURL(at: i) { bytes in
            base.plainPathLink(bytes, scratch: &scratch).map { PlainLink(fingerprint: $0.fingerprint, displayCount: $0.displayCount, slashes: $0.slashes) }
        }
    }

    // MARK: - Records

    private func count(_ body: (inout RunStatistics) -> Void) {
        shared.withLock { body(&$0.stats) }
    }

    private func publishLoad() {
        let n = inflight.count
        shared.withLock { $0.inFlight = n }
        feed.setLoad(frontier.pending + n)
    }

    private func emit(_ entry: FrontierEntry, _ record: [UInt8]) {
        sink.emit(entry.job, record)
    }

    /// A record for an entry that ends without a fetch (invalid seed, robots.txt,
    /// duplicate seed, abandoned host).
    /// `journal`: the entry has no `A` entry in the journal (a seed line that is not
    /// admitted), so its record itself is journaled, to be written again if it is lost.
    private func finishWithoutFetch(_ entry: FrontierEntry, type: String, message: String, declined: Bool = false,
                                    robots: JSONValue = .null, journal: Bool = false) {
        finishRecord(entry, value: .null, exception: RecordException(type: type, message: message), elapsed: 0,
                     robots: robots, micros: 0, declined: declined, journal: journal)
        // No completion check here: this runs in the middle of handling a page (its other
        // links are not queued yet). Callers end with pump() or checkCompletion().
    }

    /// A fetched page's value: the fetch's fields, written with the crawler's changes.
    private struct MergedValue {
        var base: FetchValue
        var extraAttempts: Int
        var title: JSONValue? = nil
        var extra: [(String, JSONValue)] = []
        var page: PageExtra? = nil

        func write(to w: inout JSONWriter) {
            base.write(to: &w, extraAttempts: extraAttempts, title: title, extra: extra) { w in page?.write(to: &w) }
        }
    }

    private func finishRecord(_ entry: FrontierEntry, value: JSONValue, merged: MergedValue? = nil, exception: RecordException?,
                              elapsed: Double, robots: JSONValue, micros: UInt64, tally: String? = nil, bytes: Int = 0,
                              attempts: Int = 1, declined: Bool = false, journal: Bool = false) {
        let seen = pendingSeen
        pendingSeen = 0
        count { s in
            if seen > 0 { s.drops["seen", default: 0] += seen }
            if let e = exception {
                s.failures[e.type, default: 0] += 1
                if declined { s.declined += 1 }
            } else {
                s.successful += 1
            }
            if let tally { s.tallies[tally, default: 0] += 1 }
            s.bytes += bytes
            s.latency.record(micros: micros)
        }
        var w = JSONWriter(capacity: JSONWriter.recordCapacity)
        head(&w, entry)
        w.byte(UInt8(ascii: ",")); w.raw("\"started\":false,\"ready\":true,\"successful\":")
        w.raw(exception == nil ? "true" : "false")
        w.byte(UInt8(ascii: ",")); w.field("value")
        if let merged { merged.write(to: &w) } else { value.write(to: &w) }
        w.byte(UInt8(ascii: ",")); w.field("exception")
        if let e = exception {
            JSONValue.object([("type", .string(e.type)), ("message", .string(e.message))] + e.details).write(to: &w)
        } else {
            w.raw("null")
        }
        w.byte(UInt8(ascii: ",")); w.field("elapsed_ms"); w.double(elapsed)
        tail(&w, entry, robots: robots)
        if journal { state?.journal.append(.noFetch(job: entry.job, fingerprint: nil, seedIndex: entry.source?.job, record: w.bytes)) }
        w.withBytes { sink.emit(entry.job, $0) }
    }

    // MARK: - State (--state)

    private func journalAdmit(_ e: FrontierEntry, fingerprint: UInt64?) {
        guard let state else { return }
        state.journal.append(.admit(JournalEntry.Admit(
            job: e.job, fingerprint: fingerprint, origin: e.url.origin, depth: e.depth, parent: e.parent, via: e.via.kind,
            tag: e.via.tag, attribute: e.via.attribute, isRobots: e.isRobots, isSitemap: e.isSitemap, url: e.url.href, canonical: e.canonical,
            input: e.input, file: e.source?.file, line: e.source?.line,
            seedIndex: e.via.kind == .seed ? e.source?.job : nil)))
    }

    /// Continues a crawl from its state: robots.txt rules and given-up hosts as they were,
    /// the seen-set (already adopted), and every job without a written record queued again
    /// (or, for records journaled whole, written again).
    private func restore() {
        guard let state, state.resume.resumed else { return }
        let r = state.resume
        nextJob = max(nextJob, r.nextJob)
        admittedPages = r.fingerprints
        let now = monotonicNanos()
        let wallMillis = Int64(Date().timeIntervalSince1970 * 1000)
        for (origin, robots) in r.robots {
            let ageNanos = UInt64(max(0, wallMillis - robots.fetchedAtMillis)) * 1_000_000
            guard ageNanos < Self.robotsMaxAge else { continue }
            let host = frontier.host(origin)
            let rules: RobotsRules
            switch robots.verdict {
            case "rules": rules = RobotsRules(parsing: robots.body, productToken: configuration.productToken)
            case "allow": rules = .allowAll
            default: rules = .disallowAll
            }
            applyRobots(host, KnownRobots(rules: rules, fetchedAt: now &- ageNanos, note: robots.note,
                                          unreachable: robots.verdict == "disallow"), now: now)
        }
        for (origin, reason) in r.dead {
            let host = frontier.host(origin)
            host.dead = true
            host.deadReason = reason
        }
        for (origin, n) in r.admittedPerOrigin { frontier.host(origin).admitted += n }
        for seed in r.seedURLs {
            if case let .success(url) = CrawlURL.parse(seed) { scope.addSeed(url) }
        }
        for (job, record) in r.pendingRecords {
            count { $0.jobs += 1; $0.events["rewritten_from_state", default: 0] += 1 }
            sink.emit(job, record)
        }
        var entries: [FrontierEntry] = []
        for a in r.pending {
            count { $0.jobs += 1 }
            let e = FrontierEntry(job: a.job, url: CrawlURL.placeholder, depth: a.depth, parent: a.parent,
                                  via: Discovery(a.via, tag: a.tag, attribute: a.attribute), canonical: a.canonical, input: a.input,
                                  source: a.seedIndex.map { InputLine(text: a.input, file: a.file ?? "-", line: a.line ?? 0, job: $0) })
            e.isRobots = a.isRobots
            e.isSitemap = a.isSitemap
            guard case let .success(url) = CrawlURL.parse(a.url) else {
                finishWithoutFetch(e, type: FetchError.Code.invalidURL.rawValue, message: "the journal's URL '\(a.url)' no longer parses")
                continue
            }
            e.url = url
            entries.append(e)
        }
        // robots.txt jobs first, so that their hosts wait for them instead of asking again.
        for e in entries where e.isRobots {
            let host = frontier.host(e.url.origin)
            if case .unknown = host.robots { host.robots = .fetching }
            frontier.push(e, host: host, retry: false)
        }
        for e in entries where !e.isRobots { enqueue(e) }
        count {
            $0.events["resumed_pending", default: 0] += entries.count
            $0.events["already_recorded", default: 0] += r.recorded
        }
        pump()
    }

    private func unfinishedRecord(_ entry: FrontierEntry, started: Bool, reason: StopReason, robots: JSONValue) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        head(&w, entry)
        w.byte(UInt8(ascii: ",")); w.field("started"); w.raw(started ? "true" : "false")
        w.byte(UInt8(ascii: ",")); w.raw("\"ready\":false,\"successful\":false,\"value\":null,\"exception\":null")
        w.byte(UInt8(ascii: ",")); w.field("reason"); w.string(reason.rawValue)
        tail(&w, entry, robots: robots)
        return w.bytes
    }

    private func head(_ w: inout JSONWriter, _ entry: FrontierEntry) {
        w.byte(UInt8(ascii: "{"))
        w.field("job"); w.int(entry.job)
        w.byte(UInt8(ascii: ",")); w.field("input")
        if let total = entry.source?.oversizedBytes {
            w.string(FetchURL.redactUserinfo(entry.input) + "…")
            w.byte(UInt8(ascii: ",")); w.field("input_bytes"); w.int(total)
        } else {
            w.string(FetchURL.redactUserinfo(entry.input))
        }
        if configuration.includeSource, let s = entry.source {
            w.byte(UInt8(ascii: ",")); w.field("file"); w.string(s.file)
            w.byte(UInt8(ascii: ",")); w.field("line"); w.int(s.line)
        }
    }

    private func tail(_ w: inout JSONWriter, _ entry: FrontierEntry, robots: JSONValue) {
        w.byte(UInt8(ascii: ",")); w.field("depth"); w.int(entry.depth)
        w.byte(UInt8(ascii: ",")); w.field("parent")
        if let p = entry.parent { w.string(p) } else { w.raw("null") }
        w.byte(UInt8(ascii: ",")); w.raw("\"discovered_via\":{\"type\":"); w.string(entry.via.kind.rawValue)
        if let t = entry.via.tag { w.raw(",\"tag\":"); w.string(t) }
        if let a = entry.via.attribute { w.raw(",\"attribute\":"); w.string(a) }
        w.byte(UInt8(ascii: "}"))
        w.byte(UInt8(ascii: ",")); w.field("canonical")
        if entry.canonical.isEmpty { w.raw("null") } else { w.string(entry.canonical) }
        w.byte(UInt8(ascii: ",")); w.field("robots"); robots.write(to: &w)
        if entry.isRobots { w.byte(UInt8(ascii: ",")); w.raw("\"robots_txt\":true") }
        if entry.isSitemap { w.byte(UInt8(ascii: ",")); w.raw("\"sitemap\":true") }
        w.byte(UInt8(ascii: "}"))
    }
}

extension Crawler: RunProgress {
    public nonisolated var statistics: RunStatistics { shared.withLock { $0.stats } }
    public nonisolated var inFlightCount: Int { shared.withLock { $0.inFlight } }
    public nonisolated var stoppedBecause: StopReason? { shared.withLock { $0.stopReason } }
    public nonisolated var outputError: Int32 { shared.withLock { $0.outputErrno } }
    public nonisolated var readToEnd: Bool { feed.readToEnd }
    public nonisolated var readError: String? { feed.readError }
    public nonisolated func flush() { sink.flush(wait: false) }
}

/// One page's fetch, from the crawler's point of view: what reads its body, and the way
/// back to the crawler's hub.
private final class PageFetch: FetchHandle, @unchecked Sendable {
    let crawler: Crawler
    let job: Int
    let reader: PageReader?
    let collector: BodyCollector?
    let sitemap: SitemapConsumer?

    init(on fetcher: Fetcher, crawler: Crawler, job: Int, reader: PageReader?, collector: BodyCollector?, sitemap: SitemapConsumer?) {
        self.crawler = crawler
        self.job = job
        self.reader = reader
        self.collector = collector
        self.sitemap = sitemap
        super.init(on: fetcher)
    }

    /// On the fetcher's hub, in the middle of its socket events: the page is finished (and
    /// the next ones started) at the crawler hub's next turn, together with the others that
    /// completed meanwhile, so that their requests go out in one burst. (Finished inline,
    /// one by one, each request woke the server for itself: +25 % CPU, nginx's too.)
    override func finished(_ outcome: FetchOutcome) {
        fetcher.hub.post(to: crawler.hub) { [self] in crawler.assumeIsolated { $0.finished(self, outcome) } }
    }
}

/// Lets the record sink's error callback reach the crawler created after it.
private final class CrawlerBox: @unchecked Sendable {
    weak var crawler: Crawler?
}

/// What a dispatch check decided about a queued entry.
enum DispatchDecision {
    /// Start its request.
    case start
    /// Its record was written (e.g. robots.txt denies it): no request, no slot.
    case consumed
    /// Not now: back to the front of its host's queue (the host waits for robots.txt).
    case putBack
}

/// Session identifiers in URLs (a classic crawler trap: every visit mints new URLs for
/// the same pages) are removed from the dedupe key: `;jsessionid=…` path parameters and
/// query parameters named jsessionid, phpsessid, sid, sessionid, session_id, aspsessionid…,
/// cfid, cftoken (case-insensitive). Part of canonical rules v1.
enum SessionIDs {
    private static let names: Set<String> = ["jsessionid", "phpsessid", "sid", "sessionid", "session_id", "cfid", "cftoken"]

    static func strip(_ key: String) -> String {
        // Fast path: nothing that could be a session id (one pass over the contiguous bytes).
        var probe = key
        let candidate = probe.withUTF8 { b in b.contains { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: ";") } }
        guard candidate else { return key }
        var url = Substring(key)
        var query: Substring? = nil
        if let q = key.firstIndex(of: "?") {
            url = key[..<q]
            query = key[key.index(after: q)...]
        }
        var path = String(url)
        if let r = path.range(of: ";jsessionid=", options: .caseInsensitive) {
            let rest = path[r.upperBound...]
            let end = rest.firstIndex(of: "/") ?? rest.endIndex
            path.removeSubrange(r.lowerBound..<end)
        }
        guard let query else { return path }
        let kept = query.split(separator: "&", omittingEmptySubsequences: false).filter { param in
            let name = param.prefix { $0 != "=" }.lowercased()
            return !(names.contains(name) || name.hasPrefix("aspsessionid"))
        }
        return kept.isEmpty ? path : path + "?" + kept.joined(separator: "&")
    }
}

/// `<meta name="robots">` and `X-Robots-Tag` directives.
enum RobotsMeta {
    /// Whether the comma-separated directive list contains `directive` ("none" implies
    /// noindex and nofollow).
    static func has(_ list: String, _ directive: String) -> Bool {
        if list.isEmpty { return false }   // most pages: no meta robots, no X-Robots-Tag
        for part in list.lowercased().split(separator: ",") {
            let d = part.trimmingCharacters(in: .whitespaces)
            if d == directive || d == "none" && (directive == "noindex" || directive == "nofollow") { return true }
        }
        return false
    }

    /// The part of an X-Robots-Tag value that applies to `token`: directives without a
    /// user-agent prefix, and those after "token:" up to the next prefix (Google's reading:
    /// "googlebot: nofollow, noarchive" is all for googlebot).
    static func applicable(_ value: String, token: String) -> String {
        let known: Set<String> = ["noindex", "nofollow", "none", "all", "noarchive", "nosnippet", "unavailable_after",
                                  "max-snippet", "max-image-preview", "max-video-preview", "notranslate", "noimageindex",
                                  "indexifembedded"]
        var out: [String] = []
        var forUs = true
        for part in value.split(separator: ",") {
            var p = part.trimmingCharacters(in: .whitespaces)
            if let colon = p.firstIndex(of: ":") {
                let ua = p[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
                if !known.contains(ua) {
                    forUs = ua == token.lowercased()
                    p = p[p.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            if forUs && !p.isEmpty { out.append(p) }
        }
        return out.joined(separator: ", ")
    }
}

/// Reads seed lines on their own thread and hands them to the crawler, keeping the
/// crawler's backlog bounded (the seed list is a stream: millions of lines never sit in
/// memory at once).
final class SeedFeed: @unchecked Sendable {
    private let reader: LineReader
    private let highWater: Int
    private let gate = NSCondition()
    private var submitted = 0
    private var done = 0
    private var load = 0
    private var stopping = false
    private var drainAfterStop = false
    private var finished = false
    private var error: String? = nil
    private var fullyRead = true

    /// Lines a resumed crawl already took (its journal says so).
    private let skip: Int

    init(reader: LineReader, highWater: Int, skip: Int = 0) {
        self.reader = reader
        self.highWater = highWater
        self.skip = skip
    }

    /// Whether seed lines are still read after a stop (regular files, join timeout or Ctrl-C):
    /// each gets a not-started record.
    var drains: Bool { gate.lock(); defer { gate.unlock() }; return drainAfterStop }
    var readToEnd: Bool { gate.lock(); defer { gate.unlock() }; return fullyRead }
    var readError: String? { gate.lock(); defer { gate.unlock() }; return error }

    func start(_ submit: @escaping @Sendable (InputLine) -> Void, done finish: @escaping @Sendable () -> Void) {
        makeNamedThread("spate-seeds", stackSize: 1 << 20) { [self] in
            var index = 0
            // Lines the journal already has (a resumed crawl): read past, not submitted. An
            // input that cannot be read here is the run's input error, as below.
            var failed = false
            while index < skip {
                do {
                    guard try reader.next() != nil else { break }
                } catch {
                    gate.lock(); self.error = "\(error)"; gate.unlock()
                    failed = true
                    break
                }
                index += 1
            }
            while !failed {
                gate.lock()
                while !stopping && submitted - done + load >= highWater { gate.wait() }
                let stop = stopping, drain = drainAfterStop
                gate.unlock()
                if stop && !drain { break }
                let line: InputLine?
                do { line = try reader.next() } catch {
                    gate.lock(); self.error = "\(error)"; gate.unlock()
                    break
                }
                guard var line else { break }
                line.job = index
                index += 1
                gate.lock(); submitted += 1; gate.unlock()
                submit(line)
            }
            gate.lock()
            if stopping && !drainAfterStop { fullyRead = false }
            finished = true
            gate.unlock()
            finish()
        }.start()
    }

    /// A submitted line was taken by the crawler.
    func processed() {
        gate.lock()
        done += 1
        if submitted - done + load < highWater { gate.signal() }
        gate.unlock()
    }

    /// The crawler's queued + running count.
    func setLoad(_ n: Int) {
        gate.lock()
        let wasBlocked = submitted - done + load >= highWater
        load = n
        if wasBlocked && submitted - done + load < highWater { gate.signal() }
        gate.unlock()
    }

    func stop(drain: Bool) {
        gate.lock()
        stopping = true
        drainAfterStop = drain && reader.allRegularFiles
        if !finished && !drainAfterStop { fullyRead = false }
        gate.broadcast()
        gate.unlock()
    }
}

extension CrawlURL {
    /// Stands in for the URL of a seed line that is not one (its record says why).
    static let placeholder: CrawlURL = {
        guard case let .success(u) = CrawlURL.parse("http://invalid.invalid/") else { fatalError("placeholder URL") }
        return u
    }()
}
