import Foundation
import Glibc
import Synchronization

/// The exception part of a record: a stable type code and a message.
public struct RecordException: Error, Sendable, Equatable {
    public var type: String
    public var message: String
    /// Extra members of the exception object (e.g. `curl_code`, `curl_message`).
    public var details: [(String, JSONValue)]

    public init(type: String, message: String, details: [(String, JSONValue)] = []) {
        self.type = type
        self.message = message
        self.details = details
    }

    public static func == (a: RecordException, b: RecordException) -> Bool {
        a.type == b.type && a.message == b.message && JSONValue.object(a.details) == JSONValue.object(b.details)
    }
}

/// What one finished job puts in its record.
public struct JobOutcome: Sendable {
    public var value: JSONValue
    /// Written as `value` instead of ``value`` when set (a fetch's typed value).
    public var valueWriter: (any RecordValue)? = nil
    public var exception: RecordException?
    /// Command-specific fields, written after the common ones.
    public var fields: [(String, JSONValue)]
    /// A class the summary counts (e.g. "2xx"), if any.
    public var tally: String? = nil
    /// Payload bytes, summed in the summary.
    public var bytes = 0
    /// Not written (an output filter such as `--match-status` dropped it); counted as filtered.
    public var filtered = false

    public init(value: JSONValue, exception: RecordException?, fields: [(String, JSONValue)] = []) {
        self.value = value
        self.exception = exception
        self.fields = fields
    }
}

/// One kind of job (resolve, later fetch and crawl): how a line becomes work, and the work.
public protocol JobKind: Sendable {
    associatedtype Work: Sendable
    /// Validates an input line. A failure becomes the job's record at once, no work runs.
    func prepare(_ line: InputLine) -> Result<Work, RecordException>
    /// Runs the work. Must return promptly once its task is cancelled.
    func run(_ work: Work) async -> JobOutcome
    /// Command fields for a record whose work produced no outcome — invalid input, or a
    /// job unfinished at a stop (e.g. `resolver: null`).
    var emptyFields: [(String, JSONValue)] { get }
    /// Where job tasks should run (nil = the global concurrent pool).
    var taskExecutor: (any TaskExecutor)? { get }
    /// Where this work's task should run (default: ``taskExecutor``; fetch spreads its jobs over several hubs).
    func taskExecutor(for work: Work) -> (any TaskExecutor)?
    /// The work as it starts (admitted, its task about to be made): a choice that depends on
    /// the load at that moment is made here, not when the line was read (default: unchanged).
    func admit(_ work: Work) -> Work
    /// The `input` field for a line, when it must not be echoed as read (credentials).
    func redact(_ text: String) -> String
}

extension JobKind {
    public var taskExecutor: (any TaskExecutor)? { nil }
    public func taskExecutor(for work: Work) -> (any TaskExecutor)? { taskExecutor }
    public func admit(_ work: Work) -> Work { work }
    public func redact(_ text: String) -> String { text }
}

/// Knobs shared by every subcommand.
public struct BatchOptions: Sendable {
    public var concurrency = 1000
    /// Jobs started per second, globally; 0 = unlimited.
    public var rate: Double = 0
    /// gevent's `joinall(timeout=)`: stop waiting after this many seconds.
    public var joinTimeout: Double? = nil
    /// A cancelling deadline per job: the job fails with `job_timeout`.
    public var jobTimeout: Double? = nil
    public var ordered = false
    /// Also write `file` and `line` in each record (set when there are several inputs).
    public var includeSource = false

    public init() {}
}

/// Why a run stopped before every job finished.
public enum StopReason: String, Sendable {
    case joinTimeout = "join_timeout"
    case interrupted
    case outputClosed = "output_closed"
    case outputFailed = "output_failed"
}

