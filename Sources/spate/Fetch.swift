import ArgumentParser
import Foundation
import Spate

struct Fetch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch URLs (http, https) with libcurl's multi interface; every host resolved by c-ares.",
        discussion: """
        One job per URL line; a bare host becomes https://host/ (--scheme to change). Any HTTP
        status is a completed transfer: `successful` is about the transfer, the status is data.
        Only http and https are fetched; other schemes give protocol_denied.
        """
    )

    @OptionGroup var run: RunOptions
    @OptionGroup var dns: DNSOptions
    @OptionGroup var warc: WARCOptions

    @Flag(name: [.customShort("L"), .customLong("location")], help: "Follow redirects (hop by hop, each hop resolved and checked).")
    var location = false
    @Option(name: .long, help: "Redirects to follow at most.") var maxRedirects = 10
    @Option(name: .long, help: "Transfers (and connections) per scheme+host+port.") var perHost = 6
    @Option(name: .long, help: "Extra tries after a retryable failure or 429/502/503/504 (exponential back-off, jitter).") var retries = 0
    @Option(name: .long, help: "Longest wait between tries, Retry-After included (seconds).") var retryMaxWait = 30.0
    @Option(name: .long, help: "Connect timeout in seconds.") var connectTimeout = 10.0
    @Option(name: .long, help: "Time limit per transfer (per hop) in seconds.") var maxTime = 30.0
    @Option(name: [.customShort("X"), .customLong("method")], help: "Request method.") var method: String?
    @Option(name: [.customShort("H"), .long], help: "Request header 'Name: value' (repeatable).") var header: [String] = []
    @Option(name: .long, help: "Request body (POST unless -X is given).") var data: String?
    @Option(name: .long, help: "User-Agent.") var userAgent: String?
    @Option(name: .long, help: "Proxy URL.") var proxy: String?
    @Option(name: .long, help: "Largest decoded body in bytes; over it the job fails with body_too_large.") var maxBody = 10 << 20
    @Option(name: .long, help: "Write each body under this directory; the path goes in value.saved.") var save: String?
    @Flag(name: .long, help: "Include the response headers in value.headers.") var headers = false
    @Option(name: .long, help: "Write only records whose status matches, e.g. 200,3xx.") var matchStatus: String?
    @Option(name: .long, help: "Do not write records whose status matches, e.g. 404,5xx.") var filterStatus: String?
    @Flag(name: .customLong("http1.1"), help: "HTTP/1.1 only.") var http11 = false
    @Flag(name: .long, help: "HTTP/2 (prior knowledge for http://).") var http2 = false
    @Option(name: .long, help: "CA bundle to verify servers with.") var cacert: String?
    @Flag(name: [.customShort("k"), .long], help: "Do not verify TLS certificates.") var insecure = false
    @Option(name: .long, help: "Scheme for lines without one.") var scheme = "https"
    @OptionGroup var hubs: HubOptions

    func validate() throws {
        guard perHost >= 1 else { throw ValidationError("--per-host must be at least 1") }
        guard retries >= 0, maxRedirects >= 0, maxBody >= 0 else { throw ValidationError("negative limit") }
        guard connectTimeout > 0, maxTime > 0 else { throw ValidationError("timeouts must be positive") }
        guard !(http11 && http2) else { throw ValidationError("--http1.1 and --http2 exclude each other") }
        guard ["http", "https"].contains(scheme) else { throw ValidationError("--scheme must be http or https") }
        for h in header where !h.contains(":") { throw ValidationError("header '\(h)' is not 'Name: value'") }
    }

    func run() async throws {
        var c = FetchConfiguration()
        c.concurrency = run.concurrency
        c.perHost = perHost
        c.followRedirects = location
        c.maxRedirects = maxRedirects
        c.retries = retries
        c.retryMaxWait = retryMaxWait
        c.connectTimeout = connectTimeout
        c.maxTime = maxTime
        c.method = method?.uppercased() ?? (data != nil ? "POST" : "GET")
        c.headers = header
        c.body = data.map { Array($0.utf8) }
        if let userAgent { c.userAgent = userAgent }
        c.proxy = proxy
        c.maxBody = maxBody
        c.includeHeaders = headers
        c.httpVersion = http11 ? .http1_1 : (http2 ? .http2 : .automatic)
        c.caCert = cacert
        c.insecure = insecure
        c.defaultScheme = scheme
        if let save {
            do { try FileManager.default.createDirectory(atPath: save, withIntermediateDirectories: true) } catch {
                throw ValidationError("--save \(save): \(error.localizedDescription)")
            }
            c.saveDirectory = save
        }
        let match: StatusFilter?
        let filter: StatusFilter?
        do {
            match = try matchStatus.map { try StatusFilter(parsing: $0) }
            filter = try filterStatus.map { try StatusFilter(parsing: $0) }
        } catch let e as FetchError { throw ValidationError(e.message) }

        // Arguments that are URLs (and not files) are jobs themselves, read first.
        let inputs = try run.inputs()
        defer { withExtendedLifetime(inputs.arguments) {} }
        let (reader, hub, resolver) = try await Runner.start(
            files: inputs.paths, names: inputs.names, dns: try dns.configuration(concurrency: run.concurrency, hostsFile: true))
        // Only once the inputs and the resolver are ready (see resolve).
        let outputFD = try run.openOutput(else: hub)
        do {
            c.warc = try warc.open(command: "spate fetch", info: [WARCWriter.Field("robots", "ignore")])
        } catch {
            hub.shutdown()
            throw error
        }
        let fetchers = try await hubs.startFetchers(home: hub, resolver: resolver, configuration: c, concurrency: run.concurrency)
        var job = FetchJob(fetchers: fetchers)
        job.matchStatus = match
        job.filterStatus = filter
        var options = run.batchOptions
        options.includeSource = inputs.paths.count > 1
        let status = await Runner.execute(kind: job, options: options, reader: reader, hub: hub, outputFD: outputFD,
                                          command: "spate fetch", unit: "URLs", quiet: run.quiet)
        fetchers.shutdown()
        throw ExitCode(WARCOptions.close(c.warc, command: "spate fetch", status: status.rawValue))
    }
}
