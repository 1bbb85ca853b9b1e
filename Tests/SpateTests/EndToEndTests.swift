import Foundation
import Testing

/// End-to-end tests of the built `spate resolve` binary (README.md, docs/SPEC-resolve.md)
/// against the loopback ``DNSFixture``: never the system resolver, never the system hosts
/// file. Serialized: each test starts a process and timing matters on a 2-core machine.
@Suite(.serialized) struct EndToEndTests {
    typealias Record = [String: Any]

    // MARK: - Helpers

    /// `spate resolve --resolver <fixture> --no-hosts-file <extra…>`.
    static func resolveArgs(_ dns: DNSFixture, _ extra: [String]) -> [String] {
        ["resolve", "--resolver", dns.address, "--no-hosts-file"] + extra
    }

    struct BadOutput: Error, CustomStringConvertible {
        var description: String
    }

    /// One JSON object per stdout line; every line newline-terminated.
    static func records(_ result: SpateProcess.Result) throws -> [Record] {
        try records(result.stdout)
    }

    static func records(_ data: Data) throws -> [Record] {
        if data.isEmpty { return [] }
        guard data.last == 0x0A else {
            throw BadOutput(description: "stdout does not end with a newline: …\(String(decoding: data.suffix(200), as: UTF8.self))")
        }
        var out: [Record] = []
        for line in data.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast() {
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: Data(line))
            } catch {
                throw BadOutput(description: "not JSON: \(String(decoding: line.prefix(300), as: UTF8.self)) (\(error))")
            }
            guard let record = object as? Record else {
                throw BadOutput(description: "not a JSON object: \(String(decoding: line.prefix(300), as: UTF8.self))")
            }
            out.append(record)
        }
        return out
    }

    /// Records keyed by job index; fails on a missing or duplicate index.
    static func byJob(_ records: [Record]) throws -> [Int: Record] {
        var map: [Int: Record] = [:]
        for r in records {
            let job = try #require(r["job"] as? Int, "record without an integer job: \(r)")
            #expect(map[job] == nil, "job \(job) has two records")
            map[job] = r
        }
        return map
    }

    /// A record as canonical JSON text (sorted keys), without its timing field.
    static func canonical(_ record: Record) throws -> String {
        var r = record
        r["elapsed_ms"] = nil
        return String(decoding: try JSONSerialization.data(withJSONObject: r, options: [.sortedKeys]), as: UTF8.self)
    }

    static func describe(_ result: SpateProcess.Result) -> String {
        "status \(result.status) (exited: \(result.exited), timed out: \(result.timedOut)), \(String(format: "%.2f", result.seconds)) s; stderr: \(result.stderrText.prefix(2000))"
    }

    // MARK: - 1. Ten thousand names

    @Test func tenThousandNamesInOneRun() async throws {
        let dns = try DNSFixture()
        defer { dns.stop() }
        let count = 10_000
        var names: [String] = []
        var addresses: [String] = []
        for i in 1...count {
            let name = String(format: "n%05d.e2e.test", i)
            let address = "10.\(i >> 16).\((i >> 8) & 0xFF).\(i & 0xFF)"
            dns.set(name, .records([.a(address, ttl: 60)]))
            names.append(name)
            addresses.append(address)
        }
        let file = try TempFile(lines: names, name: "10k")
        defer { file.remove() }

        let result = try await runSpate(Self.resolveArgs(dns, ["-c", "500", file.path]), timeLimit: 50)
        #expect(result.exited && result.status == 0, "\(Self.describe(result))")
        let records = try Self.records(result)
        #expect(records.count == count)
        let jobs = records.compactMap { $0["job"] as? Int }
        #expect(jobs.count == count)
        #expect(jobs.sorted() == Array(0..<count), "job indices are not exactly 0..<\(count), each once")

        var wrong: [String] = []
        for r in records {
            guard let job = r["job"] as? Int, (0..<count).contains(job) else {
                wrong.append("bad job in \(r)")
                continue
            }
            let ok = r["input"] as? String == names[job]
                && r["successful"] as? Bool == true
                && r["ready"] as? Bool == true
                && r["started"] as? Bool == false
                && r["value"] as? String == addresses[job]
                && r["exception"] is NSNull
                && r["addresses"] as? [String] == [addresses[job]]
                && r["ttl"] as? Int == 60
                && r["source"] as? String == "dns"
                && r["resolver"] as? String == dns.address
            if !ok { wrong.append("job \(job): expected \(names[job]) → \(addresses[job]), got \(r)") }
        }
        #expect(wrong.isEmpty, "\(wrong.count) wrong records, first: \(wrong.prefix(3))")
        #expect(result.stderrText.contains("10000 jobs"), "summary: \(result.stderrText)")
    }

    // MARK: - 2. Bad lines

    @Test func badLinesGetInvalidInputRecords() async throws {
        let dns = try DNSFixture()
        defer { dns.stop() }
        for (name, address) in [("good1.e2e.test", "192.0.2.1"), ("good2.e2e.test", "192.0.2.2"), ("good3.e2e.test", "192.0.2.3")] {
            dns.set(name, .records([.a(address)]))
        }
        let label64 = String(repeating: "a", count: 64) + ".e2e.test"
        let name254 = [String(repeating: "a", count: 63), String(repeating: "b", count: 63),
                       String(repeating: "c", count: 63), String(repeating: "d", count: 62)].joined(separator: ".")
        #expect(name254.utf8.count == 254)
        let huge = String(repeating: "x", count: 70 * 1024)
        let nulName = "nul\u{0}byte.e2e.test"

        var bytes = Data([0xEF, 0xBB, 0xBF])
        func add(_ line: String, _ eol: String = "\r\n") { bytes.append(Data((line + eol).utf8)) }
        add("good1.e2e.test")         // job 0 (after the BOM)
        add("")                       // blank
        add("   \t ")                 // blank once trimmed
        add("# a comment")            // comment
        add("  \tgood2.e2e.test  ")   // job 1, trimmed
        add("bad_name!.x")            // job 2
        add(label64)                  // job 3
        add(name254)                  // job 4
        add(nulName)                  // job 5
        add(huge, "\n")               // job 6 (LF only: input_bytes is exactly its length)
        add("#another comment")
        add("nope.e2e.test")          // job 7: nxdomain
        add("good3.e2e.test", "")     // job 8: last line, no newline
        let file = try TempFile(bytes, name: "bad-lines")
        defer { file.remove() }

        let result = try await runSpate(Self.resolveArgs(dns, ["-c", "4", file.path]))
        #expect(result.exited && result.status == 1, "\(Self.describe(result))")
        let records = try Self.records(result)
        #expect(records.count == 9, "records: \(records)")
        let map = try Self.byJob(records)
        #expect(Set(map.keys) == Set(0..<9))

        let expectedInputs: [Int: String] = [
            0: "good1.e2e.test", 1: "good2.e2e.test", 2: "bad_name!.x", 3: label64, 4: name254,
            5: nulName, 6: String(repeating: "x", count: 256) + "…", 7: "nope.e2e.test", 8: "good3.e2e.test",
        ]
        for (job, input) in expectedInputs.sorted(by: { $0.key < $1.key }) {
            let r = try #require(map[job], "no record for job \(job)")
            #expect(r["input"] as? String == input, "job \(job): input \(String(describing: r["input"]).prefix(300))")
        }

        for (job, address) in [(0, "192.0.2.1"), (1, "192.0.2.2"), (8, "192.0.2.3")] {
            let r = try #require(map[job])
            #expect(r["successful"] as? Bool == true, "job \(job): \(r)")
            #expect(r["value"] as? String == address, "job \(job): \(r)")
        }
        for job in 2...6 {
            let r = try #require(map[job])
            let exception = r["exception"] as? Record
            #expect(exception?["type"] as? String == "invalid_input", "job \(job): \(String(describing: r).prefix(600))")
            #expect((exception?["message"] as? String)?.isEmpty == false, "job \(job): no message")
            #expect(r["ready"] as? Bool == true && r["successful"] as? Bool == false && r["started"] as? Bool == false,
                    "job \(job): \(String(describing: r).prefix(600))")
            #expect(r["value"] is NSNull, "job \(job): value \(String(describing: r["value"]))")
        }
        let nope = try #require(map[7])
        #expect((nope["exception"] as? Record)?["type"] as? String == "nxdomain", "job 7: \(nope)")

        let hugeRecord = try #require(map[6])
        #expect(hugeRecord["input_bytes"] as? Int == 70 * 1024, "huge line: input_bytes \(String(describing: hugeRecord["input_bytes"]))")
        for job in [0, 1, 2, 3, 4, 5, 7, 8] {
            #expect(map[job]?["input_bytes"] == nil, "job \(job) has input_bytes")
        }
        // No query was sent for an invalid name.
        for name in ["bad_name!.x", label64, name254] {
            #expect(dns.queries(for: name).isEmpty, "a query was sent for invalid \(name.prefix(40))")
        }
    }

    // MARK: - 3. stdin

    @Test func stdinGivesTheSameRecordsAsAFile() async throws {
        let dns = try DNSFixture()
        defer { dns.stop() }
        dns.set("ok1.e2e.test", .records([.a("192.0.2.11")]))
        dns.set("ok2.e2e.test", .records([.a("192.0.2.12"), .a("192.0.2.13")]))
        let lines = ["ok1.e2e.test", "", "# comment", "  ok2.e2e.test ", "nope.e2e.test", "bad_name!.x"]
        let text = Data(lines.map { $0 + "\n" }.joined().utf8)
        let file = try TempFile(text, name: "stdin")
        defer { file.remove() }

        let fromFile = try await runSpate(Self.resolveArgs(dns, [file.path]))
        let fromDash = try await runSpate(Self.resolveArgs(dns, ["-"]), input: .bytes(text))
        let fromNothing = try await runSpate(Self.resolveArgs(dns, []), input: .bytes(text))

        let expected = try Self.records(fromFile).map(Self.canonical).sorted()
        #expect(expected.count == 4, "\(expected)")
        #expect(fromFile.status == 1, "\(Self.describe(fromFile))")
        for (label, run) in [("-", fromDash), ("no file", fromNothing)] {
            #expect(run.exited && run.status == 1, "\(label): \(Self.describe(run))")
            let got = try Self.records(run).map(Self.canonical).sorted()
            #expect(got == expected, "\(label): records differ from the file run")
        }
        let map = try Self.byJob(try Self.records(fromDash))
        #expect(map[0]?["value"] as? String == "192.0.2.11")
        #expect(map[1]?["input"] as? String == "ok2.e2e.test")
        #expect(map[1]?["addresses"] as? [String] == ["192.0.2.12", "192.0.2.13"])
        #expect((map[2]?["exception"] as? Record)?["type"] as? String == "nxdomain")
        #expect((map[3]?["exception"] as? Record)?["type"] as? String == "invalid_input")
    }

    // MARK: - 4. --ordered

    @Test func orderedWritesRecordsInInputOrder() async throws {
        let dns = try DNSFixture()
        defer { dns.stop() }
        let names = (0..<5).map { "o\($0).e2e.test" }
        dns.set(names[0], .delay(milliseconds: 300, .records([.a("192.0.2.100")])))
        for (i, name) in names.enumerated().dropFirst() { dns.set(name, .records([.a("192.0.2.\(100 + i)")])) }
        let file = try TempFile(lines: names, name: "ordered")
        defer { file.remove() }

        let ordered = try await runSpate(Self.resolveArgs(dns, ["--ordered", "-c", "10", file.path]))
        #expect(ordered.exited && ordered.status == 0, "\(Self.describe(ordered))")
        let orderedRecords = try Self.records(ordered)
        #expect(orderedRecords.map { $0["job"] as? Int } == [0, 1, 2, 3, 4])
        #expect(orderedRecords.map { $0["value"] as? String } == (0..<5).map { "192.0.2.\(100 + $0)" })

        let streaming = try await runSpate(Self.resolveArgs(dns, ["-c", "10", file.path]))
        #expect(streaming.exited && streaming.status == 0, "\(Self.describe(streaming))")
        let streamingRecords = try Self.records(streaming)
        #expect(Set(streamingRecords.compactMap { $0["job"] as? Int }) == Set(0..<5))
        #expect(streamingRecords.count == 5)
        #expect(streamingRecords.first?["job"] as? Int != 0, "completion order: the delayed job 0 came first: \(streamingRecords.map { $0["job"] ?? "?" })")
    }

    // MARK: - 5. Exit codes

    @Test func exitCodes() async throws {
        let dns = try DNSFixture()
        defer { dns.stop() }
        dns.set("a.e2e.test", .records([.a("192.0.2.1")]))
        dns.set("b.e2e.test", .records([.a("192.0.2.2")]))
        let good = try TempFile(lines: ["a.e2e.test", "b.e2e.test"], name: "good")
        let oneBad = try TempFile(lines: ["a.e2e.test", "nope.e2e.test", "b.e2e.test"], name: "onebad")
        defer {
            good.remove()
            oneBad.remove()
        }

        let allGood = try await runSpate(Self.resolveArgs(dns, [good.path]))
        #expect(allGood.exited && allGood.status == 0, "all successful: \(Self.describe(allGood))")
        #expect(try Self.records(allGood).count == 2)

        let someFailed = try await runSpate(Self.resolveArgs(dns, [oneBad.path]))
        #expect(someFailed.exited && someFailed.status == 1, "one nxdomain: \(Self.describe(someFailed))")
        #expect(try Self.records(someFailed).count == 3)

        let missing = FileManager.default.temporaryDirectory
            .appendingPathComponent("spate-e2e-missing-\(UUID().uuidString).txt").path
        let usage: [(String, [String])] = [
            ("unknown flag", Self.resolveArgs(dns, ["--no-such-flag", good.path])),
            ("missing input file", Self.resolveArgs(dns, [missing])),
            ("bad --resolver", ["resolve", "--resolver", "not-an-ip", "--no-hosts-file", good.path]),
            ("bad --resolver port", ["resolve", "--resolver", "127.0.0.1:70000", "--no-hosts-file", good.path]),
        ]
        for (label, arguments) in usage {
            let run = try await runSpate(arguments)
            #expect(run.exited && run.status == 2, "\(label): expected exit 2, got \(Self.describe(run))")
            #expect(run.stdout.isEmpty, "\(label): records on stdout: \(run.stdoutText.prefix(300))")
            #expect(!run.stderr.isEmpty, "\(label): no message on stderr")
        }
    }

    // MARK: - 6. Join timeout

    @Test func joinTimeoutReportsRunningAndNeverStartedJobs() async throws {
        let dns = try DNSFixture()
        defer { dns.stop() }
        dns.set("fast1.e2e.test", .records([.a("192.0.2.21")]))
        dns.set("fast2.e2e.test", .records([.a("192.0.2.22")]))
        dns.set("fast3.e2e.test", .records([.a("192.0.2.23")]))
        dns.set("slow1.e2e.test", .drop)
        dns.set("slow2.e2e.test", .drop)
        let file = try TempFile(
            lines: ["fast1.e2e.test", "slow1.e2e.test", "slow2.e2e.test", "fast2.e2e.test", "fast3.e2e.test"],
            name: "join")
        defer { file.remove() }

        let result = try await runSpate(
            Self.resolveArgs(dns, ["--timeout", "0.5", "-c", "2", "--dns-timeout", "10", file.path]), timeLimit: 20)
        #expect(result.exited && result.status == 1, "\(Self.describe(result))")
        #expect(result.seconds < 3, "took \(result.seconds) s")
        let records = try Self.records(result)
        #expect(records.count == 5, "\(records)")
        let map = try Self.byJob(records)
        #expect(Set(map.keys) == Set(0..<5))

        let fast1 = try #require(map[0])
        #expect(fast1["input"] as? String == "fast1.e2e.test")
        #expect(fast1["started"] as? Bool == false && fast1["ready"] as? Bool == true
                && fast1["successful"] as? Bool == true && fast1["value"] as? String == "192.0.2.21", "fast1: \(fast1)")
        #expect(fast1["reason"] == nil, "fast1: \(fast1)")

        for (job, input, started) in [(1, "slow1.e2e.test", true), (2, "slow2.e2e.test", true),
                                      (3, "fast2.e2e.test", false), (4, "fast3.e2e.test", false)] {
            let r = try #require(map[job])
            #expect(r["input"] as? String == input, "job \(job): \(r)")
            #expect(r["started"] as? Bool == started, "job \(job) (\(input)): started should be \(started): \(r)")
            #expect(r["ready"] as? Bool == false, "job \(job) (\(input)): \(r)")
            #expect(r["successful"] as? Bool == false, "job \(job) (\(input)): \(r)")
            #expect(r["value"] is NSNull && r["exception"] is NSNull, "job \(job) (\(input)): \(r)")
            #expect(r["reason"] as? String == "join_timeout", "job \(job) (\(input)): \(r)")
        }
    }

    // MARK: - 7. Ctrl-C

    @Test func interruptWritesRunningJobsAsInterrupted() async throws {
        let dns = try DNSFixture()
        defer { dns.stop() }
        let names = ["drop1.e2e.test", "drop2.e2e.test", "drop3.e2e.test"]
        for name in names { dns.set(name, .drop) }
        let file = try TempFile(lines: names, name: "sigint")
        defer { file.remove() }

        let process = try SpateProcess(Self.resolveArgs(dns, ["-c", "3", "--dns-timeout", "10", file.path]))
        // Wait until every job is running (its query reached the fixture), at least 0.5 s.
        let start = Date()
        while Date().timeIntervalSince(start) < 5 && names.contains(where: { dns.queries(for: $0).isEmpty }) {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let left = 0.5 - Date().timeIntervalSince(start)
        if left > 0 { try await Task.sleep(nanoseconds: UInt64(left * 1e9)) }
        #expect(names.allSatisfy { !dns.queries(for: $0).isEmpty }, "not every query reached the fixture")
        process.interrupt()
        let result = await process.finish(timeLimit: 10)

        #expect(result.exited && result.status == 130, "\(Self.describe(result))")
        let records = try Self.records(result)
        #expect(records.count == 3, "\(records)")
        let map = try Self.byJob(records)
        #expect(Set(map.keys) == Set(0..<3))
        for (job, r) in map.sorted(by: { $0.key < $1.key }) {
            #expect(r["input"] as? String == names[job])
            #expect(r["started"] as? Bool == true, "job \(job): \(r)")
            #expect(r["ready"] as? Bool == false, "job \(job): \(r)")
            #expect(r["successful"] as? Bool == false, "job \(job): \(r)")
            #expect(r["value"] is NSNull && r["exception"] is NSNull, "job \(job): \(r)")
            #expect(r["reason"] as? String == "interrupted", "job \(job): \(r)")
        }
    }

    // MARK: - 8. Closed stdout

    @Test func closedStdoutEndsQuietlyWith141() async throws {
        let dns = try DNSFixture()
        defer { dns.stop() }
        // Unscripted names: the fixture answers NXDOMAIN at once.
        let names = (0..<20_000).map { String(format: "gone%05d.e2e.test", $0) }
        let file = try TempFile(lines: names, name: "closed")
        defer { file.remove() }

        let process = try SpateProcess(Self.resolveArgs(dns, ["-c", "1000", file.path]), collectStdout: false)
        let first = process.readFirstLine(timeout: 10)
        let closedAt = Date()
        try process.stdoutReader.close()
        let result = await process.finish(timeLimit: 20)

        let line = try #require(first.split(separator: 0x0A).first, "no first line on stdout")
        let record = try JSONSerialization.jsonObject(with: Data(line)) as? Record
        #expect(record?["job"] is Int, "first line: \(String(decoding: line, as: UTF8.self))")
        #expect(result.exited && result.status == 141, "\(Self.describe(result))")
        let exitedAfter = Date().timeIntervalSince(closedAt)
        #expect(exitedAfter < 5, "exit took \(exitedAfter) s after closing stdout")
        let stderr = result.stderrText
        #expect(!stderr.lowercased().contains("error") && !stderr.lowercased().contains("fatal"),
                "stderr: \(stderr.prefix(2000))")
    }

    // MARK: - 9. --job-timeout

    @Test func jobTimeoutCancelsASlowJob() async throws {
        let dns = try DNSFixture()
        defer { dns.stop() }
        dns.set("slow.e2e.test", .delay(milliseconds: 3000, .records([.a("192.0.2.30")])))
        let file = try TempFile(lines: ["slow.e2e.test"], name: "jobtimeout")
        defer { file.remove() }

        let result = try await runSpate(Self.resolveArgs(dns, ["--job-timeout", "0.3", "--dns-timeout", "10", file.path]))
        #expect(result.exited && result.status == 1, "\(Self.describe(result))")
        #expect(result.seconds < 2.5, "took \(result.seconds) s: the job was not cancelled at its deadline")
        let records = try Self.records(result)
        #expect(records.count == 1)
        let r = try #require(records.first)
        #expect(r["job"] as? Int == 0)
        #expect((r["exception"] as? Record)?["type"] as? String == "job_timeout", "\(r)")
        #expect(r["ready"] as? Bool == true && r["successful"] as? Bool == false && r["value"] is NSNull, "\(r)")
        if let elapsed = r["elapsed_ms"] as? Double {
            #expect(elapsed >= 250 && elapsed < 2000, "elapsed_ms \(elapsed)")
        } else {
            Issue.record("no elapsed_ms: \(r)")
        }
    }

    // MARK: - 10. --type

    @Test func typedLookupReturnsEveryType() async throws {
        let dns = try DNSFixture()
        defer { dns.stop() }
        dns.set("multi.e2e.test", .records([
            .a("192.0.2.40", ttl: 120),
            .mx(10, "mx1.e2e.test", ttl: 600),
            .mx(20, "mx2.e2e.test", ttl: 600),
            .txt(["v=spf1 -all"], ttl: 900),
        ]))
        let file = try TempFile(lines: ["multi.e2e.test"], name: "typed")
        defer { file.remove() }

        let result = try await runSpate(Self.resolveArgs(dns, ["--type", "A,MX,TXT", file.path]))
        #expect(result.exited && result.status == 0, "\(Self.describe(result))")
        let records = try Self.records(result)
        #expect(records.count == 1)
        let r = try #require(records.first)
        #expect(r["successful"] as? Bool == true, "\(r)")
        #expect(r["resolver"] as? String == dns.address, "\(r)")
        #expect(r["source"] as? String == "dns", "\(r)")
        let value = try #require(r["value"] as? Record, "value is not an object: \(r)")
        #expect(Set(value.keys) == ["A", "MX", "TXT"], "\(value)")

        let a = try #require(value["A"] as? [Record], "\(value)")
        #expect(a.count == 1)
        #expect(a.first?["address"] as? String == "192.0.2.40" && a.first?["ttl"] as? Int == 120, "A: \(a)")

        let mx = try #require(value["MX"] as? [Record], "\(value)")
        let mxPairs = mx.map { "\($0["priority"] as? Int ?? -1) \($0["host"] as? String ?? "?") \($0["ttl"] as? Int ?? -1)" }
        #expect(mxPairs.sorted() == ["10 mx1.e2e.test 600", "20 mx2.e2e.test 600"], "MX: \(mx)")

        let txt = try #require(value["TXT"] as? [Record], "\(value)")
        #expect(txt.count == 1)
        #expect(txt.first?["text"] as? String == "v=spf1 -all" && txt.first?["ttl"] as? Int == 900, "TXT: \(txt)")
    }

    // MARK: - 11. Several input files

    @Test func twoInputFilesGiveFileAndLine() async throws {
        let dns = try DNSFixture()
        defer { dns.stop() }
        for (i, name) in ["a1", "a2", "b1", "b2"].enumerated() {
            dns.set("\(name).e2e.test", .records([.a("192.0.2.\(50 + i)")]))
        }
        let first = try TempFile(lines: ["# first file", "a1.e2e.test", "", "a2.e2e.test"], name: "first")
        let second = try TempFile(lines: ["b1.e2e.test", "b2.e2e.test"], name: "second")
        defer {
            first.remove()
            second.remove()
        }

        let result = try await runSpate(Self.resolveArgs(dns, ["--ordered", first.path, second.path]))
        #expect(result.exited && result.status == 0, "\(Self.describe(result))")
        let records = try Self.records(result)
        #expect(records.count == 4)
        let map = try Self.byJob(records)
        let expected: [(job: Int, input: String, file: String, line: Int)] = [
            (0, "a1.e2e.test", first.path, 2),
            (1, "a2.e2e.test", first.path, 4),
            (2, "b1.e2e.test", second.path, 1),
            (3, "b2.e2e.test", second.path, 2),
        ]
        for e in expected {
            let r = try #require(map[e.job], "no record for job \(e.job)")
            #expect(r["input"] as? String == e.input, "job \(e.job): \(r)")
            #expect(r["file"] as? String == e.file, "job \(e.job): \(r)")
            #expect(r["line"] as? Int == e.line, "job \(e.job): \(r)")
            #expect(r["value"] as? String == "192.0.2.\(50 + e.job)", "job \(e.job): \(r)")
        }
    }

    // MARK: - 12. Retries move to the next resolver

    @Test func retryAsksTheNextResolver() async throws {
        let dead = try DNSFixture()
        let live = try DNSFixture()
        defer {
            dead.stop()
            live.stop()
        }
        let names = (0..<6).map { "r\($0).e2e.test" }
        for (i, name) in names.enumerated() {
            dead.set(name, .drop)
            live.set(name, .records([.a("192.0.2.\(60 + i)")]))
        }
        let file = try TempFile(lines: names, name: "retry")
        defer { file.remove() }

        let result = try await runSpate([
            "resolve", "--resolver", dead.address, "--resolver", live.address, "--no-hosts-file",
            "--tries", "2", "--dns-timeout", "0.3", "-c", "1", file.path,
        ])
        #expect(result.exited && result.status == 0, "\(Self.describe(result))")
        let records = try Self.records(result)
        #expect(records.count == names.count)
        let map = try Self.byJob(records)
        #expect(Set(map.keys) == Set(0..<names.count))
        var retried = 0
        for (job, r) in map.sorted(by: { $0.key < $1.key }) {
            #expect(r["successful"] as? Bool == true, "job \(job): \(r)")
            #expect(r["value"] as? String == "192.0.2.\(60 + job)", "job \(job): \(r)")
            let attempts = r["attempts"] as? Int
            #expect(attempts == 1 || attempts == 2, "job \(job): \(r)")
            if attempts == 2 {
                retried += 1
                #expect(r["resolver"] as? String == live.address, "job \(job) retried: resolver should be \(live.address): \(r)")
            }
            // Only the live server ever answers.
            #expect(r["resolver"] as? String == live.address, "job \(job): \(r)")
        }
        #expect(retried > 0, "no job was first asked of the dead resolver (rotation?): \(records)")
        #expect(names.contains { !dead.queries(for: $0).isEmpty }, "the first resolver was never asked")
    }
}