/// Runs one job per input line with admission control and writes one record per job.
///
/// The reader runs on its own thread (blocking reads and back-pressure waits must not
/// occupy the cooperative pool); each admitted line becomes a task. The in-flight table is
/// the single place a job's record is decided: whoever removes a job from it — the job
/// finishing, or a stop (join timeout, Ctrl-C, closed stdout) — writes its record, so every
/// job gets exactly one. The run ends only once every such record is in the sink (see
/// `recordsOwed`).
public final class BatchRunner<Kind: JobKind>: @unchecked Sendable {
    private struct Entry {
        var input: InputLine
        var startedAt: UInt64
        var task: Task<Void, Never>? = nil
        var timer: HubTimer? = nil
        var deadlineHit = false
    }

    public let kind: Kind
    public let options: BatchOptions
    private let hub: Hub?
    private let reader: LineReader
    private var sink: RecordSink!

    // Everything below is guarded by `gate` (a lock with a condition for the reader).
    private let gate = Gate()
    private var inflight: [Int: Entry] = [:]
    private var stopReason: StopReason? = nil
    private var outputErrno: Int32 = 0
    private var readerDone = false
    private var stats = RunStatistics()
    private var completion: CheckedContinuation<Void, Never>? = nil
    private var completed = false
    private var inputError: String? = nil
    private var inputFullyRead = true
    /// The reader sleeps on `gate` while the in-flight table is full; it is woken only once
    /// the table has drained to `lowWater`, so that a finishing job does not pay a thread
    /// wake-up each (measured: per-job wake-ups were a large share of the CPU).
    private var readerWaiting = false
    private let lowWater: Int
    /// Records decided under `gate` but emitted after it is released (a job removed from
    /// `inflight` by `finish` or `stop`, an invalid line): building a record must not hold
    /// the lock. Until they are in the sink the run is not over. Without this count an
    /// empty `inflight` was taken for "every record written": e.g. a join timeout empties
    /// the table, the reader writes the never-started lines, reaches the end and completes
    /// the run, and `run()` flushes and returns while the stopping thread (preempted on a
    /// loaded machine) has yet to emit the running jobs' records — lost at exit.
    /// Raised under `gate`, settled without it (see ``checkCompletion(settling:)``).
    private let recordsOwed = Atomic<Int>(0)
    /// Set (under `gate`) once the run can end — the reader is done, or a stop came — so
    /// that a finishing job takes `gate` a second time only then.
    private let mayComplete = Atomic<Bool>(false)
    /// Set (under `gate`) by the first ``stop(_:errno:)``; read by job tasks as they start.
    private let stopped = Atomic<Bool>(false)

    public let startedAt = monotonicNanos()

    public init(kind: Kind, options: BatchOptions, reader: LineReader, hub: Hub?, outputFD: Int32 = 1) {
        self.kind = kind
        self.options = options
        self.reader = reader
        self.hub = hub
        self.lowWater = max(0, options.concurrency - max(1, options.concurrency / 8))
        self.sink = RecordSink(fd: outputFD, ordered: options.ordered) { [unowned self] err in
            self.stop(err == EPIPE ? .outputClosed : .outputFailed, errno: err)
        }
    }

    /// Counters so far (for the progress line) and, after ``run()``, the final ones.
    public var statistics: RunStatistics { gate.lock(); defer { gate.unlock() }; return stats }
    public var inFlightCount: Int { gate.lock(); defer { gate.unlock() }; return inflight.count }
    public var stoppedBecause: StopReason? { gate.lock(); defer { gate.unlock() }; return stopReason }
    public var outputError: Int32 { gate.lock(); defer { gate.unlock() }; return outputErrno }
    public var readError: String? { gate.lock(); defer { gate.unlock() }; return inputError }
    /// False when a stop left input unread (a pipe or terminal is not drained).
    public var readToEnd: Bool { gate.lock(); defer { gate.unlock() }; return inputFullyRead }

