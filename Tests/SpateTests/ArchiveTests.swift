import Foundation
import Glibc
import Testing
@testable import Spate

/// The pieces under WARC output: SHA-1 and base32 against known vectors, gzip members,
/// the chunked decoder, the body spool, the raw capture's decoding, and the writer's files.
@Suite struct ArchiveTests {
    // MARK: - SHA-1 and base32

    /// RFC 4648 §10's vectors, plus one with high bits; each checked with Python:
    /// `base64.b32encode(b).decode()`.
    @Test func base32MatchesRFC4648() {
        let vectors: [(String, [UInt8])] = [
            ("", []), ("MY======", Array("f".utf8)), ("MZXQ====", Array("fo".utf8)), ("MZXW6===", Array("foo".utf8)),
            ("MZXW6YQ=", Array("foob".utf8)), ("MZXW6YTB", Array("fooba".utf8)), ("MZXW6YTBOI======", Array("foobar".utf8)),
            ("AD7RBAAH", [0x00, 0xFF, 0x10, 0x80, 0x07]),
        ]
        for (expected, bytes) in vectors {
            #expect(Base32.encode(bytes) == expected, "\(bytes)")
        }
    }

    /// Digests computed with Python: `h = hashlib.sha1(b).digest(); h.hex()` and
    /// `"sha1:" + base64.b32encode(h).decode()`; `hashlib.sha256(b).hexdigest()`.
    @Test func digestsMatchPythonHashlib() {
        for (text, hex) in [("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
                            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")] {
            var h = Digest(.sha256)
            h.update(Array(text.utf8))
            #expect(h.hex() == hex, "sha256(\(text))")
        }
        let big = Array((0..<4096).map { _ in (0...255).map { UInt8($0) } }.joined())   // bytes(range(256)) * 4096
        let vectors: [([UInt8], String, String)] = [
            ([], "da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"),
            (Array("abc".utf8), "a9993e364706816aba3e25717850c26c9cd0d89d", "sha1:VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5"),
            (Array("The quick brown fox jumps over the lazy dog".utf8), "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
             "sha1:F7KODRT2FUUPZ3MET3Q3W5XHHENZH2YS"),
            (big, "ecfc8e86fdd83811f9cc9bf500993b63069923be", "sha1:5T6I5BX53A4BD6OMTP2QBGJ3MMDJSI56"),
        ]
        for (bytes, hex, warc) in vectors {
            var h = Digest(.sha1)
            h.update(bytes)
            #expect(h.finalize().map { String(format: "%02x", $0) }.joined() == hex, "\(bytes.count) bytes")
            #expect(Digest.warcDigest(bytes) == warc, "\(bytes.count) bytes")
            // Fed in uneven pieces, the same digest.
            var pieces = Digest(.sha1)
            var at = 0, step = 1
            while at < bytes.count {
                let end = min(bytes.count, at + step)
                pieces.update(Array(bytes[at..<end]))
                at = end
                step = step * 3 + 1
            }
            #expect(pieces.warcDigest() == warc, "\(bytes.count) bytes in pieces")
        }
    }

    // MARK: - gzip members

    @Test func gzipMembersRoundTripThroughInflater() throws {
        var data: [UInt8] = []
        for i in 0..<300_000 { data.append(UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) & (i % 7 == 0 ? 0xFF : 0x3F)) }
        // Streamed in uneven pieces into one member.
        var w = GzipMemberWriter()
        var member: [UInt8] = []
        var at = 0
        for size in [1, 10, 1000, 70_000, 100_000, 500_000] where at < data.count {
            let end = min(data.count, at + size)
            #expect(w.write(Array(data[at..<end])) { member.append(contentsOf: $0); return true } == .ok)
            at = end
        }
        #expect(w.write([], finish: true) { member.append(contentsOf: $0); return true } == .ok)
        #expect(Array(member.prefix(2)) == [0x1F, 0x8B], "gzip magic")
        #expect(try Inflater.decode(member) == data)

        // Two members back to back are one gzip file (as a WARC file is): both come out.
        let second = try #require(GzipMemberWriter.compress(Array("second record".utf8)))
        #expect(try Inflater.decode(member + second) == data + Array("second record".utf8))
        let empty = try #require(GzipMemberWriter.compress([]))
        #expect(try Inflater.decode(empty) == [])

        // A sink that says stop stops the writer.
        var stopper = GzipMemberWriter()
        #expect(stopper.write(data, finish: true) { _ in false } == .stopped)
    }

