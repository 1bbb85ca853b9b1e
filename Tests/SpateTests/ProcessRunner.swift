import Foundation
import Glibc
import Synchronization

/// Runs the built `spate` binary for end-to-end tests: stdin from nothing, bytes (through a
/// pipe) or a file; stdout and stderr drained concurrently on their own threads (no pipe
/// deadlock); an async wait with a hard kill after a time limit, so a hung run fails the test
/// instead of hanging the suite.
final class SpateProcess: @unchecked Sendable {
    /// How the child's stdin is fed.
    enum Input: Sendable {
        /// `/dev/null`.
        case none
        /// Written into a pipe by a background thread, then closed.
        case bytes(Data)
        /// Written into a pipe that is left open (like a terminal or a producer that goes on).
        case openPipe(Data)
    }

    /// A finished (or killed) run.
    struct Result: Sendable {
        /// The exit status; for a run ended by a signal, the signal number (see `exited`).
        var status: Int32
        /// true: the process called exit; false: it died of a signal.
        var exited: Bool
        /// The run was killed by the test's time limit.
        var timedOut: Bool
        var stdout: Data
        var stderr: Data
        /// Wall-clock seconds from launch to exit.
        var seconds: Double

        var stderrText: String { String(decoding: stderr, as: UTF8.self) }
        var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    }

    struct MissingBinary: Error, CustomStringConvertible {
        var path: String
        var description: String {
            "spate binary not found at \(path): build it first (swift build --build-tests)"
        }
    }

    /// `.build/debug/spate` of this package, found from this source file's path
    /// (Tests/SpateTests/ProcessRunner.swift → package root).
    static func binaryPath(filePath: String = #filePath) throws -> String {
        let root = URL(fileURLWithPath: filePath)
            .deletingLastPathComponent()  // SpateTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // package root
        let path = root.appendingPathComponent(".build/debug/spate").path
        guard FileManager.default.isExecutableFile(atPath: path) else { throw MissingBinary(path: path) }
        return path
    }

    private struct State {
        var stdout = Data()
        var stderr = Data()
        var stdoutDone = false
        var stderrDone = false
        var exit: (status: Int32, exited: Bool)? = nil
        var endedAt: Date? = nil
        var timedOut = false
        var waiters: [CheckedContinuation<Void, Never>] = []

        var finished: Bool { stdoutDone && stderrDone && exit != nil }

        mutating func takeWaiters() -> [CheckedContinuation<Void, Never>] {
            defer { waiters.removeAll() }
            return waiters
        }
    }

    /// The state the reader threads, the termination handler and the waiter share.
    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    let process = Process()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let shared = Shared()
    private let launchedAt: Date
    /// Keeps an `.openPipe` stdin open for the life of this object.
    private var stdinKeeper: Pipe? = nil

    /// The read end of the child's stdout, for tests that read it themselves
    /// (`collectStdout: false`).
    var stdoutReader: FileHandle { stdoutPipe.fileHandleForReading }
    var pid: Int32 { process.processIdentifier }

