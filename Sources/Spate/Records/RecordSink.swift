import Foundation
import Glibc
import Synchronization

/// Where a run's records go: ``RecordSink`` (stdout or a file, streamed), or a crawl's
/// durable output (`--state`), which writes them at checkpoints.
protocol RecordEmitter: AnyObject, Sendable {
    /// Adds (copies) the record of job `index` (without the trailing newline).
    func emit(_ index: Int, _ record: UnsafeRawBufferPointer)
    /// Hands buffered records on; with `wait`, returns once they are written.
    func flush(wait: Bool)
}

extension RecordEmitter {
    func emit(_ index: Int, _ record: [UInt8]) {
        record.withUnsafeBytes { emit(index, $0) }
    }
}

/// Writes JSON Lines records to a file descriptor (stdout by default), in completion
/// order or, with `ordered`, in job order.
///
/// Records are collected in a buffer; full 64 KiB blocks (and whatever ``flush()`` finds,
/// which the runner calls periodically so a pipe into jq sees records promptly) go to a
/// writer thread. Jobs finish on the hub, and the hub must never sit in `write(2)` on a slow
/// pipe while DNS replies wait; the block queue is bounded, so a reader that stops reading
/// still back-pressures the jobs. A closed pipe (EPIPE) or another write error is reported
/// once through `onError`.
public final class RecordSink: RecordEmitter, Sendable {
    private struct State {
        var buffer: [UInt8] = []
        var pending: [Int: [UInt8]] = [:]
        var next = 0
    }

    public let ordered: Bool
    private let state = Mutex(State())
    private let writer: BlockWriter
    /// Held from cutting a block out of the buffer until it is queued on the writer. Cut
    /// under `state` and queued after it, a block taken by one thread (the periodic
    /// flush) could be overtaken: by another thread's block (ordered output out of order),
    /// or by the final `flush(wait: true)`, which found the buffer empty and the queue
    /// drained and returned while that block was still in the other thread's hands (to be
    /// written after the run ended, or never). Lock order: `handOff`, then `state`.
    private let handOff = Mutex(())

    public init(fd: Int32 = 1, ordered: Bool, onError: @escaping @Sendable (Int32) -> Void) {
        self.ordered = ordered
        self.writer = BlockWriter(fd: fd, onError: onError)
        state.withLock { $0.buffer.reserveCapacity(80 * 1024) }
    }

    /// The lowest job index not yet written (ordered mode).
    public var nextIndex: Int { state.withLock { $0.next } }

    /// Adds the record of job `index` (without the trailing newline).
    public func emit(_ index: Int, _ record: [UInt8]) {
        record.withUnsafeBytes { emit(index, $0) }
    }

    public func emit(_ index: Int, _ record: UnsafeRawBufferPointer) {
        let full = state.withLock { s -> Bool in
            if ordered && index != s.next {
                // Held for a while: exactly its size.
                s.pending[index] = Array(record)
                return false
            }
            append(&s, record)
            if ordered {
                // An empty pending entry is a skipped job (see `skip`).
                while let r = s.pending.removeValue(forKey: s.next) {
                    if r.isEmpty { s.next += 1 } else { append(&s, r) }
                }
            }
            return s.buffer.count >= 64 * 1024
        }
        if full { handOffBuffer() }
    }

    /// Marks job `index` as done without a record (an output filter dropped it): in
    /// ordered mode the jobs after it must not wait for it.
    public func skip(_ index: Int) {
        guard ordered else { return }
        let full = state.withLock { s -> Bool in
            if index != s.next {
                s.pending[index] = []
                return false
            }
            s.next += 1
            while let r = s.pending.removeValue(forKey: s.next) {
                if r.isEmpty { s.next += 1 } else { append(&s, r) }
            }
            return s.buffer.count >= 64 * 1024
        }
        if full { handOffBuffer() }
    }

    /// Hands the buffered records to the writer; with `wait`, returns once all are written.
    public func flush(wait: Bool = false) {
        handOffBuffer()
        if wait { writer.drain() }
    }

    /// Queues whatever the buffer holds on the writer (waits while its queue is full).
    private func handOffBuffer() {
        handOff.withLock { _ in
            let block = state.withLock { s -> [UInt8]? in s.buffer.isEmpty ? nil : take(&s) }
            if let block { writer.submit(block) }
        }
    }

    private func append(_ s: inout State, _ record: [UInt8]) {
        record.withUnsafeBytes { append(&s, $0) }
    }

    private func append(_ s: inout State, _ record: UnsafeRawBufferPointer) {
        s.buffer.append(contentsOf: record)
        s.buffer.append(0x0A)
        s.next += 1
    }

    private func take(_ s: inout State) -> [UInt8] {
        var block: [UInt8] = []
        block.reserveCapacity(80 * 1024)
        swap(&block, &s.buffer)
        return block
    }
}

/// A thread that writes blocks in order. `submit` waits while 16 blocks are queued.
private final class BlockWriter: @unchecked Sendable {
    private let fd: Int32
    private let onError: @Sendable (Int32) -> Void
    private let cond = NSCondition()
    private var queue: [[UInt8]] = []
    private var busy = false
    private var failed = false
    private var started = false

    init(fd: Int32, onError: @escaping @Sendable (Int32) -> Void) {
        self.fd = fd
        self.onError = onError
    }

    func submit(_ block: [UInt8]) {
        cond.lock()
        if !started {
            started = true
            makeNamedThread("spate-writer") { [self] in run() }.start()
        }
        while queue.count >= 16 && !failed { cond.wait() }
        if !failed { queue.append(block) }
        cond.broadcast()
        cond.unlock()
    }

    func drain() {
        cond.lock()
        while (!queue.isEmpty || busy) && !failed { cond.wait() }
        cond.unlock()
    }

    private func run() {
        while true {
            cond.lock()
            while queue.isEmpty { cond.wait() }
            let block = queue.removeFirst()
            busy = true
            cond.broadcast()
            cond.unlock()
            let error = write(block)
            cond.lock()
            busy = false
            if error != nil {
                failed = true
                queue.removeAll()
            }
            cond.broadcast()
            cond.unlock()
            if let error {
                onError(error)
                return
            }
        }
    }

    private func write(_ block: [UInt8]) -> Int32? { writeFully(fd, block) }
}

/// write(2) until done (``writeAll(_:_:)``); the errno on failure.
func writeFully(_ fd: Int32, _ bytes: [UInt8]) -> Int32? {
    bytes.withUnsafeBytes { writeAll(fd, $0) } ? nil : errno
}