    /// Runs every line to a record; returns when all are written or the run stopped.
    ///
    /// Specialised for the job kinds of this module: the CLI, in another module, would
    /// otherwise run the whole reader and record path as unspecialised generic code
    /// (metadata lookups and witness calls per job; perf: ~1 % of a fetch in the runtime's
    /// metadata caches alone). The generic entry jumps to the specialised one.
    @_specialize(where Kind == FetchJob)
    @_specialize(where Kind == ResolveJob)
    public func run() async {
        let thread = makeNamedThread("spate-reader", stackSize: 1 << 20) { self.readLoop() }
        var joinTimer: Task<Void, Never>? = nil
        if let t = options.joinTimeout {
            joinTimer = Task { [self] in
                try? await Task.sleep(nanoseconds: nanoseconds(seconds: t))
                if !Task.isCancelled { stop(.joinTimeout) }
            }
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            gate.lock()
            completion = c
            gate.unlock()
            thread.start()
        }
        joinTimer?.cancel()
        sink.flush(wait: true)
    }

    /// Flushes buffered records (called periodically by the CLI).
    public func flush() { sink.flush() }

    /// Stops admitting jobs; every job still running is written now as not ready, and
    /// (for regular files) every line not yet read as not started.
    public func stop(_ reason: StopReason, errno err: Int32 = 0) {
        gate.lock()
        if stopReason != nil { gate.unlock(); return }
        stopReason = reason
        stopped.store(true, ordering: .releasing)
        mayComplete.store(true, ordering: .sequentiallyConsistent)
        if reason == .outputFailed || reason == .outputClosed { outputErrno = err }
        if !readerDone && !reader.allRegularFiles { inputFullyRead = false }
        let abandoned = inflight
        inflight.removeAll()
        stats.unfinishedRunning += abandoned.count
        recordsOwed.add(1, ordering: .sequentiallyConsistent)   // the abandoned jobs' records, emitted below
        gate.broadcast()
        gate.unlock()
        for (index, entry) in abandoned.sorted(by: { $0.key < $1.key }) {
            if let timer = entry.timer { hub?.cancel(timer) }
            entry.task?.cancel()
            if reason != .outputClosed && reason != .outputFailed {
                emitUnfinished(index, entry.input, started: true, reason: reason)
            }
        }
        checkCompletion(settling: 1)
    }

    // MARK: - Reader thread

    /// A job admitted under `gate` whose task is not made yet (see ``startAdmitted(_:)``);
    /// `at`: when it was admitted (its `--job-timeout` counts from then).
    private typealias Admitted = (index: Int, work: Kind.Work, at: UInt64)

