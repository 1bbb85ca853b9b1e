import Foundation
import Glibc
import Testing

@testable import Spate

/// The crawl journal's format and `CrawlState`'s recovery, without a crawl.
@Suite struct JournalTests {
    static let admit = JournalEntry.Admit(
        job: 7, fingerprint: 0x0123_4567_89AB_CDEF, origin: "http://a.test:80", depth: 2, parent: "http://a.test/p\tq",
        via: .link, tag: "a", attribute: "href", isRobots: false, url: "http://a.test/x?y=1#f", canonical: "http://a.test/x?y=1",
        input: "http://a.test/x?y=1\\n", file: nil, line: nil)

    static let entries: [JournalEntry] = [
        .admit(admit),
        .admit(JournalEntry.Admit(job: 0, fingerprint: nil, origin: "https://b.test:443", depth: 0, parent: nil, via: .robots,
                                  tag: nil, attribute: nil, isRobots: true, url: "https://b.test/robots.txt",
                                  canonical: "https://b.test/robots.txt", input: "", file: "seeds\n.txt", line: 12, seedIndex: 9)),
        .noFetch(job: 3, fingerprint: nil, seedIndex: 4, record: Array("{\"job\":3,\"input\":\"mailto:x\\ty\"}".utf8)),
        .noFetch(job: 8, fingerprint: 77, seedIndex: nil, record: Array("{}".utf8)),
        .seeds(42),
        .robots(origin: "http://a.test:80", verdict: "rules", note: "robots.txt 200", fetchedAtMillis: 1_790_000_000_123,
                body: Array("User-agent: *\nDisallow: /private/\n\u{0}\u{FF}".utf8)),
        .robots(origin: "http://c.test:80", verdict: "allow", note: "robots.txt 404: allow all", fetchedAtMillis: 1, body: []),
        .hostDead(origin: "http://d.test:80", reason: "gave up"),
        .done([1, 2, 3, 1000]),
        .done([]),
        .committed(123_456_789),
        .complete,
    ]

    static func decodeAll(_ bytes: [UInt8]) -> [JournalEntry?] {
        bytes.split(separator: 0x0A).map { line in Array(line).withUnsafeBufferPointer { JournalEntry.decode($0) } }
    }

