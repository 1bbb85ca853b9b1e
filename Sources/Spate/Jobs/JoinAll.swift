import Synchronization

/// Waits for jobs the way gevent's `joinall(jobs, timeout=None, raise_error=False, count=None)` does.
///
/// Returns the finished jobs **in completion order** (jobs already finished when the call
/// starts come first, in the order given). It returns when `count` jobs (default: all) have
/// finished, when `timeout` seconds have passed, or when the waiting task is cancelled.
/// It never kills the jobs still running: they go on, exactly like gevent's stragglers.
///
/// Task groups cannot do this (they wait for every child, and `Task.value` ignores the
/// waiter's cancellation), so it uses completion links and one waiter.
public func joinAll<Value>(_ jobs: [Job<Value>], timeout: Double? = nil, count: Int? = nil) async -> [Job<Value>] {
    let joiner = Joiner(target: min(count ?? jobs.count, jobs.count), raiseError: false)
    return await joiner.wait(jobs, timeout: timeout).map { jobs[$0] }
}

/// As ``joinAll(_:timeout:count:)``; with `raiseError: true` it stops at the first job that
/// finishes with an error and throws that error (gevent's `raise_error=True`).
public func joinAll<Value>(_ jobs: [Job<Value>], timeout: Double? = nil, count: Int? = nil, raiseError: Bool) async throws -> [Job<Value>] {
    let joiner = Joiner(target: min(count ?? jobs.count, jobs.count), raiseError: raiseError)
    let finished = await joiner.wait(jobs, timeout: timeout).map { jobs[$0] }
    if raiseError, let failed = finished.first(where: { $0.error != nil }), let error = failed.error {
        throw error
    }
    return finished
}

/// The waiter behind ``joinAll(_:timeout:count:)``.
private final class Joiner: Sendable {
    private struct State {
        var order: [Int] = []
        var continuation: CheckedContinuation<Void, Never>? = nil
        var done = false
    }

    private let state = Mutex(State())
    private let target: Int
    private let raiseError: Bool

    init(target: Int, raiseError: Bool) {
        self.target = target
        self.raiseError = raiseError
    }

    func wait<Value>(_ jobs: [Job<Value>], timeout: Double?) async -> [Int] {
        if target == 0 { return [] }
        var links: [Int] = []
        links.reserveCapacity(jobs.count)
        for (i, job) in jobs.enumerated() {
            links.append(job.link { [self] in self.finished(i, failed: job.error != nil) })
        }
        var timer: Task<Void, Never>? = nil
        if let timeout {
            timer = Task { [self] in
                try? await Task.sleep(nanoseconds: nanoseconds(seconds: timeout))
                if !Task.isCancelled { self.stop() }
            }
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.done { return true }
                    s.continuation = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            self.stop()
        }
        timer?.cancel()
        for (job, id) in zip(jobs, links) where id >= 0 { job.unlink(id) }
        return state.withLock { $0.order }
    }

    private func finished(_ index: Int, failed: Bool) {
        let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.done { return nil }
            s.order.append(index)
            if s.order.count >= target || (raiseError && failed) {
                s.done = true
                defer { s.continuation = nil }
                return s.continuation
            }
            return nil
        }
        c?.resume()
    }

    private func stop() {
        let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.done { return nil }
            s.done = true
            defer { s.continuation = nil }
            return s.continuation
        }
        c?.resume()
    }
}
