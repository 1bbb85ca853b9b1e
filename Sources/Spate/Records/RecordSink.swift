import Glibc
import Synchronization

/// Writes JSON Lines records to a file descriptor (stdout by default), in completion
/// order or, with `ordered`, in job order.
///
/// Records are buffered and written in 64 KiB blocks (and on ``flush()``, which the runner
/// calls periodically so a pipe into jq sees records promptly). The lock is held across
/// `write(2)`: a slow reader back-pressures the jobs, and records never interleave.
/// A closed pipe (EPIPE) or another write error is reported once through `onError`.
public final class RecordSink: Sendable {
    private struct State {
        var buffer: [UInt8] = []
        var pending: [Int: [UInt8]] = [:]
        var next = 0
        var failed: Int32? = nil
        var written = 0
    }

    private let fd: Int32
    public let ordered: Bool
    private let state = Mutex(State())
    private let onError: @Sendable (Int32) -> Void

    public init(fd: Int32 = 1, ordered: Bool, onError: @escaping @Sendable (Int32) -> Void) {
        self.fd = fd
        self.ordered = ordered
        self.onError = onError
        state.withLock { $0.buffer.reserveCapacity(128 * 1024) }
    }

    /// The lowest job index not yet written (ordered mode).
    public var nextIndex: Int { state.withLock { $0.next } }
    /// Records written so far.
    public var written: Int { state.withLock { $0.written } }

    /// Adds the record of job `index` (without the trailing newline).
    public func emit(_ index: Int, _ record: [UInt8]) {
        let error = state.withLock { s -> Int32? in
            if s.failed != nil { return nil }
            if ordered && index != s.next {
                s.pending[index] = record
                return nil
            }
            append(&s, record)
            if ordered {
                while let r = s.pending.removeValue(forKey: s.next) { append(&s, r) }
            }
            if s.buffer.count >= 64 * 1024 { return writeOut(&s) }
            return nil
        }
        if let error { onError(error) }
    }

    public func flush() {
        let error = state.withLock { s -> Int32? in s.failed == nil ? writeOut(&s) : nil }
        if let error { onError(error) }
    }

    private func append(_ s: inout State, _ record: [UInt8]) {
        s.buffer.append(contentsOf: record)
        s.buffer.append(0x0A)
        s.next += 1
        s.written += 1
    }

    private func writeOut(_ s: inout State) -> Int32? {
        var off = 0
        let count = s.buffer.count
        while off < count {
            let n = s.buffer.withUnsafeBytes { write(fd, $0.baseAddress! + off, count - off) }
            if n < 0 {
                if errno == EINTR { continue }
                s.failed = errno
                s.buffer.removeAll()
                return errno
            }
            off += n
        }
        s.buffer.removeAll(keepingCapacity: true)
        return nil
    }
}
