import Foundation
import Glibc
import Testing
@testable import Spate

/// `spate fetch --warc` end to end: the built binary against the loopback HTTP fixture, the
/// files read back with warcio (Python, an independent reader: `Fixtures/warc_check.py`),
/// installed into `.build/pyvenv` by `scripts/test` or named by `SPATE_WARCIO_PYTHON`.
@Suite(.serialized) struct WARCEndToEndTests {
    typealias Record = [String: Any]
    typealias Fixtures = FetchEndToEndTests.Fixtures

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct WarcioMissing: Error, CustomStringConvertible {
        var description: String
    }

    /// The Python that has warcio: `SPATE_WARCIO_PYTHON`, else `.build/pyvenv/bin/python`.
    static func warcioPython() throws -> String {
        if let p = ProcessInfo.processInfo.environment["SPATE_WARCIO_PYTHON"], !p.isEmpty { return p }
        let venv = root.appendingPathComponent(".build/pyvenv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: venv) else {
            throw WarcioMissing(description: "warcio unavailable: no \(venv) and no SPATE_WARCIO_PYTHON. Run scripts/test "
                                + "(it creates .build/pyvenv and pip-installs warcio), or point SPATE_WARCIO_PYTHON at a Python with warcio.")
        }
        return venv
    }

    /// Runs `warc_check.py` (warcio) over the files; its JSON report.
    static func warcio(files: [String], locations: [(String, Int)] = [], rawURLs: [String] = []) throws -> Record {
        let python = try warcioPython()
        let request: Record = ["files": files, "locations": locations.map { ["file": $0.0, "offset": $0.1] }, "raw_urls": rawURLs]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [root.appendingPathComponent("Tests/SpateTests/Fixtures/warc_check.py").path]
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        p.standardInput = stdin
        p.standardOutput = stdout
        p.standardError = stderr
        try p.run()
        stdin.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: request))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let report = try? JSONSerialization.jsonObject(with: out) as? Record else {
            throw WarcioMissing(description: "warc_check.py with \(python) exited \(p.terminationStatus): \(String(decoding: err, as: UTF8.self).suffix(2000))")
        }
        if let e = report["error"] as? String { throw WarcioMissing(description: "\(e) — run scripts/test to install warcio into .build/pyvenv") }
        return report
    }

    static func records(_ report: Record, _ file: String) throws -> [Record] {
        try #require((report["files"] as? Record)?[file] as? [Record], "no records for \(file) in the report")
    }

    static func tempDir(_ name: String) throws -> String { try ArchiveTests.tempDir("e2e-" + name) }

    static func warcFiles(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".warc.gz") }.sorted().map { dir + "/" + $0 }
    }

    /// Checks what every WARC file must satisfy: warcinfo first (named after its file), then
    /// request/response pairs linked both ways; every digest as warcio checks it, except that
    /// warcio digests a chunked payload with its framing (warcio issue #74) while spate, as
    /// WARC 1.1 §6.3.2 says, digests it with the transfer coding removed — for those this
    /// script's own de-chunking must give spate's digest. Returns the response records.
    static func checkStructure(_ report: Record, files: [String]) throws -> [Record] {
        var responses: [Record] = []
        for file in files {
            let records = try Self.records(report, file)
            #expect(records.first?["type"] as? String == "warcinfo", "\(file) does not start with warcinfo")
            let infoID = records.first?["id"] as? String
            let rest = Array(records.dropFirst())
            #expect(rest.count % 2 == 0, "\(file): \(rest.map { $0["type"] ?? "?" })")
            for r in records {
                let type = r["type"] as? String ?? ""
                let passed = r["passed"] as? Bool
                let problems = r["problems"] as? [String] ?? []
                #expect(r["block_digest"] is String, "\(type) without WARC-Block-Digest")
                if type == "response" {
                    responses.append(r)
                    let chunked = (r["transfer_encoding"] as? String)?.lowercased() == "chunked"
                    #expect(r["payload_digest"] as? String == r["dechunked_sha1"] as? String,
                            "payload digest is not the de-chunked payload's: \(r)")
                    if chunked {
                        #expect(problems.allSatisfy { $0.contains("payload digest") }, "\(problems)")
                    } else {
                        #expect(passed == true && problems.isEmpty, "warcio's digest check failed: \(r)")
                    }
                } else {
                    #expect(passed == true && problems.isEmpty, "warcio's digest check failed: \(r)")
                }
                if type != "warcinfo" {
                    #expect(r["warcinfo_id"] as? String == infoID, "\(r)")
                    let date = r["date"] as? String ?? ""
                    #expect(date.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"#, options: .regularExpression) != nil, "\(date)")
                }
            }
            for i in stride(from: 0, to: rest.count - 1, by: 2) {
                let (q, r) = (rest[i], rest[i + 1])
                #expect(q["type"] as? String == "request" && r["type"] as? String == "response", "\(q["type"] ?? "") then \(r["type"] ?? "")")
                #expect(q["concurrent_to"] as? [String] == [r["id"] as? String ?? "-"], "request not linked to its response")
                #expect(r["concurrent_to"] as? [String] == [q["id"] as? String ?? "-"], "response not linked to its request")
                #expect(q["target_uri"] as? String == r["target_uri"] as? String)
                #expect(q["content_type"] as? String == "application/http;msgtype=request")
                #expect(r["content_type"] as? String == "application/http;msgtype=response")
                let path = URL(string: q["target_uri"] as? String ?? "").map { $0.path + ($0.query.map { "?" + $0 } ?? "") } ?? "?"
                #expect(q["request_line"] as? String == "GET \(path) HTTP/1.1", "\(q)")
            }
        }
        return responses
    }

    // MARK: - Tests

    @Test func everyExchangeIsArchivedAndWarcioVerifiesIt() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let dir = try Self.tempDir("all")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = f.http.port4
        let lines = [
            f.http.url("/page?title=Archived&size=800"),   // 0 plain
            f.http.url("/gzip?size=5000"),                 // 1 gzip'd on the wire
            f.http.url("/chunked?n=6"),                    // 2 chunked
            f.http.url("/redirect-chain/2"),               // 3 three exchanges with -L
            f.http.url("/status/404"),                     // 4
            f.http.url("/no-length?size=300000"),          // 5 over --max-body: truncated record
            f.http.url("/deflate?size=3000"),              // 6 deflate
            "http://127.0.0.1:1/refused",                  // 7 no response: nothing archived
            "http://a.fixture.test:\(p)/page?title=Named", // 8 a name resolved by the DNS fixture
        ]
        let warc = dir + "/out.warc.gz"
        let result = try await f.run(lines, ["-L", "--max-body", "100000", "--ordered", "--warc", warc])
        #expect(result.exited && result.status == 1, "\(FetchEndToEndTests.describe(result))")
        let map = try FetchEndToEndTests.byJob(try FetchEndToEndTests.records(result))
        #expect(map.count == lines.count)
        #expect(FetchEndToEndTests.exceptionType(map[5]) == "body_too_large")
        #expect(FetchEndToEndTests.exceptionType(map[7]) == "connect_refused")

        let files = try Self.warcFiles(dir)
        #expect(files == [dir + "/out-00000.warc.gz"])
        var locations: [(String, Int)] = []
        var finals: [(job: Int, value: Record, warc: Record)] = []
        for job in [0, 1, 2, 3, 4, 6, 8] {
            let v = try #require(FetchEndToEndTests.value(map[job]), "job \(job): \(String(describing: map[job]))")
            let w = try #require(v["warc"] as? Record, "job \(job): no value.warc")
            #expect(Set(w.keys) == ["file", "offset", "length"], "docs/fetch.schema.json's warc object: \(w)")
            #expect(w["file"] as? String == files.first)
            locations.append((w["file"] as? String ?? "", w["offset"] as? Int ?? -1))
            finals.append((job, v, w))
        }
        let rawURLs = finals.map { ($0.value["final_url"] as? String ?? "").replacingOccurrences(of: "a.fixture.test", with: "127.0.0.1") }
        let report = try Self.warcio(files: files, locations: locations, rawURLs: rawURLs)
        let responses = try Self.checkStructure(report, files: files)

        // One exchange per response spate got: every hop of the redirect chain, the truncated
        // body, nothing for the refused connection.
        let expected = [lines[0], lines[1], lines[2], f.http.url("/redirect-chain/2"), f.http.url("/redirect-chain/1"),
                        f.http.url("/redirect-chain/0"), lines[4], lines[5], lines[6], lines[8]]
        #expect(responses.compactMap { $0["target_uri"] as? String }.sorted() == expected.sorted())
        for r in responses {
            #expect(r["ip"] as? String == "127.0.0.1")
            let truncated = r["truncated"] as? String
            #expect(truncated == ((r["target_uri"] as? String) == lines[5] ? "length" : nil), "\(r)")
        }
        let chainHops = responses.filter { ($0["target_uri"] as? String ?? "").contains("/redirect-chain/") }
        #expect(chainHops.compactMap { $0["status"] as? Int }.sorted() == [200, 302, 302])

        let byURI = Dictionary(responses.map { ($0["target_uri"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        let located = try #require(report["locations"] as? [Record])
        let raw = try #require(report["raw"] as? [String: String])
        for (i, item) in finals.enumerated() {
            let finalURL = try #require(item.value["final_url"] as? String)
            let r = try #require(byURI[finalURL], "no response record for \(finalURL)")
            // The record's file and offset land on the response record of the right URI.
            #expect(located[i]["type"] as? String == "response" && located[i]["target_uri"] as? String == finalURL,
                    "job \(item.job): offset \(item.warc) reads \(located[i])")
            #expect(item.warc["offset"] as? Int == r["offset"] as? Int)
            #expect(item.warc["length"] as? Int == r["length"] as? Int, "length is the response record's compressed length")
            // Stored as the server sent it (chunked framing and gzip kept) ...
            #expect(r["raw_payload_sha256"] as? String == raw[rawURLs[i]], "job \(item.job): stored payload differs from the server's bytes")
            // ... and decoded by warcio, it is the body spate reported.
            #expect(r["decoded_sha256"] as? String == item.value["body_sha256"] as? String, "job \(item.job)")
            #expect(r["decoded_length"] as? Int == item.value["bytes"] as? Int, "job \(item.job)")
        }
        #expect(byURI[lines[1]]?["content_encoding"] as? String == "gzip")
        #expect(byURI[lines[2]]?["transfer_encoding"] as? String == "chunked")
        #expect(byURI[lines[6]]?["content_encoding"] as? String == "deflate")
        // Over --max-body (100000): archived up to the write that passed the limit, no further.
        let cut = byURI[lines[5]]?["decoded_length"] as? Int ?? -1
        #expect(cut > 100_000 && cut <= 100_000 + 64 * 1024, "truncated body stored \(cut) bytes")
    }

    /// A response cut short is archived as far as it came, marked WARC-Truncated; every try of
    /// a retried URL is archived.
    @Test func truncatedResponsesAndRetriesAreArchived() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let dir = try Self.tempDir("trunc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = UUID().uuidString
        let lines = [
            f.http.url("/slow-body?ms=400&chunks=10&size=100"),                   // 0 --max-time passes mid-body
            f.http.url("/reset-mid-body?ms=50"),                                  // 1 reset after 1000 bytes
            f.http.url("/retry-after?key=\(key)&fail=1&after=0&code=503"),        // 2 503, then 200
        ]
        let result = try await f.run(lines, ["--ordered", "--max-time", "0.5", "--retries", "1", "--warc", dir + "/t.warc.gz"])
        let map = try FetchEndToEndTests.byJob(try FetchEndToEndTests.records(result))
        #expect(FetchEndToEndTests.exceptionType(map[0]) == "timeout", "\(String(describing: map[0]))")
        #expect(FetchEndToEndTests.exceptionType(map[1]) == "reset", "\(String(describing: map[1]))")
        #expect(FetchEndToEndTests.value(map[2])?["attempts"] as? Int == 2)
        let files = try Self.warcFiles(dir)
        let responses = try Self.checkStructure(try Self.warcio(files: files), files: files)
        // The timed-out and the reset transfer are retried too (--retries 1): two tries each.
        let slow = responses.filter { $0["target_uri"] as? String == lines[0] }
        let reset = responses.filter { $0["target_uri"] as? String == lines[1] }
        let retried = responses.filter { $0["target_uri"] as? String == lines[2] }
        #expect(slow.count == 2 && slow.allSatisfy { $0["truncated"] as? String == "time" }, "\(slow)")
        #expect(reset.count == 2 && reset.allSatisfy { $0["truncated"] as? String == "disconnect" }, "\(reset)")
        // As far as they came: part of the body, not all of it.
        for (r, full) in slow.map({ ($0, 1000) }) + reset.map({ ($0, 100_000) }) {
            let length = r["decoded_length"] as? Int ?? -1
            #expect(length > 0 && length < full, "stored \(length) of \(full) bytes: \(r)")
        }
        #expect(retried.compactMap { $0["status"] as? Int } == [503, 200] && retried.allSatisfy { !($0["truncated"] is String) })
    }

    /// bytes, body_sha256, title and the saved body are the same with and without --warc
    /// (spate decodes what curl hands over raw exactly as curl would have).
    @Test func recordValuesAreIdenticalWithAndWithoutWARC() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let dir = try Self.tempDir("same")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lines = [f.http.url("/gzip?size=70000"), f.http.url("/chunked?n=40"), f.http.url("/deflate?size=9000"),
                     f.http.url("/page?title=Same%20Title&size=3000"), f.http.url("/html-entities"), f.http.url("/binary?size=5000")]
        var runs: [[Int: Record]] = []
        for warc in [false, true] {
            let save = dir + (warc ? "/saved-warc" : "/saved-plain")
            let result = try await f.run(lines, ["--ordered", "--save", save] + (warc ? ["--warc", dir + "/same.warc.gz"] : []))
            #expect(result.exited && result.status == 0, "\(FetchEndToEndTests.describe(result))")
            runs.append(try FetchEndToEndTests.byJob(try FetchEndToEndTests.records(result)))
        }
        for job in 0..<lines.count {
            let plain = try #require(FetchEndToEndTests.value(runs[0][job]))
            let archived = try #require(FetchEndToEndTests.value(runs[1][job]))
            for key in ["status", "bytes", "body_sha256", "content_type", "content_length"] {
                #expect("\(plain[key] ?? "nil")" == "\(archived[key] ?? "nil")", "job \(job) \(key)")
            }
            #expect("\(plain["title"] ?? "nil")" == "\(archived["title"] ?? "nil")", "job \(job) title")
            #expect(plain["warc"] == nil && archived["warc"] is Record)
            let a = try Data(contentsOf: URL(fileURLWithPath: try #require(plain["saved"] as? String)))
            let b = try Data(contentsOf: URL(fileURLWithPath: try #require(archived["saved"] as? String)))
            #expect(a == b && a.count == plain["bytes"] as? Int, "job \(job): saved bodies differ")
        }
        #expect(FetchEndToEndTests.value(runs[0][0])?["title"] is NSNull)
        #expect(FetchEndToEndTests.value(runs[1][3])?["title"] as? String == "Same Title")
        #expect(FetchEndToEndTests.value(runs[1][0])?["bytes"] as? Int == 70000)
    }

    /// What the crawler's link extractor reads (a body consumer fed from the write callback)
    /// is the decoded body, with or without archiving.
    @Test func bodyConsumersSeeDecodedBytesWhileArchiving() async throws {
        final class Collector: BodyConsumer, @unchecked Sendable {
            var bytes: [UInt8] = []
            func begin() { bytes = [] }
            func consume(_ data: UnsafeRawBufferPointer, contentType: String?) { bytes.append(contentsOf: data) }
        }
        let dir = try Self.tempDir("consumer")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try WARCWriter(path: dir + "/c.warc.gz", software: "spate-test")
        var seen: [[[UInt8]]] = []
        for warc in [false, true] {
            let s = try await FetchTests.Setup.make { if warc { $0.warc = writer } }
            defer { s.close() }
            var bodies: [[UInt8]] = []
            for path in ["/gzip?size=20000", "/chunked?n=9", "/deflate?size=4000", "/page?title=C&size=900"] {
                let c = Collector()
                let o = await s.fetcher.fetch(try FetchURL.parse(s.http.url(path)).get(), overrides: FetchOverrides(consumer: c))
                #expect(o.result.failureValue == nil, "\(path): \(String(describing: o.result.failureValue))")
                #expect(c.bytes.count == o.bytes, "\(path)")
                bodies.append(c.bytes)
            }
            seen.append(bodies)
        }
        #expect(seen[0] == seen[1])
        #expect(seen[0][0].count == 20000 && seen[0][1] == Array((0..<9).map { "chunk \($0)\n" }.joined().utf8))
        try writer.close()
        #expect(writer.files.count == 1)
    }

    @Test func filesRollAtTheSizeLimitWithoutSplittingExchanges() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let dir = try Self.tempDir("roll")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lines = (0..<10).map { f.http.url("/page?title=Roll\($0)&size=\(2000 + 100 * $0)") }
        let result = try await f.run(lines, ["-c", "3", "--warc", dir + "/roll.warc", "--warc-max-size", "1500"])
        #expect(result.exited && result.status == 0, "\(FetchEndToEndTests.describe(result))")
        let map = try FetchEndToEndTests.byJob(try FetchEndToEndTests.records(result))
        let files = try Self.warcFiles(dir)
        #expect(files.count >= 4, "\(files)")
        #expect(files == (0..<files.count).map { WARCWriter.fileName(for: dir + "/roll.warc", index: $0) })
        let report = try Self.warcio(files: files)
        let responses = try Self.checkStructure(report, files: files)
        #expect(Set(responses.compactMap { $0["target_uri"] as? String }) == Set(lines) && responses.count == lines.count)
        for (n, file) in files.enumerated() {
            let records = try Self.records(report, file)
            #expect(records.count >= 3, "\(file) has no exchange")
            let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
            if n < files.count - 1 { #expect(size >= 1500, "\(file) rolled before the limit: \(size) bytes") }
        }
        for (job, r) in map {
            let w = try #require(FetchEndToEndTests.value(r)?["warc"] as? Record)
            let file = try #require(w["file"] as? String)
            #expect(files.contains(file))
            let inFile = try Self.records(report, file).first { $0["offset"] as? Int == w["offset"] as? Int }
            #expect(inFile?["type"] as? String == "response" && inFile?["target_uri"] as? String == lines[job], "job \(job)")
        }
    }

    /// A file size limit (EFBIG; ENOSPC takes the same path): each exchange that cannot be
    /// written fails its job with write_error, the run ends normally, and the file is cut
    /// back to whole records.
    @Test func aWriteErrorIsReportedNotACrash() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let dir = try Self.tempDir("efbig")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = try TempFile(lines: [f.http.url("/page?title=A&size=3000"), f.http.url("/gzip-bomb?mb=1")], name: "efbig")
        defer { input.remove() }
        let binary = try SpateProcess.binaryPath()
        let args = f.args(["-q", "--warc", dir + "/e.warc.gz", input.path]).map { "'\($0)'" }.joined(separator: " ")
        // bash's ulimit -f counts 1024-byte blocks (dash's 512): room for the warcinfo record
        // (about 500 bytes), not for a whole exchange.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "ulimit -f 1 && exec '\(binary)' \(args)"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 1, "status \(p.terminationStatus) (\(p.terminationReason)); \(stderr)")
        let records = try EndToEndTests.records(stdout)
        #expect(records.count == 2)
        for r in records {
            #expect(FetchEndToEndTests.exceptionType(r) == "write_error", "\(r)")
            let message = FetchEndToEndTests.exception(r)?["message"] as? String ?? ""
            #expect(message.contains("--warc") && message.contains("File too large"), "\(message)")
        }
        let files = try Self.warcFiles(dir)
        let report = try Self.warcio(files: files)
        #expect(try Self.records(report, files[0]).map { $0["type"] as? String } == ["warcinfo"])
        _ = try Self.checkStructure(report, files: files)
    }

    @Test func badWARCOptionsAreUsageErrors() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let missing = try await f.run([f.http.url("/")], ["--warc", "/nonexistent-spate-dir/x.warc.gz"])
        #expect(missing.exited && missing.status == 2, "\(FetchEndToEndTests.describe(missing))")
        #expect(missing.stderrText.contains("--warc /nonexistent-spate-dir/x-00000.warc.gz"), "\(missing.stderrText)")
        #expect(missing.stdout.isEmpty)
        let zero = try await f.run([f.http.url("/")], ["--warc", "/tmp/x.warc.gz", "--warc-max-size", "0"])
        #expect(zero.exited && zero.status == 2 && zero.stderrText.contains("--warc-max-size"), "\(zero.stderrText)")
    }

    /// Ctrl-C: the run stops, the archive is closed with whole records only.
    @Test func ctrlCLeavesAValidArchive() async throws {
        let f = try Fixtures()
        defer { f.stop() }
        let dir = try Self.tempDir("int")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lines = (0..<3).map { f.http.url("/page?title=Before\($0)&size=500") } + [f.http.url("/slow-headers?ms=20000")]
        let input = try TempFile(lines: lines, name: "warc-int")
        defer { input.remove() }
        let process = try SpateProcess(f.args(["--warc", dir + "/i.warc.gz", input.path]))
        let first = dir + "/i-00000.warc.gz"
        // Wait until the three fast exchanges are in the file (whole gzip members).
        var responses = 0
        for _ in 0..<200 where responses < 3 {
            usleep(25_000)
            if let data = FileManager.default.contents(atPath: first), let text = try? Inflater.decode(Array(data)) {
                responses = String(decoding: text, as: UTF8.self).components(separatedBy: "WARC-Type: response").count - 1
            }
        }
        #expect(responses == 3)
        process.interrupt()
        let result = await process.finish(timeLimit: 15)
        #expect(result.exited && result.status == 130, "\(FetchEndToEndTests.describe(result))")
        let report = try Self.warcio(files: [first])
        let archived = try Self.checkStructure(report, files: [first])
        #expect(Set(archived.compactMap { $0["target_uri"] as? String }) == Set(lines.prefix(3)))
    }
}