/// Stops with stdin still open (a terminal, or a producer that goes on): the run must end
/// without waiting for more input.
@Suite(.serialized) struct OpenStdinTests {
    @Test(arguments: ["interrupt", "join_timeout"])
    func stopWithOpenStdinEndsPromptly(how: String) async throws {
        let dns = try DNSFixture()
        defer { dns.stop() }
        dns.set("fast.open.test", .records([.a("192.0.2.31")]))
        dns.set("drop.open.test", .drop)
        var args = ["resolve", "--resolver", dns.address, "--no-hosts-file", "--dns-timeout", "10", "-"]
        if how == "join_timeout" { args += ["--timeout", "0.5"] }
        let process = try SpateProcess(args, input: .openPipe(Data("fast.open.test\ndrop.open.test\n".utf8)))
        let start = Date()
        while Date().timeIntervalSince(start) < 5 && dns.queries(for: "drop.open.test").isEmpty {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        if how == "interrupt" { process.interrupt() }
        let result = await process.finish(timeLimit: 10)
        #expect(!result.timedOut, "spate kept waiting for stdin after the stop")
        #expect(result.exited && result.status == (how == "interrupt" ? 130 : 1), "\(EndToEndTests.describe(result))")
        let records = try EndToEndTests.byJob(try EndToEndTests.records(result))
        #expect(Set(records.keys) == [0, 1])
        #expect(records[0]?["value"] as? String == "192.0.2.31")
        #expect(records[1]?["ready"] as? Bool == false && records[1]?["started"] as? Bool == true)
        #expect(records[1]?["reason"] as? String == (how == "interrupt" ? "interrupted" : "join_timeout"))
        #expect(String(decoding: result.stderr, as: UTF8.self).contains("input not read to the end"))
    }
}

/// Flags not covered above: --rate, --resolvers FILE, --hosts-file.
@Suite(.serialized) struct FlagTests {
    @Test func rateLimitsJobsPerSecond() async throws {
        let dns = try DNSFixture()
        defer { dns.stop() }
        let names = (0..<11).map { "r\($0).rate.test" }
        for n in names { dns.set(n, .records([.a("192.0.2.40")])) }
        let file = try TempFile(lines: names, name: "rate")
        defer { file.remove() }
        let t0 = Date()
        let result = try await runSpate(["resolve", "--resolver", dns.address, "--no-hosts-file", "--rate", "20", file.path])
        let seconds = Date().timeIntervalSince(t0)
        #expect(result.status == 0)
        #expect(try EndToEndTests.records(result).count == 11)
        // 11 jobs at 20/s: the 11th may start no earlier than 0.5 s after the first.
        #expect(seconds >= 0.45, "11 jobs at --rate 20 took only \(seconds) s")
    }

    @Test func resolversFileAndHostsFile() async throws {
        let dns = try DNSFixture()
        defer { dns.stop() }
        dns.set("via.file.test", .records([.a("192.0.2.41")]))
        let resolvers = try TempFile(lines: ["# resolvers", dns.address, ""], name: "resolvers")
        let hosts = try TempFile(lines: ["10.9.8.7 pinned.local"], name: "hosts")
        let input = try TempFile(lines: ["via.file.test", "pinned.local"], name: "rf-input")
        defer { resolvers.remove(); hosts.remove(); input.remove() }
        let result = try await runSpate(["resolve", "--resolvers", resolvers.path, "--hosts-file", hosts.path, input.path])
        #expect(result.status == 0, "\(EndToEndTests.describe(result))")
        let map = try EndToEndTests.byJob(try EndToEndTests.records(result))
        #expect(map[0]?["value"] as? String == "192.0.2.41" && map[0]?["resolver"] as? String == dns.address)
        #expect(map[1]?["value"] as? String == "10.9.8.7" && map[1]?["source"] as? String == "hosts")
        #expect(dns.queries(for: "pinned.local").isEmpty)
    }
}