    // MARK: - Chunked decoder

    static func dechunk(_ pieces: [[UInt8]]) throws -> (out: [UInt8], finished: Bool) {
        var d = ChunkedDecoder()
        var out: [UInt8] = []
        for p in pieces {
            try p.withUnsafeBytes { (b: UnsafeRawBufferPointer) in
                try d.feed(b) { out.append(contentsOf: $0); return true }
            }
        }
        return (out, d.isFinished)
    }

    @Test func chunkedDecoderHandlesExtensionsTrailersAndAnySplit() throws {
        let wire = Array(("5;name=value;other\r\nhello\r\n"            // extension
                          + "0000B \t;q=\"a;b\"\r\n, big world\r\n"      // leading zeros, uppercase hex, whitespace
                          + "1\n!\n"                                     // bare LF line ends
                          + "0;last\r\nExpires: never\r\nX-Sum: 1\r\n\r\n"  // trailers
                          + "GARBAGE after the end").utf8)
        let expected = Array("hello, big world!".utf8)
        let whole = try Self.dechunk([wire])
        #expect(whole.out == expected)
        #expect(whole.finished)
        // Every two-way split, and byte by byte: the same bytes.
        for cut in 0...wire.count {
            let r = try Self.dechunk([Array(wire[..<cut]), Array(wire[cut...])])
            #expect(r.out == expected && r.finished, "split at \(cut)")
        }
        let bytewise = try Self.dechunk(wire.map { [$0] })
        #expect(bytewise.out == expected && bytewise.finished)
        // Not finished before the final empty line.
        let unfinished = try Self.dechunk([Array("3\r\nabc\r\n0\r\nX: y\r\n".utf8)])
        #expect(unfinished.out == Array("abc".utf8) && !unfinished.finished)
    }

