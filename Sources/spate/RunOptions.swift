import ArgumentParser
import Glibc
import Spate

/// Flags every subcommand shares: inputs, admission, timeouts, ordering, output.
struct RunOptions: ParsableArguments {
    @Argument(help: "Input files, one job per line ('-' or none: stdin); fetch and crawl also take URLs (jobs of their own, read first).")
    var files: [String] = []

    @Option(name: .long, help: "Join timeout in seconds: stop waiting, report unfinished jobs as not ready (gevent joinall(timeout=)).")
    var timeout: Double?

    @Option(name: .long, help: "Per-job deadline in seconds: the job is cancelled and fails with job_timeout.")
    var jobTimeout: Double?

    @Option(name: [.short, .long], help: "Jobs in flight (1...10000000).")
    var concurrency: Int = 1000
    static let maxConcurrency = 10_000_000

    @Option(name: .long, help: "Jobs started per second, globally (0 = unlimited).")
    var rate: Double = 0

    @Flag(name: .long, help: "Write records in input order (default: completion order).")
    var ordered = false

    @Flag(name: [.short, .long], help: "No progress line and no summary on stderr.")
    var quiet = false

    @Option(name: [.short, .long], help: "Write the records to this file instead of stdout (created, or emptied; crawl --state appends and resumes it).")
    var output: String?

    func validate() throws {
        // Bounded so that no size derived from it (connection caches, read-ahead) overflows.
        guard (1...RunOptions.maxConcurrency).contains(concurrency) else {
            throw ValidationError("--concurrency must be 1...\(RunOptions.maxConcurrency)")
        }
        guard rate >= 0 else { throw ValidationError("--rate must not be negative") }
        if let t = timeout, !(t >= 0) { throw ValidationError("--timeout must not be negative") }
        if let t = jobTimeout, !(t > 0) { throw ValidationError("--job-timeout must be positive") }
    }

    /// The records' file descriptor: stdout, or `--output` created or truncated.
    /// Opens (and empties) `--output`, or stdout; on failure shuts `hub` down first.
    /// Called once the run's inputs were checked, so that a mistake there leaves an
    /// existing output file as it was.
    func openOutput(else hub: Hub) throws -> Int32 {
        guard let output else { return 1 }
        let fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let message = String(cString: strerror(errno))
            hub.shutdown()
            throw ValidationError("--output \(output): \(message)")
        }
        return fd
    }

    var batchOptions: BatchOptions {
        var o = BatchOptions()
        o.concurrency = concurrency
        o.rate = rate
        o.joinTimeout = timeout
        o.jobTimeout = jobTimeout
        o.ordered = ordered
        o.includeSource = files.count > 1
        return o
    }

    /// The inputs to read: the files (or stdin) and, first, the arguments that are URLs and
    /// name no file (`spate fetch https://…`, `spate crawl https://…`), read from memory as
    /// one more input called `<arguments>` (``LiteralInput``: nothing is written to /tmp).
    /// Keep `arguments` alive while the reader runs.
    func inputs() throws -> Inputs {
        var i = Inputs()
        for a in files {
            if a != "-" && access(a, F_OK) != 0 && (a.contains("://") || a.hasPrefix("www.")) {
                i.literal.append(a)
            } else {
                i.paths.append(a)
                i.names.append(a)
            }
        }
        if !i.literal.isEmpty {
            let arguments = try LiteralInput(lines: i.literal)
            i.arguments = arguments
            i.paths.insert(arguments.path, at: 0)
            i.names.insert("<arguments>", at: 0)
        }
        return i
    }

    struct Inputs {
        var paths: [String] = []
        var names: [String] = []
        /// The URL arguments, in order.
        var literal: [String] = []
        var arguments: LiteralInput?
    }
}

/// `--hubs`: event-loop threads for transfers (fetch, crawl).
struct HubOptions: ParsableArguments {
    @Option(name: .long, help: "Event-loop threads for transfers, each with its own connections (default: the CPU cores, at most 8).")
    var hubs: Int?

    func validate() throws {
        if let hubs, !(1...64).contains(hubs) { throw ValidationError("--hubs must be 1...64") }
    }

    /// The number of hubs to run: `--hubs`, or the online cores (at most 8); never more than the jobs in flight.
    func count(concurrency: Int) -> Int {
        let cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        return max(1, min(hubs ?? min(cores, 8), concurrency))
    }

    /// Starts the fetchers, the first on `home`; on failure `home` is shut down too.
    /// `helperNice`: see ``FetcherGroup/start(hubs:home:resolver:configuration:helperNice:)``.
    func startFetchers(home: Hub, resolver: Resolver, configuration: FetchConfiguration, concurrency: Int,
                       helperNice: Int32 = 0) async throws -> FetcherGroup {
        do {
            return try await FetcherGroup.start(hubs: count(concurrency: concurrency), home: home, resolver: resolver,
                                                configuration: configuration, helperNice: helperNice)
        } catch {
            home.shutdown()
            throw ValidationError("\(error)")
        }
    }
}
