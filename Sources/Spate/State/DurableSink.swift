import Foundation
import Glibc
import Synchronization

/// The record output of a crawl with `--state`: records are held and written at
/// checkpoints, after the journal entries they depend on (see ``CrawlState`` for the order).
///
/// A checkpointer thread runs one every `interval` seconds, or sooner when 4 MiB of records
/// wait. Records reach the output at most `interval` later than without `--state` — the
/// price of never writing a record whose links the journal could lose. With stdout (no
/// `-o`), a crash can repeat records a reader already took (they are fetched again): use
/// `-o FILE` for exactly-once output.
///
/// A write error (a full disk: ENOSPC, EFBIG under a file size limit, EIO) stops
/// checkpoints for good and is reported once through `onError`; the journal then ends
/// at the last complete checkpoint (a torn entry is cut when it is read again), so the
/// same command resumes.
final class DurableSink: RecordEmitter, @unchecked Sendable {
    private struct Held {
        var records: [UInt8] = []
        var jobs: [Int] = []
    }

    enum Failure: Sendable {
        case journal(Int32)
        case output(Int32)
        case warc(Int32)
    }

    private let journal: JournalFile
    /// The crawl's WARC archive: synced before the records that point into it are written.
    private let warc: WARCWriter?
    private let outputFD: Int32
    private let isFile: Bool
    private let interval: Double
    private let onError: @Sendable (Failure) -> Void
    private let held = Mutex(Held())
    private let cond = NSCondition()
    private var wanted = 0          // checkpoints asked for
    private var completed = 0       // checkpoints done
    private var stopping = false
    private var failed = false
    private var offset: Int64
    private var started = false
    static let earlyBytes = 4 << 20

    init(journal: JournalFile, outputFD: Int32, isFile: Bool, offset: Int64, interval: Double, warc: WARCWriter? = nil,
         onError: @escaping @Sendable (Failure) -> Void) {
        self.journal = journal
        self.warc = warc
        self.outputFD = outputFD
        self.isFile = isFile
        self.offset = offset
        self.interval = interval
        self.onError = onError
    }

    func start() {
        cond.lock()
        defer { cond.unlock() }
        guard !started else { return }
        started = true
        makeNamedThread("spate-checkpt") { [self] in loop() }.start()
    }

    var ordered: Bool { false }

    func emit(_ index: Int, _ record: UnsafeRawBufferPointer) {
        let early = held.withLock { h -> Bool in
            h.records.append(contentsOf: record)
            h.records.append(0x0A)
            h.jobs.append(index)
            return h.records.count >= Self.earlyBytes && h.records.count - record.count - 1 < Self.earlyBytes
        }
        if early { request(wait: false) }
    }

    /// Periodic flushes are the checkpointer's own; `wait` runs a checkpoint now and waits
    /// for it (the end of a run).
    func flush(wait: Bool) {
        if wait { request(wait: true) }
    }

    /// Ends the checkpointer after a last checkpoint; `complete` marks the crawl finished.
    func finish(complete: Bool) {
        if complete { journal.append(.complete) }
        request(wait: true)
        cond.lock()
        stopping = true
        cond.broadcast()
        cond.unlock()
        if !isFailed { _ = fsync(journal.fd) }
    }

    private func request(wait: Bool) {
        cond.lock()
        if !started {
            cond.unlock()
            checkpoint()
            return
        }
        wanted += 1
        let ticket = wanted
        cond.broadcast()
        while wait && completed < ticket && !failed { cond.wait() }
        cond.unlock()
    }

    private func loop() {
        while true {
            cond.lock()
            let deadline = Date(timeIntervalSinceNow: interval)
            while wanted == completed && !stopping {
                if !cond.wait(until: deadline) { break }
            }
            if stopping && wanted == completed { cond.unlock(); return }
            let ticket = wanted
            cond.unlock()
            checkpoint()
            cond.lock()
            completed = max(completed, ticket)
            cond.broadcast()
            cond.unlock()
        }
    }

    /// One checkpoint: journal (fsync), records (fsync for a file), then D and C entries.
    private func checkpoint() {
        guard !isFailed else { return }
        // Records first, then the journal: every record taken here was made after the
        // journal entries it depends on, so those are in the journal bytes taken next.
        let h = held.withLock { h -> Held in
            var out = Held()
            swap(&out, &h)
            return out
        }
        let entries = journal.take()
        if !entries.isEmpty {
            if let e = writeFully(journal.fd, entries) { fail(.journal(e)); return }
            if fsync(journal.fd) != 0 { fail(.journal(errno)); return }
        }
        guard !h.records.isEmpty else { return }
        if let warc, let e = warc.sync() { fail(.warc(e)); return }
        if let e = writeFully(outputFD, h.records) { fail(.output(e)); return }
        if isFile && fsync(outputFD) != 0 { fail(.output(errno)); return }
        offset += Int64(h.records.count)
        var tail: [UInt8] = []
        JournalEntry.done(h.jobs).encode(into: &tail)
        if isFile { JournalEntry.committed(offset).encode(into: &tail) }
        if let e = writeFully(journal.fd, tail) { fail(.journal(e)); return }
    }

    private var isFailed: Bool { cond.lock(); defer { cond.unlock() }; return failed }

    private func fail(_ f: Failure) {
        cond.lock()
        failed = true
        cond.broadcast()
        cond.unlock()
        onError(f)
    }
}
