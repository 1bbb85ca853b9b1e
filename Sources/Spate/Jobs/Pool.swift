import Synchronization

/// A bounded pool of jobs with back-pressure (gevent's `Pool(size)`).
///
/// ``spawn(_:)`` waits while `size` jobs are running, so a producer reading a
/// million-line file never holds more than `size` jobs in memory.
public final class Pool: Sendable {
    private struct State {
        var running = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        var waiterHead = 0
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    public let size: Int
    private let state = Mutex(State())

    public init(size: Int) {
        precondition(size > 0, "pool size must be positive")
        self.size = size
    }

    /// Jobs currently running.
    public var running: Int { state.withLock { $0.running } }
    /// Free slots (gevent's `free_count()`).
    public var freeCount: Int { size - running }
    /// True when a spawn would wait (gevent's `full()`).
    public var full: Bool { running >= size }

    /// Waits for a free slot, then spawns `body` in it.
    public func spawn<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) async -> Job<Value> {
        await acquire()
        let job = Spate.spawn(body)
        job.link { [self] in self.release() }
        return job
    }

    /// Waits until no job of this pool is running (gevent's `pool.join()`).
    public func join() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.running == 0 { return true }
                s.idleWaiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    private func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.running < size && s.waiterHead == s.waiters.count {
                    s.running += 1
                    return true
                }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    private func release() {
        let (next, idle) = state.withLock { s -> (CheckedContinuation<Void, Never>?, [CheckedContinuation<Void, Never>]) in
            if s.waiterHead < s.waiters.count {
                // Hand the slot straight to the next waiter: `running` stays the same.
                let c = s.waiters[s.waiterHead]
                s.waiterHead += 1
                if s.waiterHead > 1024 && s.waiterHead * 2 > s.waiters.count {
                    s.waiters.removeFirst(s.waiterHead)
                    s.waiterHead = 0
                }
                return (c, [])
            }
            s.running -= 1
            if s.running == 0 {
                defer { s.idleWaiters.removeAll() }
                return (nil, s.idleWaiters)
            }
            return (nil, [])
        }
        next?.resume()
        for c in idle { c.resume() }
    }
}

/// Raised by ``withTimeout(_:_:)`` when the deadline passes (gevent's `Timeout`).
public struct TimeoutExpired: Error, Sendable, Equatable, CustomStringConvertible {
    public let seconds: Double
    public var description: String { "timed out after \(seconds) s" }
}

/// Runs `body` with a cancelling deadline (gevent's `with Timeout(seconds):`): when the
/// deadline passes first, `body` is cancelled and ``TimeoutExpired`` is thrown.
///
/// Distinct from the join timeout, which only stops *waiting*, and from per-operation
/// limits (c-ares tries × timeout), which fail the operation itself.
public func withTimeout<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(nanoseconds: nanoseconds(seconds: seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw TimeoutExpired(seconds: seconds) }
        guard let value = first else { throw TimeoutExpired(seconds: seconds) }
        return value
    }
}
