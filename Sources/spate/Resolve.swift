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
        keyed by type; an IP input is looked up on its reverse name.
        """
    )

    @OptionGroup var run: RunOptions
    @OptionGroup var dns: DNSOptions

    @Option(name: [.short, .long], help: "Record types, comma-separated: A,AAAA,CNAME,MX,NS,TXT,PTR,SOA,SRV,CAA.")
    var type: String?

    func run() async throws {
        let types: [DNSRecordType]?
        do { types = try type.map { try DNSRecordType.parseList($0) } } catch let e as DNSError { throw ValidationError(e.message) }
        let (reader, hub, resolver) = try await Runner.start(
            files: run.files, dns: try dns.configuration(concurrency: run.concurrency, hostsFile: types == nil))
        // Only once the inputs and the resolver are ready: a typo in an input's name must
        // not empty an existing --output file.
        let outputFD = try run.openOutput(else: hub)
        let status = await Runner.execute(kind: ResolveJob(resolver: resolver, types: types), options: run.batchOptions,
                                          reader: reader, hub: hub, outputFD: outputFD, command: "spate resolve", unit: "names", quiet: run.quiet)
        throw ExitCode(status.rawValue)
    }
}
