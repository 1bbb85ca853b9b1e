/// A status list such as `200,3xx,404` for `--match-status` / `--filter-status`.
public struct StatusFilter: Sendable {
    private var exact: Set<Int> = []
    private var classes: Set<Int> = []

    public init(parsing text: String) throws {
        for part in text.split(separator: ",").map({ $0.trimmingSpaces().lowercased() }) where !part.isEmpty {
            if part.count == 3, part.hasSuffix("xx"), let c = Int(part.prefix(1)), (1...5).contains(c) {
                classes.insert(c)
            } else if let n = Int(part), (100...599).contains(n) {
                exact.insert(n)
            } else {
                throw FetchError(.invalidURL, "bad status '\(part)' (want e.g. 200,3xx,404)")
            }
        }
    }

    public func matches(_ status: Int) -> Bool { exact.contains(status) || classes.contains(status / 100) }

    /// "2xx" for 200…299 (the summary's tally), from a table: one per record.
    static func statusClass(_ status: Int) -> String { classNames[min(9, max(0, status / 100))] }
    private static let classNames = (0...9).map { "\($0)xx" }
}

/// `spate fetch`'s job: one URL per line.
public struct FetchJob: JobKind {
    public let fetchers: FetcherGroup
    public var matchStatus: StatusFilter? = nil
    public var filterStatus: StatusFilter? = nil

    public init(fetchers: FetcherGroup) { self.fetchers = fetchers }
    public init(fetcher: Fetcher) { self.init(fetchers: FetcherGroup(fetcher)) }

    /// A URL, its job number, and the fetcher (hub) that runs it: the least-loaded one of
    /// the origin's share when the job starts (``admit(_:)``), not when its line was read —
    /// lines are read in batches ahead of their slots.
    ///
    /// A class: the runner copies a job's work from the batch to the admitted list, the
    /// hub's list, the task and the job, and as a struct each copy retained every buffer in
    /// it (perf: ~60 retains and releases per fetched URL). `fetcher` is set once, by
    /// ``admit(_:)`` on the reader thread before the job's task is made (the hub's queue
    /// orders that write before the task's reads), hence `@unchecked`.
    public final class Work: @unchecked Sendable {
        let url: FetchURL
        let job: Int
        fileprivate(set) var fetcher: Fetcher? = nil

        init(url: FetchURL, job: Int) {
            self.url = url
            self.job = job
        }
    }

    public func prepare(_ line: InputLine) -> Result<Work, RecordException> {
        if let total = line.oversizedBytes {
            return .failure(RecordException(type: FetchError.Code.invalidURL.rawValue, message: "line is \(total) bytes long"))
        }
        switch FetchURL.parse(line.text, defaultScheme: fetchers.configuration.defaultScheme) {
        case let .success(url): return .success(Work(url: url, job: line.job))
        case let .failure(e): return .failure(Self.exception(e))
        }
    }

    public func admit(_ work: Work) -> Work {
        if work.fetcher == nil { work.fetcher = fetchers.assign(work.url.origin) }
        return work
    }

    public func run(_ work: Work) async -> JobOutcome {
        let (url, job, fetcher) = (work.url, work.job, work.fetcher ?? admit(work).fetcher!)
        var saveName: String? = nil
        if fetcher.configuration.saveDirectory != nil {
            var h = Digest(.sha256)
            h.update(Array(url.display.utf8))
            saveName = "\(job)-\(h.hex().prefix(16)).body"
        }
        let o = await fetcher.fetch(url, saveName: saveName)
        fetchers.finished(url.origin, on: fetcher)
        return outcome(o)
    }

    /// The job's outcome from the fetch's (synchronous, so that its temporaries stay out of
    /// the job's async frame).
    @inline(never)
    private func outcome(_ o: FetchOutcome) -> JobOutcome {
        var outcome: JobOutcome
        switch o.result {
        case let .success(value):
            outcome = JobOutcome(value: .null, exception: nil)
            outcome.valueWriter = value
        case let .failure(e):
            outcome = JobOutcome(value: .null, exception: Self.exception(e))
        }
        if let status = o.status, o.result.failureValue == nil {
            outcome.tally = StatusFilter.statusClass(status)
            if let m = matchStatus, !m.matches(status) { outcome.filtered = true }
            if let f = filterStatus, f.matches(status) { outcome.filtered = true }
        }
        outcome.bytes = o.bytes
        return outcome
    }

    static func exception(_ e: FetchError) -> RecordException {
        var details: [(String, JSONValue)] = []
        if let c = e.curlCode { details.append(("curl_code", .int(c))) }
        if let m = e.curlMessage { details.append(("curl_message", .string(m))) }
        return RecordException(type: e.code.rawValue, message: e.message, details: details)
    }

    public var emptyFields: [(String, JSONValue)] { [] }

    /// Userinfo (`user:password@`) is used for the request but never written to a record.
    public func redact(_ text: String) -> String { FetchURL.redactUserinfo(text) }

    /// Each fetch runs on its fetcher's hub: curl callbacks resume it without a thread hop.
    public func taskExecutor(for work: Work) -> (any TaskExecutor)? { work.fetcher?.hub.taskExecutor }
}
