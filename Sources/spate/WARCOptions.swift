import ArgumentParser
import Foundation
import Glibc
import Spate

/// `--warc FILE` and `--warc-max-size BYTES`, shared by `spate fetch` and `spate crawl`.
struct WARCOptions: ParsableArguments {
    @Option(name: .customLong("warc"), help: ArgumentHelp(
        "Archive every exchange as WARC 1.1 (request and response records, raw, each record gzip'd); FILE out.warc.gz writes out-00000.warc.gz, out-00001.warc.gz, ... (crawl --state: after the files already there, whose last one loses a torn record).",
        valueName: "file"))
    var file: String?

    @Option(name: .customLong("warc-max-size"), help: ArgumentHelp(
        "Start a new WARC file once the current one has reached this many bytes (1 GB = 10^9).", valueName: "bytes"))
    var maxSize: Int = 1_000_000_000

    func validate() throws {
        guard maxSize > 0 else { throw ValidationError("--warc-max-size must be positive") }
        if let file, file.isEmpty || file.hasSuffix("/") { throw ValidationError("--warc needs a file name, not '\(file)'") }
    }

    /// Opens the first WARC file and writes its `warcinfo` record (nil without `--warc`):
    /// `command` names the subcommand (`spate fetch`); `info` adds warcinfo fields such as
    /// `robots`. A file that cannot be created is a usage error (exit 2), before anything is
    /// fetched. `continuing` (a crawl with `--state`) keeps the files of earlier runs and cuts
    /// a torn record off the last one instead of replacing them: the writer's `continuation`
    /// says what it found.
    func open(command: String, info: [WARCWriter.Field] = [], continuing: Bool = false) throws -> WARCWriter? {
        guard let file else { return nil }
        var fields = [WARCWriter.Field("command", command),
                      WARCWriter.Field("command-line", CommandLine.arguments.map(Self.quoted).joined(separator: " "))]
        // gethostname(2), not ProcessInfo.hostName: no name lookup.
        var name = [UInt8](repeating: 0, count: 256)
        if name.withUnsafeMutableBytes({ gethostname($0.baseAddress!.assumingMemoryBound(to: CChar.self), 255) }) == 0, name[0] != 0 {
            fields.append(WARCWriter.Field("hostname", String(decoding: name.prefix(while: { $0 != 0 }), as: UTF8.self)))
        }
        fields += info
        do {
            return try WARCWriter(path: file, maxFileSize: maxSize,
                                  software: "spate/\(SpateCommand.configuration.version) (libcurl multi, c-ares)", info: fields,
                                  existing: continuing ? .continue : .replace)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// Closes the archive at the end of a run; a failure is reported on stderr and turns a
    /// successful run's exit status into 1.
    static func close(_ writer: WARCWriter?, command: String, status: Int32) -> Int32 {
        guard let writer else { return status }
        do {
            try writer.close()
            return status
        } catch {
            StandardError.write("\(command): \(error)\n")
            return status == 0 ? 1 : status
        }
    }

    /// An argument as a shell would need it (for the warcinfo's command line).
    private static func quoted(_ arg: String) -> String {
        if !arg.isEmpty && arg.allSatisfy({ $0.isLetter || $0.isNumber || "-_./:=,@%+".contains($0) }) { return arg }
        return "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
