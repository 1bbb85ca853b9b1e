import ArgumentParser
import Foundation
import Spate

/// Resolver flags, shared by `resolve` and `fetch`.
struct DNSOptions: ParsableArguments {
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

    @Option(name: .long, help: "Hosts file answered from memory (gethostbyname mode).")
    var hostsFile: String = "/etc/hosts"

    @Flag(name: .long, help: "Do not consult the hosts file.")
    var noHostsFile = false

    func validate() throws {
        guard dnsTimeout > 0 else { throw ValidationError("--dns-timeout must be positive") }
        guard (1...20).contains(tries) else { throw ValidationError("--tries must be between 1 and 20") }
    }

    /// The resolver configuration these flags describe.
    func configuration(concurrency: Int, hostsFile useHosts: Bool) throws -> ResolverConfiguration {
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
        configuration.resolvConfPath = resolvConf
        configuration.tryTimeout = dnsTimeout
        configuration.tries = tries
        configuration.size(forConcurrency: concurrency)
        if !noHostsFile && useHosts { configuration.hostsFile = HostsFile(path: hostsFile) }
        return configuration
    }
}
