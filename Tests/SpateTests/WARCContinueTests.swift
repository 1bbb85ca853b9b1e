import Foundation
import Glibc
import Testing
@testable import Spate

/// A WARC series that continues across runs (`WARCWriter(existing: .continue)`, what
/// `spate crawl --state` uses): the gzip member scan that finds a torn tail, the cut, and the
/// naming of the next file.
@Suite struct WARCContinueTests {
    /// Gzip members of the given sizes before compression: incompressible (the even ones, so
    /// that they stay about that size: past the scanner's 64 KiB in-memory window, or its 1 MiB
    /// file window) and text (the odd ones).
    static func members(_ sizes: [Int]) throws -> [[UInt8]] {
        try sizes.enumerated().map { i, size in
            var x = UInt32(i + 7)
            let bytes: [UInt8] = i % 2 == 1
                ? Array(String(repeating: "WARC/1.1 record \(i)\r\n", count: size / 20 + 1).utf8.prefix(size))
                : (0..<size).map { _ in x = x &* 1_664_525 &+ 1_013_904_223; return UInt8(truncatingIfNeeded: x >> 24) }
            return try #require(GzipMemberWriter.compress(bytes))
        }
    }

    static func write(_ bytes: [UInt8], to file: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: file))
    }

    static func contents(_ file: String) -> [UInt8] {
        FileManager.default.contents(atPath: file).map(Array.init) ?? []
    }

    // MARK: - The member scan

    @Test func everyPrefixIsCutToItsLastCompleteMember() throws {
        let parts = try Self.members([40, 300, 5, 900, 64])
        let whole = parts.flatMap { $0 }
        var ends = [0]
        for p in parts { ends.append(ends.last! + p.count) }
        // Cut the file at every byte: the scan keeps exactly the members that are whole.
        for length in 0...whole.count {
            let scan = GzipMemberScan.scan(Array(whole.prefix(length)))
            let kept = ends.lastIndex { $0 <= length }!
            #expect(scan.size == length)
            #expect(scan.members == kept && scan.end == ends[kept], "length \(length): \(scan)")
            #expect(scan.tail == (ends[kept] == length ? .clean : .torn), "length \(length): \(scan)")
        }
    }

    @Test func largeMembersAndAHalfOne() throws {
        // Members across the 64 KiB window and a half member bigger than the window.
        let parts = try Self.members([200_000, 150_000, 70_000, 3, 300_000])
        let complete = parts.dropLast().flatMap { $0 }
        let half = Array(parts.last!.prefix(parts.last!.count / 2))
        #expect(half.count > 64 * 1024)
        let scan = GzipMemberScan.scan(complete + half)
        #expect(scan == GzipMemberScan(size: complete.count + half.count, members: 4, end: complete.count, tail: .torn))
        let clean = GzipMemberScan.scan(parts.flatMap { $0 })
        #expect(clean == GzipMemberScan(size: clean.end, members: 5, end: parts.reduce(0) { $0 + $1.count }, tail: .clean))
    }

    @Test func emptyGarbageAndDamage() throws {
        let parts = try Self.members([100, 2000, 50])
        let whole = parts.flatMap { $0 }
        #expect(GzipMemberScan.scan([]) == GzipMemberScan(size: 0, members: 0, end: 0, tail: .clean))
        // Not gzip at all: nothing whole, all of it cut.
        let text = Array("WARC/1.1\r\nnot compressed\r\n".utf8)
        #expect(GzipMemberScan.scan(text) == GzipMemberScan(size: text.count, members: 0, end: 0, tail: .torn))
        // Zeros after the members (a power cut's unwritten blocks); a lone gzip magic number.
        let zeros = whole + [UInt8](repeating: 0, count: 4096)
        #expect(GzipMemberScan.scan(zeros) == GzipMemberScan(size: zeros.count, members: 3, end: whole.count, tail: .torn))
        let magic = whole + [0x1F, 0x8B, 0x08]
        #expect(GzipMemberScan.scan(magic).tail == .torn && GzipMemberScan.scan(magic).end == whole.count)
        // A member with a bad CRC-32 is not complete.
        var badCRC = whole
        badCRC[badCRC.count - 6] ^= 0xFF
        #expect(GzipMemberScan.scan(badCRC) == GzipMemberScan(size: whole.count, members: 2, end: whole.count - parts[2].count, tail: .torn))
        // A zlib stream (which zlib's automatic detection would take) is not a gzip member.
        let zlib: [UInt8] = [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]
        #expect(GzipMemberScan.scan(zlib).tail == .torn)
        // Damage in the middle, complete members after it: not a torn end, nothing to cut.
        var damaged = whole
        let second = parts[0].count
        for i in (second + 20)..<(second + 40) { damaged[i] = 0x55 }
        let scan = GzipMemberScan.scan(damaged)
        #expect(scan.members == 1 && scan.end == second, "\(scan)")
        #expect(scan.tail == .damaged(resumesAt: second + parts[1].count), "\(scan)")
        // Garbage in front of complete members: the same.
        let front = GzipMemberScan.scan(text + whole)
        #expect(front == GzipMemberScan(size: text.count + whole.count, members: 0, end: 0, tail: .damaged(resumesAt: text.count)))
    }

    @Test func scanReadsAFileInPieces() throws {
        let dir = try ArchiveTests.tempDir("scan")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // More than the 1 MiB file window: members straddle its edges.
        let parts = try Self.members([900_000, 700_000, 10, 1_500_000, 800_000])
        let complete = parts.dropLast().flatMap { $0 }
        try Self.write(complete + parts.last!.prefix(600_000), to: dir + "/f")
        let fd = open(dir + "/f", O_RDONLY)
        defer { close(fd) }
        let scan = try GzipMemberScan.scan(fd: fd)
        #expect(scan == GzipMemberScan(size: complete.count + 600_000, members: 4, end: complete.count, tail: .torn))
    }

    // MARK: - The writer

    /// A series written by a replacing writer: `count` exchanges, rolling at `maxFileSize`.
    static func series(_ path: String, exchanges: Int, maxFileSize: Int = 3000) throws -> [String] {
        let writer = try WARCWriter(path: path, maxFileSize: maxFileSize, software: "spate-test")
        let dir = (path as NSString).deletingLastPathComponent
        for i in 0..<exchanges { _ = try writer.write(ArchiveTests.exchange(i, bodySize: 900 + 300 * i, directory: dir)) }
        try writer.close()
        return writer.files
    }

    /// A crash between an exchange's request record and its response record leaves a lone
    /// request (a complete member) at the end: continuing cuts it, and only it.
    @Test func continuingCutsALoneRequestRecord() throws {
        let dir = try ArchiveTests.tempDir("lone-request")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/crawl.warc.gz"
        let first = try Self.series(path, exchanges: 2, maxFileSize: 1 << 20)
        #expect(first.count == 1)
        let before = Self.contents(first[0])
        let lone = try #require(GzipMemberWriter.compress(Array(
            "WARC/1.1\r\nWARC-Type: request\r\nWARC-Record-ID: <urn:uuid:0>\r\nContent-Length: 4\r\n\r\nGET \r\n\r\n".utf8)))
        let handle = try #require(FileHandle(forWritingAtPath: first[0]))
        handle.seekToEndOfFile()
        handle.write(Data(lone))
        try handle.close()
        let writer = try WARCWriter(path: path, maxFileSize: 1 << 20, software: "spate-test", existing: .continue)
        let c = try #require(writer.continuation)
        #expect(c.cut == lone.count, "\(c)")
        #expect(Self.contents(first[0]) == before, "cut back to the last complete exchange")
        // A file that ends with a response is left alone.
        let again = try WARCWriter(path: path, maxFileSize: 1 << 20, software: "spate-test", existing: .continue)
        #expect(again.continuation?.cut == 0)
    }

    @Test func continuingCutsATornTailAndWritesTheNextFile() throws {
        let dir = try ArchiveTests.tempDir("continue")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/crawl.warc.gz"
        let first = try Self.series(path, exchanges: 6)
        #expect(first.count >= 3, "\(first)")
        let before = first.map(Self.contents)
        // A kill -9 in the middle of a record: half a member at the end of the last file.
        let torn = try #require(GzipMemberWriter.compress(Array(repeating: 0x41, count: 5000) + (0..<3000).map { UInt8($0 % 251) }))
        let half = Array(torn.prefix(torn.count / 2))
        let handle = try #require(FileHandle(forWritingAtPath: first.last!))
        handle.seekToEndOfFile()
        handle.write(Data(half))
        try handle.close()

        let writer = try WARCWriter(path: path, maxFileSize: 3000, software: "spate-test", existing: .continue)
        let c = try #require(writer.continuation)
        #expect(c.existing == first && c.cut == half.count && c.damagedAt == nil && !c.removedEmpty, "\(c)")
        #expect(c.next == WARCWriter.fileName(for: path, index: first.count))
        #expect(c.summary?.contains("cut \(half.count) bytes") == true, "\(c.summary ?? "")")
        // Cut back to exactly what was there; every file of the earlier run as it was.
        let kept = first.map(Self.contents) == before
        #expect(kept, "files of the earlier run changed")
        #expect(writer.files.isEmpty, "no file before the first exchange")
        var locations: [WARCLocation] = []
        for i in 10..<14 { locations.append(try writer.write(ArchiveTests.exchange(i, bodySize: 1000, directory: dir))) }
        try writer.close()
        let next = writer.files
        #expect(next.first == c.next && next == (first.count..<(first.count + next.count)).map { WARCWriter.fileName(for: path, index: $0) })
        let keptAfter = first.map(Self.contents) == before
        #expect(keptAfter, "files of the earlier run changed")
        for file in first + next {
            let records = try ArchiveTests.parseRecords(try Inflater.decode(Self.contents(file)))
            #expect(records.first?.type == "warcinfo" && records.first?.fields["WARC-Filename"] == (file as NSString).lastPathComponent)
            #expect(GzipMemberScan.scan(Self.contents(file)).tail == .clean)
        }
        for (i, loc) in locations.enumerated() {
            let member = Array(Self.contents(loc.file)[loc.offset..<(loc.offset + loc.length)])
            let r = try ArchiveTests.parseRecords(try Inflater.decode(member))
            #expect(r.count == 1 && r[0].type == "response" && r[0].fields["WARC-Target-URI"] == "http://example.test/\(10 + i)")
        }

        // Again, with nothing torn: nothing cut, the next index after the last.
        let again = try WARCWriter(path: path, software: "spate-test", existing: .continue)
        #expect(again.continuation?.cut == 0 && again.continuation?.existing == first + next)
        #expect(again.continuation?.next == WARCWriter.fileName(for: path, index: first.count + next.count))
        try again.close()
        #expect(try WARCEndToEndTests.warcFiles(dir) == first + next, "a writer that wrote nothing made no file")
    }

    @Test func continuingFindsTheSeriesInEveryNamingForm() throws {
        let dir = try ArchiveTests.tempDir("names")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (n, path) in ["a.warc.gz", "b.warc", "c", "d.gz"].enumerated() {
            let full = dir + "/" + path
            // Files 0 and 5 exist (a gap), and names that are not of the series.
            let base = (WARCWriter.fileName(for: full, index: 0) as NSString).lastPathComponent.dropLast("-00000.warc.gz".count)
            for i in [0, 5] { try Self.write(try Self.members([100 + n])[0], to: WARCWriter.fileName(for: full, index: i)) }
            for other in ["\(base)-1.warc.gz", "\(base)-000009.warc.gz", "\(base)-00009.warc", "\(base)-0000x.warc.gz",
                          "\(base)x-00009.warc.gz", "z\(base)-00009.warc.gz", "\(base)-00009.warc.gz.tmp"] {
                try Self.write([1, 2, 3], to: dir + "/" + other)
            }
            #expect(WARCWriter.existingFiles(for: full).map(\.index) == [0, 5], "\(path)")
            let writer = try WARCWriter(path: full, software: "spate-test", existing: .continue)
            #expect(writer.continuation?.next == WARCWriter.fileName(for: full, index: 6), "\(path)")
            _ = try writer.write(ArchiveTests.exchange(0, bodySize: 10, directory: dir))
            try writer.close()
            #expect(writer.files == [WARCWriter.fileName(for: full, index: 6)])
            #expect(WARCWriter.existingFiles(for: full).map(\.index) == [0, 5, 6])
        }
        // A relative path names the series in the current directory.
        #expect(WARCWriter.existingFiles(for: "no-such-series-\(UUID().uuidString).warc.gz").isEmpty)
        // No series yet: the first file is -00000.
        let fresh = try WARCWriter(path: dir + "/fresh.warc.gz", software: "spate-test", existing: .continue)
        #expect(fresh.continuation == WARCWriter.Continuation(existing: [], cut: 0, damagedAt: nil, removedEmpty: false,
                                                              next: dir + "/fresh-00000.warc.gz"))
        #expect(fresh.continuation?.summary == nil)
    }

    @Test func aLastFileWithNothingWholeIsRemovedAndItsNameUsedAgain() throws {
        let dir = try ArchiveTests.tempDir("empty")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/e.warc.gz"
        let first = try Self.series(path, exchanges: 2, maxFileSize: 1_000_000)
        #expect(first.count == 1)
        // A crash while the next file's warcinfo was written: a few bytes of a member.
        let next = WARCWriter.fileName(for: path, index: 1)
        try Self.write(Array(try Self.members([300])[0].prefix(25)), to: next)
        let writer = try WARCWriter(path: path, software: "spate-test", existing: .continue)
        let c = try #require(writer.continuation)
        #expect(c.removedEmpty && c.cut == 25 && c.next == next && c.existing == first + [next], "\(c)")
        #expect(c.summary?.contains("removed") == true, "\(c.summary ?? "")")
        #expect(!FileManager.default.fileExists(atPath: next))
        _ = try writer.write(ArchiveTests.exchange(1, bodySize: 10, directory: dir))
        try writer.close()
        #expect(writer.files == [next])
        // An empty file: the same.
        try Self.write([], to: WARCWriter.fileName(for: path, index: 2))
        let again = try WARCWriter(path: path, software: "spate-test", existing: .continue)
        #expect(again.continuation?.removedEmpty == true && again.continuation?.cut == 0)
        #expect(again.continuation?.next == WARCWriter.fileName(for: path, index: 2))
    }

    @Test func aLastFileDamagedInsideIsLeftAsItIs() throws {
        let dir = try ArchiveTests.tempDir("damaged")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/d.warc.gz"
        let first = try WARCWriter(path: path, software: "spate-test")
        let locations = try (0..<3).map { try first.write(ArchiveTests.exchange($0, bodySize: 700, directory: dir)) }
        try first.close()
        let file = try #require(first.files.first)
        var bytes = Self.contents(file)
        #expect(GzipMemberScan.scan(bytes) == GzipMemberScan(size: bytes.count, members: 7, end: bytes.count, tail: .clean))
        // Damage inside the first response record; complete records follow it.
        let start = locations[0].offset
        for i in (start + 15)..<(start + 30) { bytes[i] ^= 0x5A }
        try Self.write(bytes, to: file)
        let writer = try WARCWriter(path: path, software: "spate-test", existing: .continue)
        let c = try #require(writer.continuation)
        #expect(c.cut == 0 && c.damagedAt == start && !c.removedEmpty, "\(c)")
        #expect(c.summary?.contains("left as it is") == true)
        let untouched = Self.contents(file) == bytes
        #expect(untouched, "nothing cut")
        #expect(c.next == WARCWriter.fileName(for: path, index: 1))
    }

    @Test func continuingIntoADirectoryThatCannotTakeAFileFails() throws {
        #expect(throws: WARCWriter.Failure.self) {
            try WARCWriter(path: "/nonexistent-spate-dir/out.warc.gz", software: "spate-test", existing: .continue)
        }
    }
}

