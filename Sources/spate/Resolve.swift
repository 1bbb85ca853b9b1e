import ArgumentParser
import Foundation
import Spate

struct Resolve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Resolve host names (gethostbyname, or --type records) through c-ares.",
        discussion: """
        Default mode is gethostbyname: an IP answers itself, then the hosts file, then DNS A
        (search list applied, CNAMEs followed); the value is the first IPv4 address.
        With --type, each type is asked exactly (no search list) and the value is an object
        keyed by type; an IP input is asked for PTR on its reverse name.
        """
    )

    @OptionGroup var run: RunOptions

    @Option(name: [.short, .long], help: "Record types, comma-separated: A,AAAA,CNAME,MX,NS,TXT,PTR,SOA,SRV,CAA.")
    var type: String?

    @Option(name: [.short, .long], help: "Resolver IP[:PORT] ([IPv6]:PORT); repeatable. Default: the system's.")
    var resolver: [String] = []

    @Option(name: .long, help: "File with one resolver IP[:PORT] per line.")
    var resolvers: String?

    @Option(name: .long, help: "Read servers, search list and ndots from this resolv.conf.")
    var resolvConf: String?

    @Option(name: .long, help: "Per-try DNS timeout in seconds.")
    var dnsTimeout: Double = 2.0

    @Option(name: .long, help: "Tries per query; each retry asks the next resolver.")
    var tries: Int = 2

    @Option(name: .long, help: "Hosts file answered from memory in the default mode.")
    var hostsFile: String = "/etc/hosts"

    @Flag(name: .long, help: "Do not consult the hosts file.")
    var noHostsFile = false

    func validate() throws {
        guard dnsTimeout > 0 else { throw ValidationError("--dns-timeout must be positive") }
        guard (1...20).contains(tries) else { throw ValidationError("--tries must be between 1 and 20") }
    }

    func run() async throws {
        var configuration = ResolverConfiguration()
        do {
            configuration.servers = try resolver.map { try DNSServer(parsing: $0) }
            if let path = resolvers {
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw ValidationError("cannot read --resolvers file \(path)")
                }
                for line in text.split(whereSeparator: \.isNewline) {
                    let t = line.trimmingCharacters(in: .whitespaces)
                    if t.isEmpty || t.hasPrefix("#") { continue }
                    configuration.servers.append(try DNSServer(parsing: t))
                }
            }
        } catch let e as DNSError {
            throw ValidationError(e.message)
        }
        let types: [DNSRecordType]?
        do { types = try type.map { try DNSRecordType.parseList($0) } } catch let e as DNSError { throw ValidationError(e.message) }
        configuration.resolvConfPath = resolvConf
        configuration.tryTimeout = dnsTimeout
        configuration.tries = tries
        configuration.size(forConcurrency: run.concurrency)
        if !noHostsFile && types == nil { configuration.hostsFile = HostsFile(path: hostsFile) }

        let reader: LineReader
        do { reader = try LineReader(paths: run.files) } catch { throw ValidationError("\(error)") }

        let hub = try Hub()
        let dns: Resolver
        do {
            dns = try await Resolver.start(on: hub, configuration: configuration)
        } catch {
            hub.shutdown()
            throw ValidationError("\(error)")
        }
        let status = await Runner.execute(kind: ResolveJob(resolver: dns, types: types), options: run.batchOptions,
                                          reader: reader, hub: hub, command: "spate resolve", unit: "names", quiet: run.quiet)
        throw ExitCode(status.rawValue)
    }
}