    @Test func chunkedDecoderRejectsBrokenFraming() {
        #expect(throws: ChunkedDecoder.Failure.badChunkSize) { try Self.dechunk([Array("zz\r\nabc\r\n".utf8)]) }
        #expect(throws: ChunkedDecoder.Failure.badChunkSize) { try Self.dechunk([Array("\r\n".utf8)]) }
        #expect(throws: ChunkedDecoder.Failure.badChunkSize) { try Self.dechunk([Array("10000000000000000\r\n".utf8)]) }
        #expect(throws: ChunkedDecoder.Failure.missingCRLF) { try Self.dechunk([Array("3\r\nabcd\r\n".utf8)]) }
        #expect(throws: ChunkedDecoder.Failure.lineTooLong) {
            try Self.dechunk([Array("3;".utf8) + [UInt8](repeating: 0x61, count: ChunkedDecoder.maxLine + 10)])
        }
        // A 16-digit size is still a size (it just never arrives).
        #expect(throws: Never.self) { try Self.dechunk([Array("000000000000000A\r\n0123456789".utf8)]) }
    }

    // MARK: - Body spool

    @Test func bodySpoolSpillsToAFileAndReadsBack() throws {
        let dir = try Self.tempDir("spool")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = BodySpool(directory: dir, memoryLimit: 1000)
        var expected: [UInt8] = []
        for i in 0..<50 {
            let piece = [UInt8](repeating: UInt8(i), count: 97 * (i % 5 + 1))
            expected += piece
            #expect(piece.withUnsafeBytes { spool.append($0) })
        }
        #expect(spool.spilled && spool.count == expected.count)
        var back: [UInt8] = []
        #expect(spool.forEachPiece { back.append(contentsOf: $0); return true } == 0)
        #expect(back == expected)
        // The spill file was unlinked at once: nothing is left in the directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)

        let small = BodySpool(directory: dir, memoryLimit: 1000)
        #expect(Array("tiny".utf8).withUnsafeBytes { small.append($0) })
        var smallBack: [UInt8] = []
        #expect(small.forEachPiece { smallBack.append(contentsOf: $0); return true } == 0)
        #expect(!small.spilled && smallBack == Array("tiny".utf8))

        // A spill that cannot be made is reported, not a crash.
        let broken = BodySpool(directory: dir + "/missing", memoryLimit: 0)
        #expect(!Array("x".utf8).withUnsafeBytes { broken.append($0) })
        #expect(broken.failure == ENOENT)
    }

    // MARK: - Raw capture

    /// Feeds a capture header lines and a body in small pieces; what it delivers and keeps.
    static func capture(_ lines: [String], body: [UInt8], piece: Int = 7) throws -> (capture: RawCapture, delivered: [UInt8]) {
        let c = RawCapture(spoolDirectory: NSTemporaryDirectory(), maxBody: 10 << 20)
        for l in lines { Array(l.utf8).withUnsafeBytes { c.headerLine($0) } }
        var delivered: [UInt8] = []
        var at = 0
        while at < body.count {
            let end = min(body.count, at + piece)
            let ok = Array(body[at..<end]).withUnsafeBytes { c.body($0) { delivered.append(contentsOf: $0); return true } }
            #expect(ok)
            at = end
        }
        return (c, delivered)
    }

    static func chunked(_ data: [UInt8], size: Int) -> [UInt8] {
        var out: [UInt8] = []
        var at = 0
        while at < data.count {
            let end = min(data.count, at + size)
            out += Array(String(end - at, radix: 16).utf8) + [0x0D, 0x0A] + data[at..<end] + [0x0D, 0x0A]
            at = end
        }
        return out + Array("0\r\nX-Trailer: t\r\n\r\n".utf8)
    }

    @Test func rawCaptureKeepsTheWireAndDeliversTheDecodedBody() throws {
        let text = Array(String(repeating: "<p>archive me</p>\n", count: 500).utf8)
        let gz = try #require(GzipMemberWriter.compress(text))
        let wire = Self.chunked(gz, size: 333)
        let head = ["HTTP/1.1 200 OK\r\n", "Content-Encoding: gzip\r\n", "Transfer-Encoding: chunked\r\n", "\r\n"]
        // A 100 Continue before the final response is not part of the archived head.
        let (c, delivered) = try Self.capture(["HTTP/1.1 100 Continue\r\n", "\r\n"] + head + ["X-Trailer: t\r\n"], body: wire)
        #expect(delivered == text, "chunked + gzip decoded to the original")
        #expect(c.decodeFailure == nil)
        let url = try FetchURL.parse("http://user:pw@127.0.0.1:8/x").get()
        let x = try #require(c.exchange(url: url, ip: "127.0.0.1", status: 200, truncated: nil))
        #expect(x.responseHead == Array(head.joined().utf8), "final head only, trailers not in it")
        #expect(x.targetURI == "http://127.0.0.1:8/x", "no userinfo in WARC-Target-URI")
        var raw: [UInt8] = []
        _ = x.body.forEachPiece { raw.append(contentsOf: $0); return true }
        #expect(raw == wire, "the body as received")
        #expect(x.blockDigest == Digest.warcDigest(x.responseHead + wire))
        #expect(x.payloadDigest == Digest.warcDigest(gz), "payload: transfer coding removed, content coding kept")

        // deflate as a zlib stream, and as bare deflate (some servers): both decoded.
        let zlib = try Self.python("import sys,zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read()))", text)
        let bare = try Self.python("import sys,zlib; c=zlib.compressobj(6,zlib.DEFLATED,-15); sys.stdout.buffer.write(c.compress(sys.stdin.buffer.read())+c.flush())", text)
        for body in [zlib, bare] {
            let (d, out) = try Self.capture(["HTTP/1.1 200 OK\r\n", "Content-Encoding: deflate\r\n", "\r\n"], body: body, piece: 1)
            #expect(out == text && d.decodeFailure == nil)
        }
        // A coding spate does not decode is passed through as it came.
        let (b, brOut) = try Self.capture(["HTTP/1.1 200 OK\r\n", "Content-Encoding: br\r\n", "\r\n"], body: gz)
        #expect(brOut == gz && b.decodeFailure == nil)
        // Corrupt gzip: the raw bytes are still all kept, and the failure is said.
        let junk = Array(String(repeating: "not gzip ", count: 20).utf8)
        let (bad, _) = try Self.capture(["HTTP/1.1 200 OK\r\n", "Content-Encoding: gzip\r\n", "\r\n"], body: junk)
        #expect(bad.decodeFailure?.hasPrefix("gzip:") == true)
        #expect(bad.spool.count == junk.count)
        // …and the payload digest covers all of it, not the part before the failure, plain
        // and chunked (the chunks' framing removed).
        let badX = try #require(bad.exchange(url: url, ip: "127.0.0.1", status: 200, truncated: nil))
        #expect(badX.payloadDigest == Digest.warcDigest(junk))
        let (badChunked, _) = try Self.capture(["HTTP/1.1 200 OK\r\n", "Content-Encoding: gzip\r\n", "Transfer-Encoding: chunked\r\n", "\r\n"],
                                               body: Self.chunked(junk, size: 10))
        #expect(badChunked.decodeFailure?.hasPrefix("gzip:") == true)
        let badChunkedX = try #require(badChunked.exchange(url: url, ip: "127.0.0.1", status: 200, truncated: nil))
        #expect(badChunkedX.payloadDigest == Digest.warcDigest(junk))
        // No final response head: nothing to archive.
        let (none, _) = try Self.capture(["HTTP/1.1 100 Continue\r\n", "\r\n"], body: [])
        #expect(none.exchange(url: url, ip: "", status: 100, truncated: nil) == nil)
    }

    /// Runs a Python one-liner over `input` (for reference encoders independent of zlib's use here).
    static func python(_ code: String, _ input: [UInt8]) throws -> [UInt8] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [ProcessInfo.processInfo.environment["SPATE_TEST_PYTHON"] ?? "python3", "-c", code]
        let stdin = Pipe(), stdout = Pipe()
        p.standardInput = stdin
        p.standardOutput = stdout
        try p.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        return Array(out)
    }

    // MARK: - Writer

    static func tempDir(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spate-archive-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A record read back: its header fields and block.
    struct Record {
        var fields: [String: String]
        var block: [UInt8]
        var type: String { fields["WARC-Type"] ?? "" }
    }

    /// Parses decompressed WARC bytes into records (a test-side reader: header lines,
    /// Content-Length, block, the two CRLFs).
    static func parseRecords(_ bytes: [UInt8]) throws -> [Record] {
        var records: [Record] = []
        var at = 0
        while at < bytes.count {
            var fields: [String: String] = [:]
            var first = true
            while true {
                guard let lf = bytes[at...].firstIndex(of: 0x0A) else { throw Bad(what: "unterminated header at \(at)") }
                let line = String(decoding: bytes[at..<lf], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                at = lf + 1
                if first { #expect(line == "WARC/1.1"); first = false; continue }
                if line.isEmpty { break }
                let parts = line.split(separator: ":", maxSplits: 1)
                fields[String(parts[0])] = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            }
            let length = try #require(fields["Content-Length"].flatMap { Int($0) })
            records.append(Record(fields: fields, block: Array(bytes[at..<(at + length)])))
            at += length
            #expect(Array(bytes[at..<(at + 4)]) == Array("\r\n\r\n".utf8))
            at += 4
        }
        return records
    }

    struct Bad: Error { var what: String }

    static func exchange(_ i: Int, bodySize: Int, directory: String) -> WARCExchange {
        let spool = BodySpool(directory: directory, memoryLimit: 100)
        // Incompressible (a linear congruential sequence), so compressed sizes reach the limit.
        var x = UInt32(i + 1)
        let body = (0..<bodySize).map { _ in x = x &* 1_664_525 &+ 1_013_904_223; return UInt8(truncatingIfNeeded: x >> 24) }
        _ = body.withUnsafeBytes { spool.append($0) }
        let head = Array("HTTP/1.1 200 OK\r\nContent-Length: \(bodySize)\r\n\r\n".utf8)
        return WARCExchange(targetURI: "http://example.test/\(i)", date: WARCDate(seconds: 1_700_000_000 + i, microseconds: 42),
                            ip: "127.0.0.1", request: Array("GET /\(i) HTTP/1.1\r\nHost: example.test\r\n\r\n".utf8),
                            responseHead: head, body: spool, blockDigest: Digest.warcDigest(head + body),
                            payloadDigest: Digest.warcDigest(body), truncated: i == 3 ? "length" : nil)
    }

    @Test func writerNamesFiles() {
        #expect(WARCWriter.fileName(for: "out.warc.gz", index: 0) == "out-00000.warc.gz")
        #expect(WARCWriter.fileName(for: "/a/b/out.warc", index: 12) == "/a/b/out-00012.warc.gz")
        #expect(WARCWriter.fileName(for: "crawl", index: 3) == "crawl-00003.warc.gz")
        #expect(WARCWriter.fileName(for: "x.gz", index: 123_456) == "x-123456.warc.gz")
    }

    @Test func writerRollsFilesAndEveryRecordIsItsOwnMember() throws {
        let dir = try Self.tempDir("writer")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try WARCWriter(path: dir + "/out.warc.gz", maxFileSize: 3000, software: "spate-test",
                                    info: [WARCWriter.Field("robots", "ignore"), WARCWriter.Field("note", "two\nlines")])
        var locations: [WARCLocation] = []
        for i in 0..<8 { locations.append(try writer.write(Self.exchange(i, bodySize: 700 + 400 * i, directory: dir))) }
        try writer.close()
        #expect(throws: WARCWriter.Failure.self) { try writer.write(Self.exchange(99, bodySize: 1, directory: dir)) }

        let files = writer.files
        #expect(files.count >= 3, "\(files)")
        #expect(files == (0..<files.count).map { WARCWriter.fileName(for: dir + "/out.warc.gz", index: $0) })
        var seen: [String] = []
        for (n, file) in files.enumerated() {
            let data = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
            let records = try Self.parseRecords(try Inflater.decode(data))
            #expect(records.first?.type == "warcinfo", "\(file)")
            let info = String(decoding: records[0].block, as: UTF8.self)
            #expect(info.contains("software: spate-test\r\n") && info.contains("format: WARC File Format 1.1\r\n")
                    && info.contains("robots: ignore\r\n") && info.contains("note: two lines\r\n"), "\(info)")
            #expect(records[0].fields["WARC-Filename"] == (file as NSString).lastPathComponent)
            #expect(records[0].fields["WARC-Block-Digest"] == Digest.warcDigest(records[0].block))
            // Then request/response pairs, linked both ways, never split across files.
            let rest = Array(records.dropFirst())
            #expect(rest.count % 2 == 0 && !rest.isEmpty, "\(file): \(rest.map(\.type))")
            for pair in stride(from: 0, to: rest.count - 1, by: 2) {
                let (q, r) = (rest[pair], rest[pair + 1])
                #expect(q.type == "request" && r.type == "response")
                #expect(q.fields["WARC-Concurrent-To"] == r.fields["WARC-Record-ID"])
                #expect(r.fields["WARC-Concurrent-To"] == q.fields["WARC-Record-ID"])
                #expect(q.fields["WARC-Target-URI"] == r.fields["WARC-Target-URI"])
                #expect(q.fields["WARC-Warcinfo-ID"] == records[0].fields["WARC-Record-ID"])
                #expect(q.fields["Content-Type"] == "application/http;msgtype=request")
                #expect(r.fields["Content-Type"] == "application/http;msgtype=response")
                #expect(q.fields["WARC-Block-Digest"] == Digest.warcDigest(q.block))
                #expect(r.fields["WARC-Block-Digest"] == Digest.warcDigest(r.block))
                #expect(r.fields["WARC-IP-Address"] == "127.0.0.1")
                let id = try #require(r.fields["WARC-Record-ID"])
                #expect(id.hasPrefix("<urn:uuid:") && id.hasSuffix(">") && id.count == 47, "\(id)")
                seen.append(r.fields["WARC-Target-URI"] ?? "")
                if r.fields["WARC-Target-URI"] == "http://example.test/3" { #expect(r.fields["WARC-Truncated"] == "length") }
                if r.fields["WARC-Target-URI"] == "http://example.test/5" {
                    #expect(r.fields["WARC-Date"] == "2023-11-14T22:13:25.000042Z")
                }
            }
            // Only the last file may be under the limit; a rolled file reached it.
            if n < files.count - 1 { #expect(data.count >= 3000, "\(file) rolled at \(data.count) bytes") }
        }
        #expect(seen == (0..<8).map { "http://example.test/\($0)" })

        // Each location is the response's own gzip member.
        for (i, loc) in locations.enumerated() {
            let data = Array(try Data(contentsOf: URL(fileURLWithPath: loc.file)))
            let member = Array(data[loc.offset..<(loc.offset + loc.length)])
            let records = try Self.parseRecords(try Inflater.decode(member))
            #expect(records.count == 1 && records[0].type == "response" && records[0].fields["WARC-Target-URI"] == "http://example.test/\(i)")
        }
    }

    @Test func writerReportsAnUnwritableFile() throws {
        #expect(throws: WARCWriter.Failure.self) {
            try WARCWriter(path: "/nonexistent-spate-dir/out.warc.gz", software: "spate-test")
        }
    }
}