    private func readLoop() {
        var index = 0
        var nextDue = monotonicNanos()
        let interval = options.rate > 0 ? max(1, nanoseconds(seconds: 1 / options.rate)) : 0
        let window = options.ordered ? max(4 * options.concurrency, 65_536) : Int.max
        // Lines are taken in batches: one read that may block, then those already read in
        // (never waiting for more). A batch is admitted in one critical section and its
        // tasks registered in one more: two acquisitions of `gate` per batch, where there
        // were two per line, contended by the hubs finishing jobs (perf: futex waits and
        // wake-ups of this lock were ~4 % of a fetch run's CPU).
        let maxBatch = max(1, min(64, options.concurrency / 4))
        var batch: [(line: InputLine, prepared: Result<Kind.Work, RecordException>)] = []
        var admitted: [Admitted] = []
        var readFailure: String? = nil
        var ended = false
        while !ended && readFailure == nil {
            batch.removeAll(keepingCapacity: true)
            do {
                var next = try reader.next()
                while var line = next {
                    line.job = index
                    index += 1
                    // Validation happens before admission: a bad line never takes a slot.
                    batch.append((line, kind.prepare(line)))
                    next = batch.count < maxBatch ? try reader.nextBuffered() : nil
                }
            } catch {
                readFailure = "\(error)"
            }
            if batch.isEmpty { break }

            gate.lock()
            for (k, (line, prepared)) in batch.enumerated() {
                let i = line.job
                stats.jobs += 1
                if case let .failure(exception) = prepared, stopReason == nil {
                    stats.failures[exception.type, default: 0] += 1
                    stats.latency.record(micros: 0)
                    // Owed: after a stop, input that is not a regular file does not wait for the reader.
                    recordsOwed.add(1, ordering: .sequentiallyConsistent)
                    // The jobs admitted before it start first: emitting may wait on the output.
                    startAdmitted(&admitted)
                    emitFinished(i, line, JobOutcome(value: .null, exception: exception, fields: kind.emptyFields), elapsed: 0)
                    checkCompletion(settling: 1)
                    gate.lock()
                    continue
                }
                if stopReason == nil && (inflight.count >= options.concurrency || i - sink.nextIndex >= window) {
                    // The jobs admitted so far hold slots: start them before waiting for one.
                    startAdmitted(&admitted)
                    gate.lock()
                    while stopReason == nil && (inflight.count >= options.concurrency || i - sink.nextIndex >= window) {
                        readerWaiting = true
                        if options.ordered { gate.wait(milliseconds: 50) } else { gate.wait() }
                        readerWaiting = false
                    }
                }
                if interval > 0 && stopReason == nil {
                    let now = monotonicNanos()
                    if nextDue < now { nextDue = now }
                    if nextDue > now {
                        startAdmitted(&admitted)   // each start at its due time, not at the batch's end
                        var ts = timespec(tv_sec: Int((nextDue - now) / 1_000_000_000), tv_nsec: Int((nextDue - now) % 1_000_000_000))
                        var rem = timespec()
                        while nanosleep(&ts, &rem) != 0 && errno == EINTR { ts = rem }
                        gate.lock()
                    }
                    nextDue += interval
                }
                guard stopReason == nil, case let .success(work) = prepared else {
                    // Stopped (join timeout, Ctrl-C, closed output): never started.
                    let reason = stopReason!
                    stats.unfinishedNotStarted += 1
                    let drain = (reason == .joinTimeout || reason == .interrupted) && reader.allRegularFiles
                    if !drain {
                        // Not drained: the rest of the batch was read, and is counted like this line.
                        let rest = batch.count - k - 1
                        stats.jobs += rest
                        stats.unfinishedNotStarted += rest
                        inputFullyRead = false; ended = true; break
                    }
                    gate.unlock()
                    emitUnfinished(i, line, started: false, reason: reason)
                    gate.lock()
                    continue
                }
                // The entry exists before the task does (so `finish` finds it).
                let now = monotonicNanos()
                inflight[i] = Entry(input: line, startedAt: now)
                admitted.append((i, work, now))
            }
            startAdmitted(&admitted)
        }
        if let readFailure {
            gate.lock(); inputError = readFailure; gate.unlock()
        }
        gate.lock()
        readerDone = true
        mayComplete.store(true, ordering: .sequentiallyConsistent)
        gate.unlock()
        checkCompletion()
    }

    /// Makes the tasks of the jobs admitted under `gate` (held on entry, released on
    /// return) and registers them.
    ///
    /// A job whose task runs on a hub has its task made *on that hub*, one hub turn per
    /// batch: the task's memory is then allocated and freed by the same thread. Made here
    /// on the reader thread, every task (and its closure) was freed by a hub into the
    /// reader's malloc arena, and the two threads contended for that arena's lock on most
    /// jobs (perf: ~24,000 futex calls per 100,000 fetched URLs, the largest share). The
    /// tasks are made after `gate` is released: the hubs finishing jobs wait for it.
    private func startAdmitted(_ admitted: inout [Admitted]) {
        gate.unlock()
        if admitted.isEmpty { return }
        // Each job's hub, then one exactly sized list per hub (a handful of hubs: searched
        // in a small array).
        var hubs: [(hub: Hub?, count: Int)] = []
        var target: [Int] = []
        target.reserveCapacity(admitted.count)
        for k in admitted.indices {
            admitted[k].work = kind.admit(admitted[k].work)
            let hub = (kind.taskExecutor(for: admitted[k].work) as? HubTaskExecutor)?.hub
            if let g = hubs.firstIndex(where: { $0.hub === hub }) {
                hubs[g].count += 1
                target.append(g)
            } else {
                hubs.append((hub, 1))
                target.append(hubs.count - 1)
            }
        }
        for (g, (hub, count)) in hubs.enumerated() {
            var jobs: [Admitted] = []
            jobs.reserveCapacity(count)
            for k in admitted.indices where target[k] == g { jobs.append(admitted[k]) }
            if let hub {
                hub.execute { [self, jobs] in makeTasks(jobs) }
            } else {
                makeTasks(jobs)
            }
        }
        admitted.removeAll(keepingCapacity: true)
    }

