import Foundation
import CSpate
import Glibc
import Synchronization
import Testing
@testable import Spate

/// The hub's fd registrations: watch, park (curl's idle connections) and reuse of a closed
/// fd number.
@Suite struct HubTests {
    /// A socket pair: writing to `b` makes `a` readable.
    static func pair() throws -> (a: Int32, b: Int32) {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw POSIXError(.EIO)
        }
        return (fds[0], fds[1])
    }

    final class Counter: Sendable {
        private let value = Atomic<Int>(0)
        var count: Int { value.load(ordering: .relaxed) }
        func bump() { value.add(1, ordering: .relaxed) }
    }

    /// A handler that counts its calls and reads what is pending on `fd`.
    static func reading(_ fd: Int32, _ calls: Counter) -> @Sendable (UInt32) -> Void {
        { _ in
            calls.bump()
            var buf = [UInt8](repeating: 0, count: 64)
            _ = read(fd, &buf, buf.count)
        }
    }

    static func onHub<T: Sendable>(_ hub: Hub, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in hub.execute { c.resume(returning: body()) } }
    }

    static func waitUntil(_ seconds: Double, _ condition: () -> Bool) async -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        return condition()
    }

    final class Box<T>: @unchecked Sendable { var value: T? }   // ordered by the semaphore

    /// Runs `body` on the hub and waits with a semaphore: nothing is handed to the Swift
    /// pool from the hub thread (a worker thread it started would inherit its nice value).
    static func onHubWaiting<T: Sendable>(_ hub: Hub, _ body: @escaping @Sendable () -> T) -> T {
        let box = Box<T>()
        let done = DispatchSemaphore(value: 0)
        hub.execute { box.value = body(); done.signal() }
        done.wait()
        return box.value!
    }

    /// `runNicer(by:)` makes the hub thread that much nicer than the process, at most 19
    /// (no overflow on absurd values); 0 leaves it as created.
    @Test(arguments: [Int32(0), 4, 30, .max])
    func aNicerHubsThreadIsThatMuchNicerThanTheProcess(_ n: Int32) throws {
        let creator = Hub.threadNice()
        let hub = try Hub(name: "test-hub")
        defer { hub.shutdown() }
        hub.runNicer(by: n)
        let got = Self.onHubWaiting(hub) { Hub.threadNice() }
        let expected = n > 0 ? Int32(min(19, Int(Hub.processNice()) + Int(n))) : creator
        #expect(got == expected, "process \(Hub.processNice()), creator \(creator), by \(n): hub thread \(got)")
    }

    @Test func aParkedFdDeliversNothingAndIsDroppedOnItsFirstEvent() async throws {
        let hub = try Hub(name: "test-hub")
        defer { hub.shutdown() }
        let (a, b) = try Self.pair()
        defer { close(a); close(b) }
        let calls = Counter()
        await Self.onHub(hub) {
            hub.watch(fd: a, events: cspate_EPOLLIN, handler: Self.reading(a, calls))
        }
        _ = write(b, "x", 1)
        #expect(await Self.waitUntil(2) { calls.count == 1 })
        // Parked: data arrives and is never read (level-triggered): the handler is not
        // called, and the hub does not spin on it — it deletes the registration.
        await Self.onHub(hub) { hub.park(fd: a) }
        _ = write(b, "y", 1)
        try await Task.sleep(nanoseconds: 200_000_000)
        #expect(calls.count == 1)
        #expect(await Self.onHub(hub) { hub.modify(fd: a, events: cspate_EPOLLIN) } == false, "a parked fd is not watched")
        // Watched again (its registration was deleted meanwhile): the pending byte is seen.
        await Self.onHub(hub) {
            hub.watch(fd: a, events: cspate_EPOLLIN, handler: Self.reading(a, calls))
        }
        #expect(await Self.waitUntil(2) { calls.count == 2 })
    }

    @Test func aParkedFdWatchedAgainNeedsNoNewRegistration() async throws {
        let hub = try Hub(name: "test-hub")
        defer { hub.shutdown() }
        let (a, b) = try Self.pair()
        defer { close(a); close(b) }
        let calls = Counter()
        let handler = Self.reading(a, calls)
        await Self.onHub(hub) { hub.watch(fd: a, events: cspate_EPOLLIN, handler: handler) }
        await Self.onHub(hub) { hub.park(fd: a) }
        await Self.onHub(hub) { hub.watch(fd: a, events: cspate_EPOLLIN, handler: handler) }
        for i in 1...3 {
            _ = write(b, "z", 1)
            #expect(await Self.waitUntil(2) { calls.count == i })
        }
    }

    /// A parked fd resumed keeps its handler (no new one per transfer); one dropped after
    /// an event while parked, or never parked, is not resumed (its owner watches it afresh).
    @Test func aParkedFdResumesWithItsHandler() async throws {
        let hub = try Hub(name: "test-hub")
        defer { hub.shutdown() }
        let (a, b) = try Self.pair()
        defer { close(a); close(b) }
        let calls = Counter()
        #expect(await Self.onHub(hub) { hub.resume(fd: a, events: cspate_EPOLLIN) } == false, "not watched: nothing to resume")
        await Self.onHub(hub) { hub.watch(fd: a, events: cspate_EPOLLIN, handler: Self.reading(a, calls)) }
        #expect(await Self.onHub(hub) { hub.resume(fd: a, events: cspate_EPOLLIN) } == false, "watched, not parked")
        await Self.onHub(hub) { hub.park(fd: a) }
        #expect(await Self.onHub(hub) { hub.resume(fd: a, events: cspate_EPOLLIN) } == true)
        for i in 1...3 {
            _ = write(b, "r", 1)
            #expect(await Self.waitUntil(2) { calls.count == i }, "the resumed fd's own handler")
        }
        // Parked, then an event: the registration is dropped, and resume says so.
        await Self.onHub(hub) { hub.park(fd: a) }
        _ = write(b, "s", 1)
        try await Task.sleep(nanoseconds: 200_000_000)
        #expect(calls.count == 3)
        #expect(await Self.onHub(hub) { hub.resume(fd: a, events: cspate_EPOLLIN) } == false, "dropped while parked")
    }

    /// curl closes a parked socket and a new one gets the same number: resuming it must
    /// fail, and watching it must register the new file (the kernel dropped the old
    /// registration at close).
    @Test func aClosedParkedFdNumberReusedIsWatchedAfresh() async throws {
        let hub = try Hub(name: "test-hub")
        defer { hub.shutdown() }
        let (a, b) = try Self.pair()
        defer { close(b) }
        await Self.onHub(hub) { hub.watch(fd: a, events: cspate_EPOLLIN) { _ in } }
        await Self.onHub(hub) { hub.park(fd: a) }
        // dup2 closes the parked socket and puts a new one under its number in one step (a
        // close and an open could lose the number to another test's thread in between).
        let (c, peer) = try Self.pair()
        defer { close(a); close(peer) }
        #expect(dup2(c, a) == a)
        close(c)
        #expect(await Self.onHub(hub) { hub.resume(fd: a, events: cspate_EPOLLIN) } == false, "resumed another file")
        let calls = Counter()
        await Self.onHub(hub) {
            hub.watch(fd: a, events: cspate_EPOLLIN, handler: Self.reading(a, calls))
        }
        _ = write(peer, "w", 1)
        #expect(await Self.waitUntil(2) { calls.count == 1 }, "no event for the reused fd")
    }

    /// A timer scheduled from another thread is inserted on the hub's next turn; a cancel on
    /// the hub before that must still win (it used to find nothing and the timer fired).
    @Test func aTimerCancelledOnTheHubBeforeItIsInsertedNeverFires() async throws {
        let hub = try Hub(name: "test-hub")
        defer { hub.shutdown() }
        final class Box: @unchecked Sendable { var timer: HubTimer? = nil }
        let box = Box()
        let fired = Counter()
        let release = DispatchSemaphore(value: 0)
        // Hold the hub so that the cancel below is queued before the timer's insertion.
        hub.execute { release.wait() }
        hub.execute { if let t = box.timer { hub.cancel(t) } }
        box.timer = hub.schedule(afterNanos: 10_000_000) { fired.bump() }
        release.signal()
        try await Task.sleep(nanoseconds: 200_000_000)
        #expect(fired.count == 0, "a cancelled timer fired")
        // And an ordinary timer still fires.
        hub.schedule(afterNanos: 10_000_000) { fired.bump() }
        #expect(await Self.waitUntil(2) { fired.count == 1 })
    }

    /// Seconds to nanoseconds and milliseconds saturate (absurd options, a server's
    /// Retry-After): never a trap, never a wrapped deadline. The resolver's channels are capped.
    /// What a hub posts to another during one turn arrives after that turn, all of it, in
    /// order, in one hand-over: the target never runs a part of it while the turn goes on,
    /// and runs the whole batch in one turn of its own (one wake-up). Posted to itself, it
    /// runs on its next turn; posted from a thread that is no hub's, at once.
    @Test func postedWorkGoesOverAtTheEndOfTheTurnInOneBatch() throws {
        let a = try Hub(name: "test-post-a")
        let b = try Hub(name: "test-post-b")
        defer { a.shutdown(); b.shutdown() }
        final class Log: @unchecked Sendable {   // guarded by `lock`
            let lock = NSLock()
            var items: [Int] = []
            var turns: [Int] = []   // b's turn (counted by a work item re-queued per turn) per item
            func add(_ i: Int, turn: Int) { lock.lock(); items.append(i); turns.append(turn); lock.unlock() }
            var snapshot: ([Int], [Int]) { lock.lock(); defer { lock.unlock() }; return (items, turns) }
        }
        let log = Log()
        let turn = Counter()
        // b's turn counter: a local execute runs once per turn, and re-queues itself.
        let stop = Counter()
        @Sendable func tick() {
            turn.bump()
            if stop.count == 0 { b.execute(tick) }
        }
        b.execute(tick)
        let seenDuringTurn = Self.onHubWaiting(a) { () -> Int in
            for i in 0..<50 { a.post(to: b) { log.add(i, turn: turn.count) } }
            usleep(50_000)   // still a's turn: nothing may have gone over yet
            return log.snapshot.0.count
        }
        #expect(seenDuringTurn == 0, "\(seenDuringTurn) posted items ran before the posting turn ended")
        let deadline = Date().addingTimeInterval(5)
        while log.snapshot.0.count < 50 && Date() < deadline { usleep(1000) }
        stop.bump()
        let (items, turns) = log.snapshot
        #expect(items == Array(0..<50))
        #expect(Set(turns).count == 1, "the batch ran over b's turns \(Set(turns).sorted())")
        // Posted to itself: the next turn, not inline.
        let ran = Counter()
        let ranInline = Self.onHubWaiting(a) { () -> Bool in
            a.post(to: a) { ran.bump() }
            return ran.count > 0
        }
        #expect(!ranInline)
        #expect(Self.onHubWaiting(a) { ran.count } == 1)
        // From a thread that is no hub's: handed over at once.
        let away = DispatchSemaphore(value: 0)
        a.post(to: b) { away.signal() }
        #expect(away.wait(timeout: .now() + 5) == .success, "work posted from outside a hub never ran")
    }

    @Test func durationConversionsSaturate() {
        #expect(nanoseconds(seconds: 1.5) == 1_500_000_000)
        #expect(nanoseconds(seconds: 0) == 0 && nanoseconds(seconds: -3) == 0 && nanoseconds(seconds: .nan) == 0)
        #expect(nanoseconds(seconds: 1e20) == 1 << 62 && nanoseconds(seconds: .infinity) == 1 << 62)
        #expect(monotonicNanos() &+ nanoseconds(seconds: .infinity) > monotonicNanos(), "a saturated deadline wrapped")
        #expect(milliseconds(seconds: 2.5) == 2500 && milliseconds(seconds: 0.0004) == 0)
        #expect(milliseconds(seconds: -1) == 0 && milliseconds(seconds: .nan) == 0)
        #expect(milliseconds(seconds: 1e20) == Int(Int32.max) && milliseconds(seconds: .infinity) == Int(Int32.max))
        var c = ResolverConfiguration()
        c.size(forConcurrency: 1_000_000_000)
        #expect(c.channelsPerServer == 32)
        c.size(forConcurrency: 4001)
        #expect(c.channelsPerServer == 3)
        c.size(forConcurrency: 1)
        #expect(c.channelsPerServer == 1)
    }

}