    @Test func everyEntryKindRoundTrips() {
        var bytes: [UInt8] = []
        for e in Self.entries { e.encode(into: &bytes) }
        #expect(bytes.filter { $0 == 0x0A }.count == Self.entries.count, "one line per entry: escapes keep newlines out")
        let decoded = Self.decodeAll(bytes)
        #expect(decoded.count == Self.entries.count)
        for (d, e) in zip(decoded, Self.entries) { #expect(d == e) }
    }

    @Test func aFlippedByteOrACutLineIsRejected() {
        var bytes: [UInt8] = []
        JournalEntry.admit(Self.admit).encode(into: &bytes)
        bytes.removeLast()   // the newline
        for i in stride(from: 0, to: bytes.count, by: 7) {
            var corrupt = bytes
            corrupt[i] ^= 0x20
            #expect(corrupt.withUnsafeBufferPointer { JournalEntry.decode($0) } == nil, "byte \(i) flipped")
        }
        for cut in [1, 5, 17, 18, bytes.count / 2] {
            let torn = Array(bytes.dropLast(cut))
            #expect(torn.withUnsafeBufferPointer { JournalEntry.decode($0) } == nil, "\(cut) bytes cut")
        }
    }

    /// Lines with a valid checksum but numbers no crawl writes (hand-edited) are unreadable,
    /// like torn ones: resuming with them trapped (Int.max + 1) or hung (a depth of Int.max).
    @Test func outOfRangeNumbersAreRejected() {
        func decoded(_ e: JournalEntry) -> JournalEntry? {
            var bytes: [UInt8] = []
            e.encode(into: &bytes)
            bytes.removeLast()
            return bytes.withUnsafeBufferPointer { JournalEntry.decode($0) }
        }
        func admit(_ change: (inout JournalEntry.Admit) -> Void) -> JournalEntry {
            var a = Self.admit
            change(&a)
            return .admit(a)
        }
        let bad: [JournalEntry] = [
            admit { $0.job = Int.max }, admit { $0.job = -1 }, admit { $0.depth = Int.min }, admit { $0.depth = Int.max },
            admit { $0.depth = JournalEntry.maxDepth + 1 }, admit { $0.seedIndex = Int.max }, admit { $0.line = -5 },
            .noFetch(job: Int.max, fingerprint: 1, seedIndex: nil, record: []),
            .noFetch(job: 1, fingerprint: 1, seedIndex: Int.max, record: []),
            .seeds(Int.max),
            .robots(origin: "http://a.test:80", verdict: "allow", note: "n", fetchedAtMillis: Int64.min, body: []),
            .done([1, Int.max]), .done([-1]),
            .committed(Int64.max), .committed(-1),
        ]
        for e in bad { #expect(decoded(e) == nil, "\(e)") }
        // The largest values a crawl can hold still decode.
        let good: [JournalEntry] = [
            admit { $0.job = JournalEntry.maxNumber; $0.depth = JournalEntry.maxDepth; $0.seedIndex = 0; $0.line = 1 },
            .robots(origin: "http://a.test:80", verdict: "allow", note: "n", fetchedAtMillis: 4_102_444_800_000, body: []),
        ]
        for e in good { #expect(decoded(e) == e, "\(e)") }
    }

    @Test func base64MatchesKnownValues() {
        // RFC 4648 §10 test vectors.
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
        let all = (0...255).map { UInt8($0) }
        #expect(Base64.decode(Base64.encode(all)) == all)
    }

    // MARK: - Recovery

    struct Dir {
        let path: String
        init() {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("spate-journal-\(UUID().uuidString)").path
        }
        var output: String { path + ".jsonl" }
        func remove() {
            try? FileManager.default.removeItem(atPath: path)
            unlink(output)
        }
    }

    static let identity = [("seeds", "a b"), ("scope", "host")]

    func page(_ job: Int, fp: UInt64) -> JournalEntry.Admit {
        var a = Self.admit
        a.job = job
        a.fingerprint = fp
        a.url = "http://a.test/\(job)"
        return a
    }

    func append(_ path: String, _ bytes: [UInt8]) throws {
        let h = try #require(FileHandle(forWritingAtPath: path))
        h.seekToEndOfFile()
        h.write(Data(bytes))
        try h.close()
    }

    @Test func resumeKnowsWhatWasRecordedAndCutsTornTails() throws {
        let d = Dir()
        defer { d.remove() }
        do {
            let state = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: d.output)
            #expect(state.resumeSummary == nil, "a new crawl")
        }
        // Jobs 0–4 admitted; records of 0 and 1 committed (D + C), record of 2 written after
        // the commit (found by reading the output), record of 3 torn; a torn journal entry.
        var journal: [UInt8] = []
        for j in 0..<5 { JournalEntry.admit(page(j, fp: UInt64(100 + j))).encode(into: &journal) }
        JournalEntry.noFetch(job: 5, fingerprint: nil, seedIndex: 2, record: Array("{\"job\":5,\"x\":1}".utf8)).encode(into: &journal)
        let r0 = "{\"job\":0,\"a\":1}\n", r1 = "{\"job\":1,\"a\":1}\n", r2 = "{\"job\":2,\"a\":1}\n"
        JournalEntry.done([0, 1]).encode(into: &journal)
        JournalEntry.committed(Int64((r0 + r1).utf8.count)).encode(into: &journal)
        var torn: [UInt8] = []
        JournalEntry.done([2, 3]).encode(into: &torn)
        journal += torn.dropLast(4)
        try append(d.path + "/journal", journal)
        try append(d.output, Array((r0 + r1 + r2 + "{\"job\":3,\"a").utf8))

        let state = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: d.output)
        let r = state.resume
        #expect(r.resumed)
        #expect(r.pending.map(\.job) == [3, 4])
        #expect(r.pendingRecords.map(\.job) == [5])
        #expect(r.recorded == 3)
        #expect(r.seedsTaken == 3)
        #expect(r.nextJob == 6)
        #expect(r.fingerprints == 5 && state.seen.contains(102) && state.seen.contains(104))
        #expect(r.journalCut == torn.count - 4)
        #expect(r.outputCut == "{\"job\":3,\"a".utf8.count)
        let out = try String(contentsOfFile: d.output, encoding: .utf8)
        #expect(out == r0 + r1 + r2, "the torn record is cut")
        #expect(r.admittedPerOrigin["http://a.test:80"] == 3)
    }

    /// Records a resumed run finds past the last commit are noted in the journal at once: a
    /// run after it reads the output only from its own later commit, and must still know them.
    @Test func recordsFoundByReadingTheOutputStayDoneInTheRunAfterNext() throws {
        let d = Dir()
        defer { d.remove() }
        do { _ = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: d.output) }
        // Run 1: jobs 0–2 admitted; record 0 committed, record 1 written, then a kill.
        var journal: [UInt8] = []
        for j in 0..<3 { JournalEntry.admit(page(j, fp: UInt64(200 + j))).encode(into: &journal) }
        let r0 = "{\"job\":0,\"a\":1}\n", r1 = "{\"job\":1,\"a\":1}\n", r2 = "{\"job\":2,\"a\":1}\n"
        JournalEntry.done([0]).encode(into: &journal)
        JournalEntry.committed(Int64(r0.utf8.count)).encode(into: &journal)
        try append(d.path + "/journal", journal)
        try append(d.output, Array((r0 + r1).utf8))
        // Run 2: finds record 1 by reading the output; writes record 2 at a checkpoint (D, C).
        do {
            // (Only plain values reach #expect: the state, and its lock, must go at the block's end.)
            let pendingJobs = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: d.output).resume.pending.map(\.job)
            #expect(pendingJobs == [2])
            var checkpoint: [UInt8] = []
            JournalEntry.done([2]).encode(into: &checkpoint)
            JournalEntry.committed(Int64((r0 + r1 + r2).utf8.count)).encode(into: &checkpoint)
            try append(d.output, Array(r2.utf8))
            try append(d.path + "/journal", checkpoint)
        }
        // Run 3: nothing pending; record 1 is not fetched (and written) again.
        let state = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: d.output)
        #expect(state.resume.pending.isEmpty, "pending: \(state.resume.pending.map(\.job))")
        #expect(state.resume.recorded == 3)
    }

    @Test func anotherCrawlsStateAndABusyDirectoryAreRefused() throws {
        let d = Dir()
        defer { d.remove() }
        do { _ = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: nil) }
        #expect(throws: StateError.self) {
            _ = try CrawlState.open(directory: d.path, identity: [("seeds", "a b"), ("scope", "domain")], outputPath: nil)
        }
        #expect(throws: StateError.self) {
            _ = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: d.output)
        }
        let held = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: nil)
        #expect(throws: StateError.locked(d.path)) {
            _ = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: nil)
        }
        _ = held
    }

    @Test func anOutputShorterThanTheJournalSaysIsRefused() throws {
        let d = Dir()
        defer { d.remove() }
        do { _ = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: d.output) }
        var journal: [UInt8] = []
        JournalEntry.admit(page(0, fp: 1)).encode(into: &journal)
        JournalEntry.done([0]).encode(into: &journal)
        JournalEntry.committed(100).encode(into: &journal)
        try append(d.path + "/journal", journal)
        #expect(throws: StateError.self) {
            _ = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: d.output)
        }
    }

    /// An unreadable entry with valid ones after it is damage, not a torn write: the state is
    /// refused and the journal left as it was (cutting there would forget what followed, and
    /// the crawl would record it all again).
    @Test func aDamagedEntryInsideTheJournalIsRefusedNotCut() throws {
        let d = Dir()
        defer { d.remove() }
        do { _ = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: d.output) }
        var good: [UInt8] = []
        JournalEntry.admit(page(0, fp: 1)).encode(into: &good)
        var bad: [UInt8] = []
        JournalEntry.admit(page(1, fp: 2)).encode(into: &bad)
        bad[bad.count / 2] ^= 0x20
        var after: [UInt8] = []
        JournalEntry.admit(page(2, fp: 3)).encode(into: &after)
        try append(d.path + "/journal", good + bad + after)
        let before = try Data(contentsOf: URL(fileURLWithPath: d.path + "/journal"))
        #expect(throws: StateError.self) {
            _ = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: d.output)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: d.path + "/journal")) == before, "the journal was changed")
        // The same bad entry as the last line is a torn write: cut, and the crawl resumes.
        let e = Dir()
        defer { e.remove() }
        do { _ = try CrawlState.open(directory: e.path, identity: Self.identity, outputPath: e.output) }
        try append(e.path + "/journal", good + bad)
        let state = try CrawlState.open(directory: e.path, identity: Self.identity, outputPath: e.output)
        #expect(state.resume.pending.map(\.job) == [0])
        #expect(state.resume.journalCut == bad.count)
    }

    /// A state directory of another format version is refused by name.
    @Test func aStateOfAnotherFormatIsRefused() throws {
        let d = Dir()
        defer { d.remove() }
        do { _ = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: nil) }
        let meta = d.path + "/state.json"
        let text = try String(contentsOfFile: meta, encoding: .utf8)
        let written = CrawlState.format.replacingOccurrences(of: "/", with: "\\/")   // as JSONSerialization writes it
        #expect(text.contains(written))
        try text.replacingOccurrences(of: written, with: "spate-crawl-state/1").write(toFile: meta, atomically: true, encoding: .utf8)
        do {
            _ = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: nil)
            Issue.record("a /1 state was opened")
        } catch {
            #expect("\(error)".contains("another version of spate"), "\(error)")
        }
    }

    /// Lines in the output that look like records but are not ours (a job number longer
    /// than any) end the scan there, without a crash; -o must be a regular file.
    @Test func oddOutputsAreHandled() throws {
        let d = Dir()
        defer { d.remove() }
        do { _ = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: d.output) }
        var journal: [UInt8] = []
        JournalEntry.admit(page(0, fp: 1)).encode(into: &journal)
        JournalEntry.admit(page(1, fp: 2)).encode(into: &journal)
        try append(d.path + "/journal", journal)
        try append(d.output, Array("{\"job\":0,\"a\":1}\n{\"job\":123456789012345678901234,\"a\":1}\n".utf8))
        let state = try CrawlState.open(directory: d.path, identity: Self.identity, outputPath: d.output)
        #expect(state.resume.pending.map(\.job) == [1])
        #expect(state.resume.outputCut == "{\"job\":123456789012345678901234,\"a\":1}\n".utf8.count)

        let fifo = d.path + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let e = Dir()
        defer { e.remove() }
        #expect(throws: StateError.self) {
            _ = try CrawlState.open(directory: e.path, identity: Self.identity, outputPath: fifo)
        }
    }
}