    /// Launches `spate arguments…`. With `collectStdout: false` nothing reads stdout: the
    /// caller does, through ``stdoutReader``. `environment` is added to (or replaces
    /// variables of) the test runner's own.
    init(_ arguments: [String], input: Input = .none, collectStdout: Bool = true,
         environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: try Self.binaryPath())
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        var stdinPipe: Pipe? = nil
        switch input {
        case .none:
            process.standardInput = FileHandle.nullDevice
        case .bytes, .openPipe:
            let pipe = Pipe()
            process.standardInput = pipe
            stdinPipe = pipe
        }
        stdinKeeper = stdinPipe
        process.terminationHandler = { [shared] p in
            let exited = p.terminationReason == .exit
            let waiters = shared.state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.exit = (p.terminationStatus, exited)
                s.endedAt = Date()
                return s.finished ? s.takeWaiters() : []
            }
            for w in waiters { w.resume() }
        }
        launchedAt = Date()
        try Self.launchWithCleanSignalMask(process)

        if case .openPipe(let data) = input, let stdinPipe {
            let fd = stdinPipe.fileHandleForWriting.fileDescriptor
            data.withUnsafeBytes { raw in _ = write(fd, raw.baseAddress!, raw.count) }
        }
        if case .bytes(let data) = input, let stdinPipe {
            let handle = stdinPipe.fileHandleForWriting
            Self.thread("spate-e2e-stdin") {
                // A child that exits without reading everything must not SIGPIPE the test
                // runner: block SIGPIPE on this thread only (write then fails with EPIPE).
                var set = sigset_t()
                sigemptyset(&set)
                sigaddset(&set, SIGPIPE)
                pthread_sigmask(SIG_BLOCK, &set, nil)
                let fd = handle.fileDescriptor
                data.withUnsafeBytes { raw in
                    var offset = 0
                    while offset < raw.count {
                        let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                        if n < 0 {
                            if errno == EINTR { continue }
                            break
                        }
                        offset += n
                    }
                }
                try? handle.close()
            }
        }

        let errHandle = stderrPipe.fileHandleForReading
        Self.thread("spate-e2e-stderr") { [shared] in
            let data = Self.readToEnd(errHandle)
            let waiters = shared.state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.stderr = data
                s.stderrDone = true
                return s.finished ? s.takeWaiters() : []
            }
            for w in waiters { w.resume() }
        }
        if collectStdout {
            let outHandle = stdoutPipe.fileHandleForReading
            Self.thread("spate-e2e-stdout") { [shared] in
                let data = Self.readToEnd(outHandle)
                let waiters = shared.state.withLock { s -> [CheckedContinuation<Void, Never>] in
                    s.stdout = data
                    s.stdoutDone = true
                    return s.finished ? s.takeWaiters() : []
                }
                for w in waiters { w.resume() }
            }
        } else {
            shared.state.withLock { $0.stdoutDone = true }
        }
    }

    /// Sends SIGINT, as Ctrl-C would.
    func interrupt() { process.interrupt() }

    /// Waits for exit and for both pipes to reach end of file. After `timeLimit` seconds the
    /// process is killed (SIGKILL) and the result says `timedOut`.
    func finish(timeLimit: Double = 30) async -> Result {
        let pid = process.processIdentifier
        let watchdog = Task.detached { [shared] in
            try? await Task.sleep(nanoseconds: UInt64(timeLimit * 1e9))
            if Task.isCancelled { return }
            let running = shared.state.withLock { s -> Bool in
                if s.exit == nil { s.timedOut = true }
                return s.exit == nil
            }
            if running { kill(pid, SIGKILL) }
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = shared.state.withLock { s -> Bool in
                if s.finished { return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
        watchdog.cancel()
        return shared.state.withLock { s in
            Result(
                status: s.exit!.status, exited: s.exit!.exited, timedOut: s.timedOut,
                stdout: s.stdout, stderr: s.stderr,
                seconds: (s.endedAt ?? Date()).timeIntervalSince(launchedAt))
        }
    }

    /// Reads stdout up to and including the first newline, waiting at most `timeout` seconds
    /// in total. Returns what was read (possibly more than one line, never blocking past the
    /// deadline).
    func readFirstLine(timeout: Double) -> Data {
        let fd = stdoutPipe.fileHandleForReading.fileDescriptor
        let deadline = Date().addingTimeInterval(timeout)
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !data.contains(0x0A) {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { break }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(left, 1) * 1000) + 1)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 1) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }

    /// Starts `process` from a thread whose signal mask is empty, so the child starts with
    /// nothing blocked, as from a shell. (`Process.run()` passes the calling thread's mask on,
    /// and Swift concurrency / Dispatch worker threads block SIGINT, SIGTERM, SIGHUP…: a child
    /// started from a test would inherit those, and Ctrl-C handling would not be tested as
    /// it happens for real.)
    private static func launchWithCleanSignalMask(_ process: Process) throws {
        final class Outcome: @unchecked Sendable {
            var error: (any Error)? = nil
            let done = DispatchSemaphore(value: 0)
        }
        let outcome = Outcome()
        let launcher = Thread {
            var empty = sigset_t()
            sigemptyset(&empty)
            pthread_sigmask(SIG_SETMASK, &empty, nil)
            do { try process.run() } catch { outcome.error = error }
            outcome.done.signal()
        }
        launcher.name = "spate-e2e-launch"
        launcher.start()
        outcome.done.wait()
        if let error = outcome.error { throw error }
    }

    private static func readToEnd(_ handle: FileHandle) -> Data {
        let fd = handle.fileDescriptor
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }

    private static func thread(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.start()
    }
}

/// Runs `spate arguments…` to the end.
func runSpate(_ arguments: [String], input: SpateProcess.Input = .none, timeLimit: Double = 30) async throws
    -> SpateProcess.Result
{
    let process = try SpateProcess(arguments, input: input)
    return await process.finish(timeLimit: timeLimit)
}

/// A temporary file with `contents`, removed by ``remove()``.
struct TempFile: Sendable {
    let path: String

    init(_ contents: Data, name: String = "input") throws {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("spate-e2e-\(name)-\(UUID().uuidString).txt")
        try contents.write(to: url)
        path = url.path
    }

    init(lines: [String], name: String = "input") throws {
        try self.init(Data(lines.map { $0 + "\n" }.joined().utf8), name: name)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