/// `spate crawl --state DIR -o FILE --warc W` killed and resumed, through the built binary
/// against the fixture's `big` site: the WARC files of every run stay, each run continues the
/// series, warcio reads every file, and every record's `value.warc` lands on its response.
@Suite(.serialized) struct WARCContinueEndToEndTests {
    typealias Record = [String: Any]
    typealias Fixtures = CrawlEndToEndTests.Fixtures
    typealias Crawl = CrawlStateTests.Crawl

    /// The files of the series, as they are now.
    static func snapshot(_ dir: String) throws -> [String: [UInt8]] {
        Dictionary(uniqueKeysWithValues: try WARCEndToEndTests.warcFiles(dir).map { ($0, WARCContinueTests.contents($0)) })
    }

    /// True once the output holds `count` records (they are written at checkpoints).
    static func has(_ c: Crawl, _ count: Int) -> @Sendable () -> Bool {
        { ((try? c.records().count) ?? 0) >= count }
    }

    /// Files of an earlier run are still there as they were; the last of them may have lost a
    /// torn tail (and nothing else), or been removed if nothing in it was whole.
    static func checkKept(_ before: [String: [UInt8]], _ now: [String: [UInt8]], round: Int,
                          sourceLocation: SourceLocation = #_sourceLocation) {
        let last = before.keys.sorted().last
        for (file, old) in before {
            let current = now[file]
            if current == old { continue }
            if file == last, let current, current.count < old.count, Array(old.prefix(current.count)) == current,
               GzipMemberScan.scan(current).tail == .clean {
                let scan = GzipMemberScan.scan(old)
                if scan.end == current.count { continue }   // a torn record cut off the end
                // A lone request record (the crash came between an exchange's two records),
                // and whatever torn bytes followed it.
                if scan.lastStart == current.count && WARCWriter.isRequestRecord(scan.lastHead) { continue }
            }
            if file == last, GzipMemberScan.scan(old).members == 0 { continue }   // nothing whole: removed, name used again
            Issue.record("round \(round): \(file) of an earlier run changed (\(old.count) → \(current.map { "\($0.count)" } ?? "gone") bytes)",
                         sourceLocation: sourceLocation)
        }
    }

