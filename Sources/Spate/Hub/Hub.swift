import CSpate
import Dispatch
import Foundation
import Glibc
import Synchronization

/// Something the hub drives besides raw fds: a c-ares channel set, later a `CURLM*`.
///
/// All three methods are called on the hub thread only. `nextDeadline` is asked once per
/// loop turn (c-ares' `ares_timeout` is O(in-flight) in 1.18, so sources cache it), `tick`
/// runs after socket events and due timers, and `shutdown` runs once when the hub stops —
/// this is where a source destroys its library handles (pending c-ares callbacks fire with
/// `ARES_EDESTRUCTION` there, still on the hub).
public protocol HubSource: AnyObject {
    func nextDeadline(now: UInt64) -> UInt64?
    func tick(now: UInt64)
    func shutdown()
}

/// A timer registered on the hub; cancel it with ``Hub/cancel(_:)``.
public struct HubTimer: Sendable, Hashable {
    let id: UInt64
}

/// The event loop: one thread running `epoll`, owning every c-ares channel (and, with
/// `spate fetch`, the `CURLM*`), as in DESIGN.md §2.
///
/// Work reaches the hub through a mutex-protected inbox plus an `eventfd`, written only
/// when no wake-up is already pending (SwiftNIO's `SelectableEventLoop` does the same):
/// under load producers pay one `write(2)` per loop turn, not one per message.
///
/// The hub is also a `SerialExecutor`: an actor whose `unownedExecutor` is the hub's runs
/// on the hub thread, and `checkIsolated()` lets `assumeIsolated` prove it at run time.
/// It deliberately is *not* also a `TaskExecutor` (one object conforming to both crashed
/// the runtime: apple/swift#71307).
///
/// Fd registrations carry a generation in the epoll user data, so an event queued for an fd
/// that was closed and reused during the same `epoll_wait` batch is recognised and skipped.
public final class Hub: SerialExecutor, @unchecked Sendable {
    private struct Inbox {
        var jobs: [UnownedJob] = []
        var taskJobs: [UnownedJob] = []
        var work: [@Sendable () -> Void] = []
        var wakePending = false
        var stopping = false
        var stopped = false
    }

    private struct Registration {
        var generation: UInt32
        var events: UInt32
        var handler: (UInt32) -> Void
        /// See ``park(fd:)``: no events are delivered; ``resume(fd:events:)`` brings it back.
        var parked = false
    }

    private static let wakeToken: UInt64 = .max

    private let inbox = Mutex(Inbox())
    private let epfd: Int32
    private let wakeFD: Int32
    private let started = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let timerIDs = Atomic<UInt64>(1)
    // Set once by the hub thread before `init` returns (the semaphore orders it).
    private nonisolated(unsafe) var hubThread = pthread_t()

    /// Job tasks that prefer this executor run on the hub thread (see ``HubTaskExecutor``).
    public private(set) var taskExecutor: HubTaskExecutor! = nil

    // Loop-confined state: touched on the hub thread only.
    /// Set when the hub itself queued work during this turn: the next `epoll_wait` must
    /// not block (no eventfd write is needed for work the hub queues for itself).
    private var queuedLocally = false
    /// Work ``post(to:_:)`` queued for other hubs this turn, by target.
    private var outbox: [(hub: Hub, work: [@Sendable () -> Void])] = []
    private var registrations: [Int32: Registration] = [:]
    private var nextGeneration: UInt32 = 1
    private var timers = TimerHeap()
    private var sources: [HubSource] = []