    /// Makes and registers the tasks of admitted jobs, on the calling thread.
    private func makeTasks(_ jobs: [Admitted]) {
        var made: [(index: Int, task: Task<Void, Never>, timer: HubTimer?)] = []
        made.reserveCapacity(jobs.count)
        for (i, work, admittedAt) in jobs {
            let task = Task(executorPreference: kind.taskExecutor(for: work)) { [self] in
                // A stop between the entry and the task wrote this job's record already (as
                // not finished) and could not cancel a task it did not see: do not start it.
                if stopped.load(ordering: .acquiring) { return }
                let outcome = await kind.run(work)
                finish(i, outcome)
            }
            let timer = options.jobTimeout.flatMap { jt in
                // Counted from admission: the task is made a hub turn later, on its hub.
                let waited = monotonicNanos() &- admittedAt
                let limit = nanoseconds(seconds: jt)
                return hub?.schedule(afterNanos: limit > waited ? limit - waited : 0) { [self] in deadline(i) }
            }
            made.append((i, task, timer))
        }
        var cancel: [Task<Void, Never>] = []
        var unusedTimers: [HubTimer] = []
        gate.lock()
        for (i, task, timer) in made {
            if inflight[i] != nil {
                inflight[i]!.task = task
                inflight[i]!.timer = timer
                if inflight[i]!.deadlineHit { cancel.append(task) }
            } else {
                // Finished already, or written as unfinished by a stop that could not cancel
                // a task it did not see yet: cancel it now; its record is written either way.
                if stopReason != nil { cancel.append(task) }
                if let timer { unusedTimers.append(timer) }
            }
        }
        gate.unlock()
        for task in cancel { task.cancel() }
        for timer in unusedTimers { hub?.cancel(timer) }
    }

    // MARK: - Job completion

    private func deadline(_ index: Int) {
        gate.lock()
        inflight[index]?.deadlineHit = true
        let task = inflight[index]?.task
        gate.unlock()
        task?.cancel()
    }

    private func finish(_ index: Int, _ outcome: JobOutcome) {
        let now = monotonicNanos()
        gate.lock()
        guard let entry = inflight.removeValue(forKey: index) else {
            gate.unlock()   // already written as unfinished by a stop
            return
        }
        recordsOwed.add(1, ordering: .sequentiallyConsistent)
        var outcome = outcome
        if entry.deadlineHit {
            outcome.value = .null
            outcome.valueWriter = nil
            outcome.exception = RecordException(type: "job_timeout", message: "job exceeded --job-timeout \(options.jobTimeout ?? 0) s")
        }
        let micros = (now - entry.startedAt) / 1000
        if let e = outcome.exception { stats.failures[e.type, default: 0] += 1 } else { stats.successful += 1 }
        if let tally = outcome.tally { stats.tallies[tally, default: 0] += 1 }
        stats.bytes += outcome.bytes
        if outcome.filtered { stats.filtered += 1 }
        stats.latency.record(micros: micros)
        if readerWaiting && inflight.count <= lowWater { gate.signal() }
        gate.unlock()
        if let timer = entry.timer { hub?.cancel(timer) }
        if outcome.filtered {
            sink.skip(index)
        } else {
            emitFinished(index, entry.input, outcome, elapsed: Double(micros) / 1000)
        }
        checkCompletion(settling: 1)
    }

