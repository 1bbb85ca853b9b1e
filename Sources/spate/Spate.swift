import ArgumentParser
import Foundation
import Spate

@main
struct SpateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spate",
        abstract: "Concurrent resolver, fetcher and crawler: one job per input line, one JSON record per job.",
        discussion: """
        Records go to stdout as JSON Lines (gevent's vocabulary: started, ready, successful,
        value, exception); a summary and progress go to stderr.

        Exit codes: 0 every job successful; 1 some failed or unfinished; 2 usage error;
        130 interrupted (Ctrl-C); 141 stdout closed by the reader.
        """,
        version: "0.1.0",
        subcommands: [Resolve.self, Fetch.self, Crawl.self]
    )

    /// swift-argument-parser exits 64 (EX_USAGE) on usage errors; spate documents 2, like
    /// most Unix tools (and curl, jq). Everything else — help, `ExitCode(n)` thrown by a
    /// subcommand — goes through the parser's own exit path unchanged.
    static func main() async {
        MallocTuning.runAgainWithTunedCache()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                StandardError.write((fullMessage(for: error) + "\n"))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
