import Foundation
import Glibc
import Testing

/// `spate crawl --state DIR -o FILE`: crawls that survive kill -9, Ctrl-C, a torn journal,
/// a full disk, and refuse another crawl's state. Run against the fixture's `big` site (500
/// pages, each linking six others) through the built binary; what the server saw is checked
/// against what was recorded: a page whose record was in the output is never requested again.
@Suite(.serialized) struct CrawlStateTests {
    typealias Record = [String: Any]
    typealias Fixtures = CrawlEndToEndTests.Fixtures

    /// The 500 page URLs of `big`.
    static func bigPages(_ f: Fixtures) -> Set<String> {
        Set((0..<500).map { f.url("big", String(format: "/n/%03d.html", $0)) })
    }

    struct Crawl {
        let f: Fixtures
        let dir: String
        let out: String
        let seeds: TempFile

        init(_ f: Fixtures, seeds: [String]) throws {
            self.f = f
            let base = FileManager.default.temporaryDirectory.appendingPathComponent("spate-state-\(UUID().uuidString)").path
            dir = base + ".state"
            out = base + ".jsonl"
            self.seeds = try TempFile(lines: seeds, name: "state-seeds")
        }

        func arguments(_ extra: [String] = [], output: Bool = true) -> [String] {
            f.args(["--state", dir, "--per-host", "4", "--sync-interval", "0.2"] + (output ? ["-o", out] : []) + extra + [seeds.path])
        }

        func start(_ extra: [String] = []) throws -> SpateProcess { try SpateProcess(arguments(extra)) }

        /// The output file's complete lines, parsed (a torn last line is left out).
        func records() throws -> [Record] {
            guard let data = FileManager.default.contents(atPath: out) else { return [] }
            var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
            if data.last != 0x0A { lines.removeLast() } else { lines.removeLast() }
            return try lines.map { line in
                guard let r = try JSONSerialization.jsonObject(with: Data(line)) as? Record else {
                    throw CrawlStateError("not a record: \(String(decoding: line, as: UTF8.self))")
                }
                return r
            }
        }

        /// The URLs of the page records (robots.txt records left out).
        func pageURLs() throws -> [String] {
            try records().filter { $0["robots_txt"] as? Bool != true }.compactMap(CrawlEndToEndTests.recordURL)
        }

        func remove() {
            seeds.remove()
            try? FileManager.default.removeItem(atPath: dir)
            unlink(out)
        }
    }

    struct CrawlStateError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// The requests the server saw from index `from` on, as full URLs.
    static func requested(_ f: Fixtures, since from: Int) throws -> (urls: [String], count: Int) {
        let log = try f.http.crawlLog().map(CrawlEndToEndTests.LogEntry.init)
        let new = log.count > from ? Array(log[from...]) : []
        return (new.map { f.url($0.site, $0.path) }, log.count)
    }