    /// The whole archive: names 0…n-1 of the series, warcio reads every file (warcinfo first,
    /// request/response pairs), and each record's value.warc is a response record of its URL.
    static func checkArchive(_ c: Crawl, warc: String, dir: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let files = try WARCEndToEndTests.warcFiles(dir)
        #expect(files == (0..<files.count).map { WARCWriter.fileName(for: warc, index: $0) }, "\(files)", sourceLocation: sourceLocation)
        var locations: [(String, Int)] = []
        var urls: [String] = []
        for r in try c.records() {
            guard let v = CrawlEndToEndTests.value(r) else { continue }
            let w = try #require(v["warc"] as? Record, "no value.warc in \(r)", sourceLocation: sourceLocation)
            let file = w["file"] as? String ?? ""
            #expect(files.contains(file), "value.warc names \(file)", sourceLocation: sourceLocation)
            locations.append((file, w["offset"] as? Int ?? -1))
            urls.append(v["final_url"] as? String ?? "")
        }
        let report = try WARCEndToEndTests.warcio(files: files, locations: locations)
        let responses = try WARCEndToEndTests.checkStructure(report, files: files)
        #expect(responses.count >= locations.count, "\(responses.count) responses for \(locations.count) records", sourceLocation: sourceLocation)
        let located = try #require(report["locations"] as? [Record], sourceLocation: sourceLocation)
        for (i, url) in urls.enumerated() {
            #expect(located[i]["type"] as? String == "response" && located[i]["target_uri"] as? String == url,
                    "\(url) at \(locations[i]): \(located[i])", sourceLocation: sourceLocation)
        }
    }

    @Test func killNineThenResumeKeepsEveryRunsFiles() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        try f.http.reset()
        let c = try Crawl(f, seeds: [f.url("big", "/n/000.html")])
        defer { c.remove() }
        let dir = try WARCEndToEndTests.tempDir("state-kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let warc = dir + "/crawl.warc.gz"
        // Small files: every run rolls a few.
        let options = ["--warc", warc, "--warc-max-size", "20000"]
        var before: [String: [UInt8]] = [:], firstRun: [String: [UInt8]] = [:]
        var kills = 0
        var finished = false
        for round in 0..<3 {
            // One request at a time, 10 ms apart: the crawl takes at least 5 s; killed after 15
            // more records.
            let p = try c.start(options + ["--per-host", "1", "--delay", "0.01"])
            let (r, killed) = await CrawlStateTests.killNine(p, round: round, after: Double.random(in: 0...0.15),
                                                              when: Self.has(c, ((try? c.records().count) ?? 0) + 15))
            if killed { kills += 1 } else { finished = true }
            if round > 0 {
                #expect(r.stderrText.contains("--warc: continuing the series"), "round \(round): \(r.stderrText)")
            }
            let now = try Self.snapshot(dir)
            #expect(!now.isEmpty, "round \(round): no WARC file")
            Self.checkKept(before, now, round: round)
            if round == 0 { firstRun = now }
            before = now
            if finished { break }
        }
        #expect(kills >= 2, "the crawl was killed \(kills) times (too fast to test?)")
        if !finished {
            let recorded = Set(try c.pageURLs())
            let (_, logAt) = try CrawlStateTests.requested(f, since: 0)
            let r = try await SpateProcess(c.arguments(options)).finish(timeLimit: 120)
            #expect(r.status == 0, "\(EndToEndTests.describe(r))")
            #expect(r.stderrText.contains("resuming from") && r.stderrText.contains("--warc: continuing the series"), "\(r.stderrText)")
            let (urls, _) = try CrawlStateTests.requested(f, since: logAt)
            let again = urls.filter { recorded.contains($0) }
            #expect(again.isEmpty, "requested again after their records were written: \(again.prefix(10))")
        }
        let end = try Self.snapshot(dir)
        Self.checkKept(before, end, round: 3)
        // The first run's files are all still there (only the last one may have lost a torn tail).
        let firstFiles = firstRun.keys.sorted()
        #expect(firstFiles.dropLast().allSatisfy { end[$0] == firstRun[$0] } && firstFiles.last.map { end[$0] != nil } == true,
                "\(firstFiles) → \(end.keys.sorted())")
        let runs = kills + 1
        #expect(end.count >= firstFiles.count + runs - 1, "each of \(runs) runs adds files: \(firstFiles.count) → \(end.count)")
        try CrawlStateTests.checkComplete(c, f)
        try Self.checkArchive(c, warc: warc, dir: dir)
    }

    @Test func aTornRecordAtTheEndIsCutOnResume() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        try f.http.reset()
        let c = try Crawl(f, seeds: [f.url("big", "/n/000.html")])
        defer { c.remove() }
        let dir = try WARCEndToEndTests.tempDir("state-torn")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let warc = dir + "/t.warc"
        let options = ["--warc", warc, "--warc-max-size", "50000"]
        // Ctrl-C: the archive ends with whole records ...
        let p = try c.start(options + ["--per-host", "1", "--delay", "0.01"])
        await CrawlStateTests.signal(SIGINT, p.pid, after: 0, when: Self.has(c, 20))
        let first = await p.finish(timeLimit: 30)
        #expect(first.status == 130, "\(EndToEndTests.describe(first))")
        let files = try WARCEndToEndTests.warcFiles(dir)
        let last = try #require(files.last)
        let kept = WARCContinueTests.contents(last)
        #expect(GzipMemberScan.scan(kept).tail == .clean)
        // ... then half of a record's gzip member, as a write cut short by kill -9 leaves it.
        var x: UInt32 = 1
        let body = (0..<6000).map { _ in x = x &* 1_664_525 &+ 1_013_904_223; return UInt8(truncatingIfNeeded: x >> 24) }
        let record = Array("WARC/1.1\r\nWARC-Type: response\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body + Array("\r\n\r\n".utf8)
        let member = try #require(GzipMemberWriter.compress(record))
        let half = Array(member.prefix(member.count / 2))
        let handle = try #require(FileHandle(forWritingAtPath: last))
        handle.seekToEndOfFile()
        handle.write(Data(half))
        try handle.close()
        #expect(throws: (any Error).self, "warcio fails on the torn file") { try WARCEndToEndTests.warcio(files: [last]) }

        let r = try await SpateProcess(c.arguments(options)).finish(timeLimit: 120)
        #expect(r.status == 0, "\(EndToEndTests.describe(r))")
        #expect(r.stderrText.contains("cut \(half.count) bytes of a torn record off the end of \(last)"), "\(r.stderrText)")
        let cutBack = WARCContinueTests.contents(last) == kept
        #expect(cutBack, "cut back to the last whole record, not further: \(kept.count) → \(WARCContinueTests.contents(last).count) bytes")
        for file in files.dropLast() { #expect(FileManager.default.fileExists(atPath: file)) }
        try CrawlStateTests.checkComplete(c, f)
        try Self.checkArchive(c, warc: warc, dir: dir)
    }
}
