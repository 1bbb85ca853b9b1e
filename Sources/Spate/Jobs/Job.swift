import Synchronization

/// The error a killed job reports (gevent's `GreenletExit`).
///
/// Deliberate difference from gevent: gevent counts a killed greenlet as *successful* with
/// `GreenletExit` as its value; spate reports it as failed with this error, because a record
/// saying `"successful": true` for a job that never produced its answer would mislead every
/// `jq 'select(.successful)'` downstream.
public struct JobKilled: Error, Sendable, Equatable, CustomStringConvertible {
    public init() {}
    public var description: String { "job killed" }
}

/// A spawned unit of work with gevent's observable state (`Greenlet`).
///
/// | gevent              | spate          |
/// |---------------------|----------------|
/// | `bool(g)`/`started` | ``started``    |
/// | `g.ready()`         | ``ready``      |
/// | `g.successful()`    | ``successful`` |
/// | `g.value`           | ``value``      |
/// | `g.exception`       | ``error``      |
/// | `g.kill()`          | ``kill()``     |
/// | `g.join(timeout)`   | ``join(timeout:)`` |
/// | `g.get()`           | ``get()``      |
/// | `g.link(cb)`        | ``link(_:)``   |
public final class Job<Value: Sendable>: Sendable {
    private struct State {
        var finished = false
        var value: Value? = nil
        var error: (any Error)? = nil
        var killRequested = false
        var task: Task<Void, Never>? = nil
        var links: [(id: Int, callback: @Sendable () -> Void)] = []
        var nextLink = 0
        var finishedAt: UInt64 = 0
    }

    private let state = Mutex(State())
    /// When the job was spawned (monotonic ns).
    public let spawnedAt: UInt64

    init() { spawnedAt = monotonicNanos() }

    /// True from spawn until the job finishes (gevent: the greenlet is alive).
    public var started: Bool { !ready }
    /// Finished, successfully or not.
    public var ready: Bool { state.withLock { $0.finished } }
    /// Finished without an error.
    public var successful: Bool { state.withLock { $0.finished && $0.error == nil } }
    /// The value, once finished successfully.
    public var value: Value? { state.withLock { $0.value } }
    /// The error, once finished unsuccessfully (``JobKilled`` after ``kill()``).
    public var error: (any Error)? { state.withLock { $0.error } }
    /// Elapsed time from spawn to finish, in seconds; nil while running.
    public var elapsed: Double? {
        state.withLock { $0.finished ? Double($0.finishedAt - spawnedAt) / 1e9 : nil }
    }

    /// Cancels the job's task; the job finishes with ``JobKilled`` unless it had already
    /// finished. Does not wait (use ``join(timeout:)``).
    public func kill() {
        let task = state.withLock { s -> Task<Void, Never>? in
            if s.finished { return nil }
            s.killRequested = true
            return s.task
        }
        task?.cancel()
    }

    /// Calls `callback` once when the job finishes (at once if it already has).
    /// Returns an id for ``unlink(_:)``.
    @discardableResult
    public func link(_ callback: @escaping @Sendable () -> Void) -> Int {
        let (id, runNow) = state.withLock { s -> (Int, Bool) in
            if s.finished { return (-1, true) }
            s.nextLink += 1
            s.links.append((s.nextLink, callback))
            return (s.nextLink, false)
        }
        if runNow { callback() }
        return id
    }

    public func unlink(_ id: Int) {
        state.withLock { s in s.links.removeAll { $0.id == id } }
    }

    /// Waits until the job finishes or `timeout` seconds pass; returns ``ready``.
    @discardableResult
    public func join(timeout: Double? = nil) async -> Bool {
        _ = await joinAll([self], timeout: timeout)
        return ready
    }

    /// Waits for the job and returns its value or throws its error (gevent's `get()`).
    public func get() async throws -> Value {
        await join()
        let (value, error) = state.withLock { ($0.value, $0.error) }
        if let error { throw error }
        return value!
    }

    // MARK: - Internal

    func attach(_ task: Task<Void, Never>) {
        let cancelNow = state.withLock { s -> Bool in
            s.task = task
            return s.killRequested && !s.finished
        }
        if cancelNow { task.cancel() }
    }

    var killRequested: Bool { state.withLock { $0.killRequested } }

    func finish(value: Value?, error: (any Error)?) {
        let links = state.withLock { s -> [@Sendable () -> Void] in
            guard !s.finished else { return [] }
            s.finished = true
            s.value = error == nil ? value : nil
            s.error = error
            s.finishedAt = monotonicNanos()
            s.task = nil
            defer { s.links.removeAll() }
            return s.links.map(\.callback)
        }
        for l in links { l() }
    }
}

/// Starts `body` as a new job (gevent's `spawn`). The job starts at once.
@discardableResult
public func spawn<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) -> Job<Value> {
    let job = Job<Value>()
    let task = Task {
        if Task.isCancelled {
            job.finish(value: nil, error: JobKilled())
            return
        }
        do {
            let value = try await body()
            job.finish(value: value, error: nil)
        } catch {
            job.finish(value: nil, error: job.killRequested ? JobKilled() : error)
        }
    }
    job.attach(task)
    return job
}

/// Kills every job (gevent's `killall`), optionally waiting for them to finish.
public func killAll<Value>(_ jobs: [Job<Value>], wait: Bool = false, timeout: Double? = nil) async {
    for job in jobs { job.kill() }
    if wait { _ = await joinAll(jobs, timeout: timeout) }
}