    /// Checks the final output: every page of `big` exactly once, every line a record,
    /// job numbers unique.
    static func checkComplete(_ c: Crawl, _ f: Fixtures, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let records = try c.records()
        let data = FileManager.default.contents(atPath: c.out) ?? Data()
        #expect(data.last == 0x0A, "output ends with a complete line", sourceLocation: sourceLocation)
        let urls = try c.pageURLs()
        let counts = Dictionary(urls.map { ($0, 1) }, uniquingKeysWith: +)
        let dupes = counts.filter { $0.value > 1 }.keys.sorted()
        #expect(dupes.isEmpty, "recorded more than once: \(dupes.prefix(10))", sourceLocation: sourceLocation)
        let expected = bigPages(f)
        let same = Set(urls) == expected
        #expect(same,
                "missing \(expected.subtracting(urls).sorted().prefix(10)); extra \(Set(urls).subtracting(expected).sorted().prefix(10))",
                sourceLocation: sourceLocation)
        let jobs = records.compactMap { $0["job"] as? Int }
        #expect(jobs.count == records.count && Set(jobs).count == jobs.count, "job numbers unique", sourceLocation: sourceLocation)
        #expect(records.allSatisfy { $0["ready"] as? Bool == true }, "no unfinished records with --state", sourceLocation: sourceLocation)
        let robots = records.filter { $0["robots_txt"] as? Bool == true }
        #expect(robots.count == 1, "one robots.txt record, not \(robots.count)", sourceLocation: sourceLocation)
    }

    /// Runs the crawl again to its end: it resumes, and requests none of `recorded`.
    static func resumeToTheEnd(_ c: Crawl, _ f: Fixtures, recorded: Set<String>, logAt: Int, _ extra: [String] = [],
                               sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let r = try await SpateProcess(c.arguments(extra)).finish(timeLimit: 120)
        #expect(r.status == 0, "\(EndToEndTests.describe(r))", sourceLocation: sourceLocation)
        #expect(r.stderrText.contains("resuming from"), "\(r.stderrText)", sourceLocation: sourceLocation)
        let (urls, _) = try requested(f, since: logAt)
        let again = urls.filter { recorded.contains($0) }
        #expect(again.isEmpty, "requested again after their records were written: \(again.prefix(10))", sourceLocation: sourceLocation)
    }

    /// Sends `signal` to `pid` once `ready()` holds (polled every 10 ms, for 60 s at most) and
    /// `delay` seconds after. On a thread of its own, not the cooperative pool: with the whole
    /// suite on two cores the pool can be busy for seconds, long enough for a crawl meant to be
    /// killed mid-way to finish first.
    static func signal(_ signal: Int32, _ pid: Int32, after delay: Double, when ready: (@Sendable () -> Bool)? = nil) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                let deadline = Date().addingTimeInterval(60)
                while let ready, !ready(), Date() < deadline { usleep(10_000) }
                if delay > 0 { usleep(useconds_t(delay * 1e6)) }
                kill(pid, signal)
                done.resume()
            }
        }
    }

    /// Kills the crawl with SIGKILL (see ``signal(_:_:after:when:)``) and waits for it;
    /// `killed` false if it had finished before (successfully, or that is an issue).
    static func killNine(_ p: SpateProcess, round: Int, after delay: Double, when ready: (@Sendable () -> Bool)? = nil,
                         sourceLocation: SourceLocation = #_sourceLocation) async -> (result: SpateProcess.Result, killed: Bool)
    {
        await signal(SIGKILL, p.pid, after: delay, when: ready)
        let r = await p.finish(timeLimit: 30)
        if r.exited { #expect(r.status == 0, "round \(round): \(EndToEndTests.describe(r))", sourceLocation: sourceLocation) }
        return (r, !r.exited)
    }

    // MARK: - Tests

    @Test func killNineAtRandomPointsThenResume() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        try f.http.reset()
        let c = try Crawl(f, seeds: [f.url("big", "/n/000.html")])
        defer { c.remove() }
        var recorded: Set<String> = []
        var logAt = 0
        var kills = 0
        var finished = false
        var rng = SystemRandomNumberGenerator()
        for round in 0..<10 {
            // One request at a time, 5 ms apart: the crawl takes at least 2.5 s, time to kill it.
            let p = try c.start(["--per-host", "1", "--delay", "0.005"])
            let (_, killed) = await Self.killNine(p, round: round, after: Double.random(in: 0.3...1.0, using: &rng))
            if killed { kills += 1 } else { finished = true }
            let (urls, count) = try Self.requested(f, since: logAt)
            logAt = count
            let again = urls.filter { recorded.contains($0) }
            #expect(again.isEmpty, "round \(round): requested again after their records were written: \(again.prefix(10))")
            recorded.formUnion(try c.pageURLs())
            if finished { break }
        }
        #expect(kills >= 2, "the crawl was killed \(kills) times (too fast to test?)")
        if !finished { try await Self.resumeToTheEnd(c, f, recorded: recorded, logAt: logAt) }
        try Self.checkComplete(c, f)
    }

    @Test func ctrlCThenResumeWithStdout() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        try f.http.reset()
        let c = try Crawl(f, seeds: [f.url("big", "/n/000.html")])
        defer { c.remove() }
        // A delay keeps the crawl going long enough to be interrupted.
        let p = try SpateProcess(c.arguments(["--delay", "0.01"], output: false))
        try await Task.sleep(nanoseconds: 800_000_000)
        p.interrupt()
        let first = await p.finish(timeLimit: 30)
        #expect(first.status == 130, "\(EndToEndTests.describe(first))")
        #expect(first.stderrText.contains("run the same command to resume"), "\(first.stderrText)")
        let firstRecords = try EndToEndTests.records(first)
        #expect(!firstRecords.isEmpty && firstRecords.count < 400, "\(firstRecords.count) records before Ctrl-C")
        #expect(firstRecords.allSatisfy { $0["ready"] as? Bool == true }, "no unfinished records: they stay in the journal")
        let (_, logAt) = try Self.requested(f, since: 0)

        let second = try await SpateProcess(c.arguments(output: false)).finish(timeLimit: 120)
        #expect(second.status == 0, "\(EndToEndTests.describe(second))")
        let secondRecords = try EndToEndTests.records(second)
        let firstURLs = firstRecords.filter { $0["robots_txt"] as? Bool != true }.compactMap(CrawlEndToEndTests.recordURL)
        let secondURLs = secondRecords.filter { $0["robots_txt"] as? Bool != true }.compactMap(CrawlEndToEndTests.recordURL)
        #expect(Set(firstURLs).isDisjoint(with: secondURLs), "a page recorded in both runs")
        let all = Set(firstURLs + secondURLs)
        let complete = firstURLs.count + secondURLs.count == 500 && all == Self.bigPages(f)
        #expect(complete, "\(firstURLs.count) + \(secondURLs.count) page records; missing \(Self.bigPages(f).subtracting(all).sorted().prefix(10)); \(first.stderrText) \(second.stderrText)")
        let (urls, _) = try Self.requested(f, since: logAt)
        let again = urls.filter { Set(firstURLs).contains($0) }
        #expect(again.isEmpty, "requested again after Ctrl-C: \(again.prefix(10))")
        #expect(!urls.contains(f.url("big", "/robots.txt")), "robots.txt comes from the state, not asked again")
    }

    @Test func tornJournalAndTornRecordAreCut() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        try f.http.reset()
        let c = try Crawl(f, seeds: [f.url("big", "/n/000.html")])
        defer { c.remove() }
        let p = try c.start(["--delay", "0.01"])
        try await Task.sleep(nanoseconds: 800_000_000)
        kill(p.pid, SIGKILL)
        _ = await p.finish(timeLimit: 30)
        let before = try c.pageURLs()
        // A write cut short in both files: half a journal entry, half a record.
        let journal = try #require(FileHandle(forWritingAtPath: c.dir + "/journal"))
        journal.seekToEndOfFile()
        journal.write(Data("A\t999999\t0123456789abcdef\thttp://big.crawl.test:1\t1\t=http://x/\tlink\t=a\t=href\tp\thttp://x/".utf8))
        try journal.close()
        let output = try #require(FileHandle(forWritingAtPath: c.out))
        output.seekToEndOfFile()
        output.write(Data("{\"job\":999999,\"input\":\"http://big.crawl.test/n/".utf8))
        try output.close()

        let r = try await SpateProcess(c.arguments()).finish(timeLimit: 120)
        #expect(r.status == 0, "\(EndToEndTests.describe(r))")
        #expect(r.stderrText.contains("torn journal write") && r.stderrText.contains("torn last record"), "\(r.stderrText)")
        try Self.checkComplete(c, f)
        let kept = Set(before).isSubset(of: try c.pageURLs())
        #expect(kept, "records from before the kill are kept")
    }

    @Test func fullDiskStopsWithAClearErrorAndResumes() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        try f.http.reset()
        let c = try Crawl(f, seeds: [f.url("big", "/n/000.html")])
        defer { c.remove() }
        // A file size limit of 48 KiB: writes past it fail with EFBIG, as on a full disk.
        let limited = Process()
        limited.executableURL = URL(fileURLWithPath: "/bin/sh")
        limited.arguments = ["-c", "ulimit -f 48 && exec \"$0\" \"$@\"", try SpateProcess.binaryPath()] + c.arguments()
        let errPipe = Pipe()
        limited.standardError = errPipe
        limited.standardOutput = FileHandle.nullDevice
        try limited.run()
        let errData = errPipe.fileHandleForReading.readDataToEndOfFile()
        limited.waitUntilExit()
        let stderr = String(decoding: errData, as: UTF8.self)
        #expect(limited.terminationReason == .exit && limited.terminationStatus == 1, "status \(limited.terminationStatus): \(stderr)")
        #expect(stderr.contains("File too large") && stderr.contains("run the same command to resume"), "\(stderr)")
        let recorded = Set(try c.pageURLs())
        #expect(recorded.count < 500, "\(recorded.count) pages recorded under the limit")
        let (_, logAt) = try Self.requested(f, since: 0)
        try await Self.resumeToTheEnd(c, f, recorded: recorded, logAt: logAt)
        try Self.checkComplete(c, f)
    }

    @Test func stateOfAnotherCrawlIsRefusedAndACompleteCrawlIsNotRepeated() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        try f.http.reset()
        let c = try Crawl(f, seeds: [f.url("big", "/n/000.html")])
        defer { c.remove() }
        let done = try await SpateProcess(c.arguments(["--max-pages", "20"])).finish(timeLimit: 60)
        #expect(done.status == 0, "\(EndToEndTests.describe(done))")
        let size = (try? FileManager.default.attributesOfItem(atPath: c.out)[.size] as? Int) ?? -1
        let (_, logAt) = try Self.requested(f, since: 0)

        // Another scope: refused, the state untouched.
        let other = try await SpateProcess(c.arguments(["--max-pages", "20", "--scope", "domain"])).finish(timeLimit: 30)
        #expect(other.status == 2, "\(EndToEndTests.describe(other))")
        #expect(other.stderrText.contains("different crawl") && other.stderrText.contains("scope"), "\(other.stderrText)")
        let fewer = try await SpateProcess(c.arguments(["--max-pages", "10"])).finish(timeLimit: 30)
        #expect(fewer.status == 2 && fewer.stderrText.contains("max_pages"), "\(fewer.stderrText)")
        // Other seeds: refused too.
        let otherSeeds = try TempFile(lines: [f.url("big", "/n/001.html")], name: "state-other-seeds")
        defer { otherSeeds.remove() }
        let moved = try await SpateProcess(f.args(["--state", c.dir, "-o", c.out, "--max-pages", "20", otherSeeds.path]))
            .finish(timeLimit: 30)
        #expect(moved.status == 2 && moved.stderrText.contains("seed_files"), "\(moved.stderrText)")

        // The same command again: complete, nothing fetched, nothing written.
        let again = try await SpateProcess(c.arguments(["--max-pages", "20"])).finish(timeLimit: 30)
        #expect(again.status == 0, "\(EndToEndTests.describe(again))")
        #expect(again.stderrText.contains("is complete"), "\(again.stderrText)")
        let (urls, _) = try Self.requested(f, since: logAt)
        #expect(urls.isEmpty, "requests after completion: \(urls)")
        #expect(((try? FileManager.default.attributesOfItem(atPath: c.out)[.size] as? Int) ?? -2) == size)

        // In use by another process: refused.
        let lock = open(c.dir + "/lock", O_RDWR)
        #expect(lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) == 0)
        let busy = try await SpateProcess(c.arguments(["--max-pages", "20"])).finish(timeLimit: 30)
        close(lock)
        #expect(busy.status == 2 && busy.stderrText.contains("in use"), "\(busy.stderrText)")
    }
}
