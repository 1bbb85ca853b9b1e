import Foundation
import Glibc

/// What the reporter needs from a run (``BatchRunner``, ``Crawler``). Thread-safe.
public protocol RunProgress: AnyObject, Sendable {
    var statistics: RunStatistics { get }
    var inFlightCount: Int { get }
    var startedAt: UInt64 { get }
    var stoppedBecause: StopReason? { get }
    /// False when a stop left input unread.
    var readToEnd: Bool { get }
    var readError: String? { get }
    /// The errno of a failed write of records (stop reason `output_failed`).
    var outputError: Int32 { get }
    /// Flushes buffered records.
    func flush()
}

extension BatchRunner: RunProgress {}

/// The stderr side of a run: a live progress line when stderr is a terminal, the summary
/// at the end, and the periodic flush that keeps records flowing into a pipe.
public final class RunReporter: @unchecked Sendable {
    private let runner: any RunProgress
    private let command: String
    private let unit: String
    private let showProgress: Bool
    private var ticker: Task<Void, Never>? = nil

    /// `unit` names what is counted per second ("names", "URLs").
    public init(runner: any RunProgress, command: String, unit: String, quiet: Bool) {
        self.runner = runner
        self.command = command
        self.unit = unit
        self.showProgress = !quiet && isatty(2) == 1
    }

    /// Starts the ticker: flushes records every 100 ms, redraws progress every 250 ms.
    public func start() {
        ticker = Task.detached { [self] in
            var n = 0
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 100_000_000)
                runner.flush()
                n += 1
                if showProgress && n % 3 == 0 { drawProgress() }
            }
        }
    }

    public func stop() {
        ticker?.cancel()
        if showProgress { StandardError.write("\r\u{1B}[K") }
    }

    private func drawProgress() {
        let s = runner.statistics
        let secs = Double(monotonicNanos() - runner.startedAt) / 1e9
        let rate = secs > 0 ? Double(s.finished) / secs : 0
        let line = "\r\u{1B}[K\(command): \(s.finished) done, \(runner.inFlightCount) in flight, \(s.failed) failed, \(Self.number(rate)) \(unit)/s"
        StandardError.write(line)
    }

    /// The summary: counts per outcome, latency percentiles and the rate.
    public func summary() -> String {
        let s = runner.statistics
        let secs = Double(monotonicNanos() - runner.startedAt) / 1e9
        let rate = secs > 0 ? Double(s.finished) / secs : 0
        var parts = ["\(s.jobs) jobs", "\(s.successful) successful"]
        let failures = s.failures.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        parts.append("\(s.failed) failed" + (failures.isEmpty ? "" : " (\(failures))"))
        if !s.tallies.isEmpty {
            parts.append("status " + s.tallies.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if s.bytes > 0 { parts.append(String(format: "%.1f MB", Double(s.bytes) / 1e6)) }
        if s.filtered > 0 { parts.append("\(s.filtered) filtered out") }
        if s.hosts > 0 { parts.append("\(s.hosts) hosts") }
        if s.unfinished > 0 {
            parts.append("\(s.unfinished) unfinished (\(s.unfinishedRunning) running, \(s.unfinishedNotStarted) not started)")
        }
        var text = "\(command): " + parts.joined(separator: ", ")
            + String(format: " in %.2f s, %@ \(unit)/s", secs, Self.number(rate))
        if let reason = runner.stoppedBecause { text += "; stopped: \(reason.rawValue)" }
        if !s.drops.isEmpty {
            text += "\nlinks not followed: " + s.drops.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        if !runner.readToEnd { text += "; input not read to the end" }
        if !s.events.isEmpty {
            text += "\nevents: " + s.events.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        let l = s.latency
        if l.count > 0 {
            text += String(format: "\nlatency ms: p50 %.2f, p95 %.2f, p99 %.2f, max %.2f",
                           Double(l.quantile(0.5)) / 1000, Double(l.quantile(0.95)) / 1000,
                           Double(l.quantile(0.99)) / 1000, Double(l.maxMicros) / 1000)
        }
        return text
    }

    static func number(_ v: Double) -> String {
        let n = Int(v.rounded())
        var s = String(n)
        var i = s.count - 3
        while i > 0 { s.insert(",", at: s.index(s.startIndex, offsetBy: i)); i -= 3 }
        return s
    }
}

/// Exit codes, documented in the README.
public enum ExitStatus: Int32, Sendable {
    case allSuccessful = 0
    case someFailed = 1
    case usage = 2
    case interrupted = 130
    case outputClosed = 141

    public static func of(_ runner: any RunProgress) -> ExitStatus {
        switch runner.stoppedBecause {
        case .interrupted: return .interrupted
        case .outputClosed: return .outputClosed
        case .outputFailed: return .someFailed
        case .joinTimeout, nil: break
        }
        let s = runner.statistics
        if runner.readError != nil || !runner.readToEnd { return .someFailed }
        return s.successful + s.declined == s.jobs ? .allSuccessful : .someFailed
    }
}
