import Foundation
import Testing

@testable import Spate

/// `Inflater` against gzip(1)'s output (an independent compressor).
@Suite struct InflaterTests {
    /// Compresses `data` with the gzip tool.
    static func gzip(_ data: [UInt8]) throws -> [UInt8] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "gzip -c -n -9"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try p.run()
        let writer = Thread { input.fileHandleForWriting.write(Data(data)); try? input.fileHandleForWriting.close() }
        writer.start()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Array(out)
    }

    @Test func highlyCompressibleInputInOneSmallChunkIsDecodedWhole() throws {
        // 1 MiB of one byte: a few hundred bytes compressed, so one call's input expands
        // far past the 32 KiB output buffer; nothing may stay inside zlib.
        let plain = [UInt8](repeating: 0x61, count: 1 << 20) + Array("end".utf8)
        let packed = try Self.gzip(plain)
        #expect(packed.count < 4096)
        #expect(try Inflater.decode(packed) == plain)
    }

    @Test func rawDeflateEndsWithItsLastBytes() throws {
        // A bare deflate stream has no trailer after the data: output still pending inside
        // zlib when the input runs out must come out too. Compressed by Python's zlib.
        let plain = [UInt8](repeating: 0x62, count: 300_000) + Array("tail".utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import sys, zlib; c = zlib.compressobj(9, zlib.DEFLATED, -15); "
            + "sys.stdout.buffer.write(c.compress(b'b' * 300000 + b'tail') + c.flush())"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let packed = Array(out.fileHandleForReading.readDataToEndOfFile())
        p.waitUntilExit()
        var inflater = Inflater(rawDeflate: true)
        var got: [UInt8] = []
        try inflater.inflate(packed) { got.append(contentsOf: $0); return true }
        #expect(got.count == plain.count && got == plain, "\(got.count) of \(plain.count) bytes")
    }

    @Test func everySplitOfTheInputGivesTheSameBytes() throws {
        let plain = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 * 7 / 13) }
        let packed = try Self.gzip(plain)
        for size in [1, 2, 7, 100, 4096, packed.count] {
            var inflater = Inflater()
            var out: [UInt8] = []
            var i = 0
            while i < packed.count {
                try inflater.inflate(Array(packed[i..<min(i + size, packed.count)])) { out.append(contentsOf: $0); return true }
                i += size
            }
            #expect(out == plain, "chunks of \(size)")
            let finished = inflater.finished
            #expect(finished)
        }
    }

    @Test func concatenatedMembersAndTheCapAndGarbage() throws {
        let a = Array("first member\n".utf8), b = Array("second member\n".utf8)
        #expect(try Inflater.decode(try Self.gzip(a) + Self.gzip(b)) == a + b)
        let big = try Self.gzip([UInt8](repeating: 0, count: 100_000))
        #expect(throws: Inflater.Failure.tooLarge(50_000)) { _ = try Inflater.decode(big, limit: 50_000) }
        #expect(throws: Inflater.Failure.self) { _ = try Inflater.decode([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF]) }
    }
}
