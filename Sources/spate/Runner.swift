import ArgumentParser
import Dispatch
import Foundation
import Glibc
import Spate

/// Wires a job kind to stdin/files, stdout, stderr and Ctrl-C; shared by every subcommand.
enum Runner {
    /// What every subcommand starts from: the input reader, the hub, and a resolver on it.
    /// Unreadable inputs and unusable resolver settings are usage errors (exit 2).
    static func start(files: [String], names: [String]? = nil, dns: ResolverConfiguration) async throws -> (LineReader, Hub, Resolver) {
        let reader: LineReader
        do { reader = try LineReader(paths: files, names: names) } catch { throw ValidationError("\(error)") }
        let hub = try Hub()
        do {
            return (reader, hub, try await Resolver.start(on: hub, configuration: dns))
        } catch {
            hub.shutdown()
            throw ValidationError("\(error)")
        }
    }

    static func execute<Kind: JobKind>(kind: Kind, options: BatchOptions, reader: LineReader, hub: Hub, outputFD: Int32 = 1,
                                       command: String, unit: String, quiet: Bool) async -> ExitStatus {
        let runner = BatchRunner(kind: kind, options: options, reader: reader, hub: hub, outputFD: outputFD)
        return await supervise(runner, hub: hub, command: command, unit: unit, quiet: quiet,
                               interrupt: { runner.stop(.interrupted) }, run: { await runner.run() })
    }

    /// Runs `run` with the reporter, Ctrl-C handling and the end-of-run messages.
    static func supervise(_ progress: any RunProgress, hub: Hub, command: String, unit: String, quiet: Bool,
                          interrupt: @escaping @Sendable () -> Void, run: () async -> Void) async -> ExitStatus {
        signal(SIGPIPE, SIG_IGN)
        // A file size limit (ulimit -f) makes writes fail with EFBIG instead of killing us.
        signal(SIGXFSZ, SIG_IGN)
        let reporter = RunReporter(runner: progress, command: command, unit: unit, quiet: quiet)

        // Ctrl-C: stop admitting, write unfinished jobs as not ready, flush, exit 130.
        // A second Ctrl-C exits at once.
        signal(SIGINT, SIG_IGN)
        let interrupts = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let count = InterruptCount()
        interrupts.setEventHandler {
            if count.increment() > 1 { _exit(130) }
            interrupt()
        }
        interrupts.resume()

        reporter.start()
        await run()
        reporter.stop()
        interrupts.cancel()
        hub.shutdown()

        let status = ExitStatus.of(progress)
        if let error = progress.readError { StandardError.write("\(command): input error: \(error)\n") }
        if progress.stoppedBecause == .outputFailed {
            StandardError.write("\(command): cannot write records: \(String(cString: strerror(progress.outputError)))\n")
        }
        if !quiet && status != .outputClosed {
            StandardError.write((reporter.summary() + "\n"))
        }
        return status
    }
}

final class InterruptCount: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() -> Int { lock.lock(); defer { lock.unlock() }; n += 1; return n }
}