    /// Ends the run when the reader is done, no job is in flight and no record is owed;
    /// `settling` records owed by the caller have just been emitted.
    ///
    /// Without `gate` while the run cannot end yet (the common case: a job finishing while
    /// the reader goes on). Sequentially consistent, so the last two events cannot both
    /// miss each other: a job that settles its record and then finds `mayComplete` false
    /// did so before the reader (or a stop) set it, which then checks and sees the settled
    /// count; one that finds it true checks itself.
    private func checkCompletion(settling: Int = 0) {
        if settling > 0 { recordsOwed.subtract(settling, ordering: .sequentiallyConsistent) }
        guard mayComplete.load(ordering: .sequentiallyConsistent) else { return }
        gate.lock()
        // After a stop, input that is not a regular file (a terminal, a pipe whose producer
        // goes on) is not waited for: the reader may be blocked in read(2) indefinitely.
        let readerFinished = readerDone || (stopReason != nil && !reader.allRegularFiles)
        guard !completed, readerFinished, inflight.isEmpty, recordsOwed.load(ordering: .sequentiallyConsistent) == 0,
              let c = completion else { gate.unlock(); return }
        completed = true
        completion = nil
        gate.unlock()
        c.resume()
    }

    // MARK: - Records

    private func head(_ w: inout JSONWriter, _ index: Int, _ input: InputLine) {
        w.byte(UInt8(ascii: "{"))
        w.field("job"); w.int(index)
        w.byte(UInt8(ascii: ",")); w.field("input")
        if let total = input.oversizedBytes {
            w.string(kind.redact(input.text) + "…")
            w.byte(UInt8(ascii: ",")); w.field("input_bytes"); w.int(total)
        } else {
            w.string(kind.redact(input.text))
        }
        if options.includeSource {
            w.byte(UInt8(ascii: ",")); w.field("file"); w.string(input.file)
            w.byte(UInt8(ascii: ",")); w.field("line"); w.int(input.line)
        }
    }

    private func tail(_ w: inout JSONWriter, _ fields: [(String, JSONValue)]) {
        for (k, v) in fields {
            w.byte(UInt8(ascii: ",")); w.key(k); v.write(to: &w)
        }
        w.byte(UInt8(ascii: "}"))
    }

    /// Writes job `index`'s record and hands it to the sink (which copies it: the writer's
    /// buffer is reused, no array per record).
    func emitFinished(_ index: Int, _ input: InputLine, _ outcome: JobOutcome, elapsed: Double) {
        var w = JSONWriter(capacity: JSONWriter.recordCapacity)
        head(&w, index, input)
        w.byte(UInt8(ascii: ",")); w.raw("\"started\":false,\"ready\":true,\"successful\":")
        w.raw(outcome.exception == nil ? "true" : "false")
        w.byte(UInt8(ascii: ",")); w.field("value")
        if let v = outcome.valueWriter { v.write(to: &w) } else { outcome.value.write(to: &w) }
        w.byte(UInt8(ascii: ",")); w.field("exception")
        if let e = outcome.exception {
            JSONValue.object([("type", .string(e.type)), ("message", .string(e.message))] + e.details).write(to: &w)
        } else {
            w.raw("null")
        }
        w.byte(UInt8(ascii: ",")); w.field("elapsed_ms"); w.double(elapsed)
        tail(&w, outcome.fields)
        w.withBytes { sink.emit(index, $0) }
    }

    func emitUnfinished(_ index: Int, _ input: InputLine, started: Bool, reason: StopReason) {
        var w = JSONWriter(capacity: 192)
        head(&w, index, input)
        w.byte(UInt8(ascii: ",")); w.field("started"); w.raw(started ? "true" : "false")
        w.byte(UInt8(ascii: ",")); w.raw("\"ready\":false,\"successful\":false,\"value\":null,\"exception\":null")
        w.byte(UInt8(ascii: ",")); w.field("reason"); w.string(reason.rawValue)
        tail(&w, kind.emptyFields)
        w.withBytes { sink.emit(index, $0) }
    }
}
