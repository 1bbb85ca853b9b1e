import Testing
@testable import Spate

/// gevent's Greenlet/joinall/killall/Timeout/Pool behaviours, pinned (DESIGN.md §3).
@Suite struct JobsTests {
    struct Boom: Error, Equatable {}

    /// Suspends until cancelled (a job that never finishes on its own).
    static func forever() async throws -> Int {
        while true { try await Task.sleep(nanoseconds: 10_000_000_000) }
    }

    @Test func spawnedJobIsStartedThenReadyWithValue() async throws {
        let gate = AsyncGate()
        let job = spawn { await gate.wait(); return 42 }
        #expect(job.started)
        #expect(!job.ready)
        #expect(!job.successful)
        #expect(job.value == nil)
        gate.open()
        #expect(try await job.get() == 42)
        #expect(job.ready)
        #expect(!job.started)        // gevent: bool(g) is False once dead
        #expect(job.successful)
        #expect(job.value == 42)
        #expect(job.error == nil)
    }

    @Test func failedJobHasErrorAndNoValue() async {
        let job = spawn { () async throws -> Int in throw Boom() }
        await job.join()
        #expect(job.ready)
        #expect(!job.successful)
        #expect(job.value == nil)
        #expect(job.error as? Boom == Boom())
    }

    @Test func joinAllReturnsFinishedJobsInCompletionOrderAndLeavesStragglersRunning() async {
        let slow = AsyncGate(), fast = AsyncGate()
        let a = spawn { await slow.wait(); return "a" }
        let b = spawn { await fast.wait(); return "b" }
        let c = spawn { () async throws -> String in try await Task.sleep(nanoseconds: 10_000_000_000); return "c" }
        fast.open()
        await b.join()
        slow.open()
        await a.join()
        let done = await joinAll([a, b, c], timeout: 0.2)
        // b finished before a; both were finished before the call: given order then.
        #expect(done.map { $0.value } == ["a", "b"])
        #expect(c.started && !c.ready)   // not killed by the join timeout
        c.kill()
        await c.join()
        #expect(c.error is JobKilled)
    }

    @Test func joinAllCompletionOrderForJobsFinishingDuringTheWait() async {
        let gates = (0..<3).map { _ in AsyncGate() }
        let jobs = (0..<3).map { i in spawn { await gates[i].wait(); return i } }
        let waiter = Task { await joinAll(jobs).map { $0.value! } }
        for i in [2, 0, 1] {
            try? await Task.sleep(nanoseconds: 20_000_000)
            gates[i].open()
            await jobs[i].join()
        }
        #expect(await waiter.value == [2, 0, 1])
    }

    @Test func joinAllCountStopsEarly() async {
        let jobs = (0..<5).map { i in spawn { () async throws -> Int in
            if i < 2 { return i }
            return try await Self.forever()
        } }
        let done = await joinAll(jobs, timeout: 5, count: 2)
        #expect(Set(done.map { $0.value! }) == [0, 1])
        #expect(jobs[2...].allSatisfy { !$0.ready })
        await killAll(jobs, wait: true)
        #expect(jobs[2...].allSatisfy { $0.error is JobKilled })
    }

    @Test func joinAllRaiseErrorThrowsTheFirstError() async {
        let ok = spawn { () async throws -> Int in try await Self.forever() }
        let bad = spawn { () async throws -> Int in throw Boom() }
        await #expect(throws: Boom.self) {
            _ = try await joinAll([ok, bad], timeout: 5, raiseError: true)
        }
        #expect(!ok.ready)
        ok.kill()
    }

    @Test func killBeforeStartNeverRunsTheBody() async {
        let ran = Flag()
        let job = spawn { ran.set(); return 1 }
        job.kill()
        await job.join()
        // Either the kill won (body never ran, JobKilled) or the body had already finished.
        if job.error != nil { #expect(job.error is JobKilled); #expect(!job.successful) }
        else { #expect(ran.isSet && job.value == 1) }
    }

    @Test func killAllCancelsRunningJobs() async {
        let jobs = (0..<10).map { _ in spawn { () async throws -> Int in try await Self.forever() } }
        await killAll(jobs, wait: true, timeout: 5)
        #expect(jobs.allSatisfy { $0.ready && !$0.successful && $0.error is JobKilled })
    }

    @Test func killAfterFinishKeepsTheResult() async throws {
        let job = spawn { 7 }
        #expect(try await job.get() == 7)
        job.kill()
        #expect(job.successful && job.value == 7)
    }

    @Test func timeoutCancelsTheBody() async {
        let cancelled = Flag()
        await #expect(throws: TimeoutExpired.self) {
            _ = try await withTimeout(0.05) { () async throws -> Int in
                do { return try await Self.forever() } catch { cancelled.set(); throw error }
            }
        }
        #expect(cancelled.isSet)
    }

    @Test func timeoutReturnsValueInTime() async throws {
        #expect(try await withTimeout(5) { 3 } == 3)
    }

    @Test func poolBlocksSpawnWhileFull() async throws {
        let pool = Pool(size: 2)
        let gate = AsyncGate()
        let a = await pool.spawn { await gate.wait(); return 1 }
        let b = await pool.spawn { await gate.wait(); return 2 }
        #expect(pool.full)
        #expect(pool.freeCount == 0)
        let third = Task { await pool.spawn { 3 } }
        try? await Task.sleep(nanoseconds: 100_000_000)
        #expect(pool.running == 2)          // the third spawn is still waiting
        #expect(!a.ready && !b.ready)
        gate.open()
        let c = await third.value
        #expect(try await c.get() == 3)
        await pool.join()
        #expect(pool.running == 0)
    }

    @Test func poolNeverExceedsItsSize() async {
        let pool = Pool(size: 4)
        let meter = ConcurrencyMeter()
        var jobs: [Job<Int>] = []
        for i in 0..<50 {
            jobs.append(await pool.spawn {
                meter.enter()
                try? await Task.sleep(nanoseconds: 2_000_000)
                meter.leave()
                return i
            })
        }
        await pool.join()
        #expect(meter.peak <= 4)
        #expect(meter.peak >= 2)
        #expect(jobs.map { $0.value! } == Array(0..<50))
    }

    @Test func cancellationRacingCompletionYieldsExactlyOneOutcome() async {
        for _ in 0..<200 {
            let job = spawn { () async throws -> Int in
                await Task.yield()
                try Task.checkCancellation()
                return 1
            }
            job.kill()
            await job.join()
            #expect(job.ready)
            #expect((job.value == 1) != (job.error is JobKilled))
        }
    }
}