    /// Starts the hub thread.
    public init(name: String = "spate-hub") throws {
        epfd = cspate_epoll_create()
        guard epfd >= 0 else { throw HubError.system("epoll_create1", errno) }
        wakeFD = cspate_eventfd()
        guard wakeFD >= 0 else { close(epfd); throw HubError.system("eventfd", errno) }
        guard cspate_epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFD, cspate_EPOLLIN, Hub.wakeToken) == 0 else {
            close(epfd); close(wakeFD); throw HubError.system("epoll_ctl", errno)
        }
        taskExecutor = HubTaskExecutor(hub: self)
        makeNamedThread(name) { self.runLoop() }.start()
        started.wait()
    }

    deinit {
        close(epfd)
        close(wakeFD)
    }

    /// Makes the hub thread `increment` nicer than the process (its main thread, whose
    /// value `nice spate …` sets), at most 19; raising one's own nice value needs no
    /// privilege, and if the kernel refuses, the hub keeps its priority. A crawl's helper
    /// hubs run that way, so that the hub carrying the crawler gets the CPU first (see
    /// ``FetcherGroup/start(hubs:home:resolver:configuration:helperNice:)``).
    ///
    /// On Linux the nice value is per thread (`who` 0 is the calling thread), and a thread
    /// inherits it from the thread that creates it — the Swift pool's worker threads too,
    /// when one is started by a job this hub hands to the pool. So call it once the hub's
    /// set-up is done, on a hub whose jobs stay on hubs: in a crawl, pages run on their hub
    /// and finish on the crawler's, and the reader, writer, checkpoint and seed threads
    /// start from the caller or the home hub.
    /// https://man7.org/linux/man-pages/man2/setpriority.2.html (NOTES)
    public func runNicer(by increment: Int32) {
        guard increment > 0 else { return }
        let target = Int32(min(19, Int(Hub.processNice()) + Int(increment)))
        execute { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, target) }
    }

    /// The calling thread's nice value (-20...19).
    public static func threadNice() -> Int32 {
        errno = 0
        let n = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        return errno == 0 ? n : 0
    }

    /// The process's nice value: its main thread's (`who` = the process id names it).
    public static func processNice() -> Int32 {
        errno = 0
        let n = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(getpid()))
        return errno == 0 ? n : 0
    }

    // MARK: - Any thread

    /// True when the caller runs on the hub thread.
    public var isOnHub: Bool { pthread_equal(pthread_self(), hubThread) != 0 }

    /// Runs `work` on the hub thread on its next turn.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        if isOnHub {
            inbox.withLock { $0.work.append(work) }
            queuedLocally = true
            return
        }
        let signal = inbox.withLock { state -> Bool in
            state.work.append(work)
            return Hub.markWake(&state)
        }
        if signal { _ = cspate_eventfd_signal(wakeFD) }
    }

    /// Runs `work` on `target`'s thread, like `target.execute(work)`, but batched: what
    /// this hub posts to `target` during one turn goes over at the end of the turn, in one
    /// hand-over with at most one wake-up. Meant for this hub's own thread (elsewhere it is
    /// `target.execute(work)`). (Handed over one by one, a crawl's pages and their
    /// completions woke the other hub once or more per page.)
    public func post(to target: Hub, _ work: @escaping @Sendable () -> Void) {
        guard isOnHub, target !== self else { target.execute(work); return }
        if let i = outbox.firstIndex(where: { $0.hub === target }) {
            outbox[i].work.append(work)
        } else {
            outbox.append((target, [work]))
        }
    }

    private func flushOutbox() {
        guard !outbox.isEmpty else { return }
        let batches = outbox
        outbox.removeAll(keepingCapacity: true)
        for (target, work) in batches { target.execute(batch: work) }
    }

    private func execute(batch: [@Sendable () -> Void]) {
        let signal = inbox.withLock { state -> Bool in
            state.work.append(contentsOf: batch)
            return Hub.markWake(&state)
        }
        if signal { _ = cspate_eventfd_signal(wakeFD) }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        enqueue(UnownedJob(job), task: false)
    }

    fileprivate func enqueue(_ job: UnownedJob, task: Bool) {
        if isOnHub {
            inbox.withLock { state in
                if task { state.taskJobs.append(job) } else { state.jobs.append(job) }
            }
            queuedLocally = true
            return
        }
        let signal = inbox.withLock { state -> Bool in
            if task { state.taskJobs.append(job) } else { state.jobs.append(job) }
            return Hub.markWake(&state)
        }
        if signal { _ = cspate_eventfd_signal(wakeFD) }
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func checkIsolated() {
        precondition(isOnHub, "expected to run on the spate hub thread")
    }

    /// Runs `action` on the hub after `nanoseconds`. Callable from any thread.
    @discardableResult
    public func schedule(afterNanos nanoseconds: UInt64, _ action: @escaping @Sendable () -> Void) -> HubTimer {
        let timer = HubTimer(id: timerIDs.add(1, ordering: .relaxed).oldValue)
        let deadline = monotonicNanos() &+ nanoseconds
        if isOnHub {
            timers.insert(id: timer.id, deadline: deadline, action: action)
        } else {
            // Inserted on the hub's next turn: until then a cancel on the hub must be kept,
            // or the timer would be inserted after it and fire anyway.
            unplaced.withLock { _ = $0.pending.insert(timer.id) }
            execute { [self] in
                let cancelled = unplaced.withLock { u -> Bool in
                    u.pending.remove(timer.id)
                    return u.cancelled.remove(timer.id) != nil
                }
                if !cancelled { timers.insert(id: timer.id, deadline: deadline, action: action) }
            }
        }
        return timer
    }

    /// Cancels a timer; a no-op when it already fired. Callable from any thread.
    public func cancel(_ timer: HubTimer) {
        if isOnHub {
            let early = unplaced.withLock { u -> Bool in
                guard u.pending.contains(timer.id) else { return false }
                u.cancelled.insert(timer.id)
                return true
            }
            if !early { timers.cancel(id: timer.id) }
        } else {
            execute { [self] in timers.cancel(id: timer.id) }
        }
    }

    /// Timers scheduled from other threads and not yet inserted, and those of them already
    /// cancelled (both sets only ever hold timers whose insertion is queued).
    private struct Unplaced {
        var pending: Set<UInt64> = []
        var cancelled: Set<UInt64> = []
    }
    private let unplaced = Mutex(Unplaced())

    /// Stops the loop after the work already queued, shuts the sources down on the hub
    /// (curl handles, c-ares channels), closes their fds and joins the thread.
    /// Must not be called on the hub thread. Idempotent.
    public func shutdown() {
        precondition(!isOnHub, "Hub.shutdown() called on the hub thread")
        let (signal, alreadyStopped) = inbox.withLock { state -> (Bool, Bool) in
            if state.stopped { return (false, true) }
            state.stopping = true
            return (Hub.markWake(&state), false)
        }
        if alreadyStopped { return }
        if signal { _ = cspate_eventfd_signal(wakeFD) }
        finished.wait()
    }

    private static func markWake(_ state: inout Inbox) -> Bool {
        if state.wakePending { return false }
        state.wakePending = true
        return true
    }

    // MARK: - Hub thread only

    /// Watches `fd` for `events` (EPOLLIN/EPOLLOUT), replacing an earlier watch of the same
    /// fd. `handler` receives the epoll event flags and runs on the hub.
    public func watch(fd: Int32, events: UInt32, handler: @escaping (UInt32) -> Void) {
        assert(isOnHub)
        if var reg = registrations[fd] {
            reg.events = events
            reg.handler = handler
            reg.parked = false
            registrations[fd] = reg
            if cspate_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, events, Hub.token(fd, reg.generation)) == 0 { return }
            // A parked fd that was closed meanwhile (the kernel dropped its registration), and
            // perhaps reused for another file: register afresh, with a new generation.
            registrations[fd] = nil
        }
        let generation = nextGeneration
        nextGeneration &+= 1
        registrations[fd] = Registration(generation: generation, events: events, handler: handler)
        _ = cspate_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, events, Hub.token(fd, generation))
    }

    /// Changes the events of a watched fd, keeping its handler; false when `fd` is not
    /// watched (or parked). No syscall when the events are unchanged (curl re-announces
    /// sockets often).
    public func modify(fd: Int32, events: UInt32) -> Bool {
        assert(isOnHub)
        guard var reg = registrations[fd], !reg.parked else { return false }
        if reg.events == events { return true }
        reg.events = events
        registrations[fd] = reg
        _ = cspate_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, events, Hub.token(fd, reg.generation))
        return true
    }

    /// Stops watching `fd` (call before the owner closes it).
    public func unwatch(fd: Int32) {
        assert(isOnHub)
        if registrations.removeValue(forKey: fd) != nil {
            _ = cspate_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, 0, 0)
        }
    }

    /// Stops delivering `fd`'s events without a syscall, for a socket its owner may want
    /// again soon (curl's idle keep-alive connections: `CURL_POLL_REMOVE` after every
    /// transfer, then watched again by the next one — a DEL and an ADD per transfer, now
    /// one MOD). The kernel registration stays until the fd is watched again, an event
    /// arrives for it (then it is deleted: a level-triggered event nobody handles would
    /// spin), or the owner unwatches it before closing it (curl: CLOSESOCKETFUNCTION). A
    /// parked fd closed without that is dropped by the kernel only if no other process
    /// holds the socket; ``watch(fd:events:handler:)`` then finds out from MOD's failure
    /// and adds it afresh.
    public func park(fd: Int32) {
        assert(isOnHub)
        // Read and written back, not changed in place: the in-place accessor of a dictionary
        // of values this large allocates its frame (a malloc per park).
        guard var reg = registrations[fd] else { return }
        reg.parked = true
        registrations[fd] = reg
    }

    /// Watches a parked fd again for `events`, with the handler it had (the owner's socket
    /// under the same number: curl's kept-alive connection taken by the next transfer),
    /// so that no new handler is made per transfer. False when `fd` is not parked, or was
    /// closed meanwhile (the kernel dropped its registration; the number may now be
    /// another file's): then the owner watches it afresh.
    public func resume(fd: Int32, events: UInt32) -> Bool {
        assert(isOnHub)
        guard var reg = registrations[fd], reg.parked else { return false }
        reg.parked = false
        reg.events = events
        if cspate_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, events, Hub.token(fd, reg.generation)) != 0 {
            registrations[fd] = nil
            return false
        }
        registrations[fd] = reg
        return true
    }

    /// Adds a source the loop drives each turn until the hub stops.
    public func add(source: HubSource) {
        assert(isOnHub)
        sources.append(source)
    }

    private static func token(_ fd: Int32, _ generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
    }

    private func runLoop() {
        hubThread = pthread_self()
        started.signal()
        let maxEvents = 256
        var events = [UInt32](repeating: 0, count: maxEvents)
        var datas = [UInt64](repeating: 0, count: maxEvents)
        var jobs: [UnownedJob] = []
        var taskJobs: [UnownedJob] = []
        var work: [@Sendable () -> Void] = []
        let executor = asUnownedSerialExecutor()
        let taskExecutor = self.taskExecutor.asUnownedTaskExecutor()

        while true {
            // 1. The queued batch: everything queued before this swap, nothing after it,
            //    so a job that re-enqueues work cannot starve socket events.
            let stopping = inbox.withLock { state -> Bool in
                swap(&state.jobs, &jobs)
                swap(&state.taskJobs, &taskJobs)
                swap(&state.work, &work)
                state.wakePending = false
                return state.stopping
            }
            queuedLocally = false
            for item in work { item() }
            work.removeAll(keepingCapacity: true)
            // An actor job runs with the hub as its task executor too (SE-0417): a job task
            // (preferring the hub) that awaits another method of the same actor then goes on
            // inline. Run as plain serial jobs, every such await was re-enqueued here: 14
            // enqueues per fetched URL, now 5 (counted with a uprobe on `enqueue`).
            for job in jobs { job.runSynchronously(isolatedTo: executor, taskExecutor: taskExecutor) }
            jobs.removeAll(keepingCapacity: true)
            for job in taskJobs { job.runSynchronously(on: taskExecutor) }
            taskJobs.removeAll(keepingCapacity: true)
            flushOutbox()
            if stopping { break }

            // 2. The earliest deadline, rounded up to the next millisecond so that we
            //    never wake a hair early and spin on a 0 ms timeout.
            let now = monotonicNanos()
            var deadline = timers.earliest()
            for source in sources {
                if let d = source.nextDeadline(now: now) { deadline = min(deadline ?? d, d) }
            }
            var timeout: Int32 = -1
            if queuedLocally {
                timeout = 0
            } else if let deadline {
                timeout = deadline <= now ? 0 : Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            }

            // 3. Wait and dispatch socket events.
            let n = events.withUnsafeMutableBufferPointer { ev in
                datas.withUnsafeMutableBufferPointer { da in
                    cspate_epoll_wait(epfd, ev.baseAddress, da.baseAddress, Int32(maxEvents), timeout)
                }
            }
            if n > 0 {
                for i in 0..<Int(n) {
                    let data = datas[i]
                    if data == Hub.wakeToken {
                        _ = cspate_eventfd_drain(wakeFD)
                        continue
                    }
                    let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: data))
                    let generation = UInt32(truncatingIfNeeded: data >> 32)
                    // Looked up afresh: an earlier handler in this batch may have
                    // unwatched (and the library closed and reused) this fd.
                    guard let reg = registrations[fd], reg.generation == generation else { continue }
                    if reg.parked {
                        // Parked, and something happened (the peer closed an idle connection):
                        // its owner will find out when it uses the socket again.
                        registrations[fd] = nil
                        _ = cspate_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, 0, 0)
                        continue
                    }
                    reg.handler(events[i])
                }
            }

            // 4. Due timers, then the sources' own timeouts.
            let after = monotonicNanos()
            if !timers.isEmpty {
                for action in timers.popDue(now: after) { action() }
            }
            for source in sources { source.tick(now: after) }
            flushOutbox()
        }

        // Orderly shutdown, still on the hub: sources first (they may unwatch fds and
        // complete their pending operations), then whatever was queued meanwhile.
        for source in sources.reversed() { source.shutdown() }
        sources.removeAll()
        // Jobs queued meanwhile still run once (their tasks see cancellation or a destroyed
        // resolver), so that no awaiting task is left suspended forever.
        while true {
            let (lateJobs, lateTaskJobs, lateWork) = inbox.withLock { state -> ([UnownedJob], [UnownedJob], [@Sendable () -> Void]) in
                defer { state.jobs.removeAll(); state.taskJobs.removeAll(); state.work.removeAll() }
                if state.jobs.isEmpty && state.taskJobs.isEmpty && state.work.isEmpty { state.stopped = true }
                return (state.jobs, state.taskJobs, state.work)
            }
            if lateJobs.isEmpty && lateTaskJobs.isEmpty && lateWork.isEmpty { break }
            for item in lateWork { item() }
            for job in lateJobs { job.runSynchronously(isolatedTo: executor, taskExecutor: taskExecutor) }
            for job in lateTaskJobs { job.runSynchronously(on: taskExecutor) }
        }
        flushOutbox()
        for fd in registrations.keys { _ = cspate_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, 0, 0) }
        registrations.removeAll()
        finished.signal()
    }
}

/// A failure to set up the hub itself (epoll, eventfd, thread).
public enum HubError: Error, CustomStringConvertible {
    case system(String, Int32)

    public var description: String {
        switch self {
        case let .system(call, code): return "\(call) failed: \(String(cString: strerror(code)))"
        }
    }
}

/// Lets job tasks run on the hub thread: `Task(executorPreference: hub.taskExecutor)`.
///
/// A separate object from the ``Hub`` (its `SerialExecutor`), sharing the hub's inbox: one
/// object conforming to both protocols has crashed the runtime (apple/swift#71307).
///
/// Why spate's resolve jobs use it: measured on 2 cores, handing every job between the
/// cooperative pool and the hub cost more (futex wake-ups, context switches) than the
/// job's own work. On the hub, a lookup submits to c-ares directly and the c-ares callback
/// resumes the task on the same thread, with no eventfd write and no thread wake-up.
public final class HubTaskExecutor: TaskExecutor, @unchecked Sendable {
    /// The hub whose thread runs the jobs.
    public unowned let hub: Hub

    init(hub: Hub) { self.hub = hub }

    public func enqueue(_ job: consuming ExecutorJob) {
        hub.enqueue(UnownedJob(job), task: true)
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }
}
