import Foundation
import Glibc
import Testing
@testable import Spate

/// The input reader's non-blocking half: the runner takes a batch of lines after each
/// blocking read, but only lines already read in, so that a pipe delivering lines one by
/// one (`tail -f urls | spate fetch`) never has its earlier lines wait for later ones.
@Suite struct LineReaderTests {
    /// The reader is not Sendable: handed to one other thread at a time, in turn.
    final class Handoff: @unchecked Sendable {
        let reader: LineReader
        var got: InputLine?
        var failure: (any Error)?
        init(_ reader: LineReader) { self.reader = reader }
    }

    @Test func bufferedLinesComeWithoutReadingMore() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        let (r, w) = (fds[0], fds[1])
        defer { close(r) }
        var writeOpen = true
        defer { if writeOpen { close(w) } }
        func put(_ s: String) { s.utf8CString.withUnsafeBufferPointer { _ = write(w, $0.baseAddress, $0.count - 1) } }

        put("a\n  b \r\n#comment\n\n   \nd")   // "d" has no newline yet
        let reader = try LineReader(paths: ["/dev/fd/\(r)"])
        #expect(try reader.next()?.text == "a")
        #expect(try reader.nextBuffered()?.text == "b")

        // Left in the buffer: a comment, blank lines and half a line. nextBuffered must say
        // "none" at once; were it to read(2), it would wait on the pipe (the watchdog
        // below then fails the test and closes the pipe to let it go).
        let box = Handoff(reader)
        let done = DispatchSemaphore(value: 0)
        Thread {
            do { box.got = try box.reader.nextBuffered() } catch { box.failure = error }
            done.signal()
        }.start()
        let inTime = done.wait(timeout: .now() + 3) == .success
        #expect(inTime, "nextBuffered() blocked on the pipe")
        if !inTime {
            close(w); writeOpen = false
            done.wait()
        }
        #expect(box.got == nil && box.failure == nil)

        if writeOpen {
            put("\ne\n")
            close(w); writeOpen = false
        }
        // The blocking read takes the rest: the comment and blanks are skipped, "d" is whole now.
        let rest = [try reader.next(), try reader.next(), try reader.next()].map { $0?.text }
        #expect(rest == (inTime ? ["d", "e", nil] : ["d", nil, nil]))
        #expect(try reader.nextBuffered() == nil)
    }

    @Test func bufferedLinesKeepNumbersAndTheFirstLinesBOM() throws {
        let file = try TempFile(lines: ["\u{FEFF}one", "# c", "two", "", "three"], name: "lr")
        defer { file.remove() }
        let reader = try LineReader(paths: [file.path])
        let first = try #require(try reader.next())
        #expect(first.text == "one" && first.line == 1)
        var more: [(String, Int)] = []
        while let l = try reader.nextBuffered() { more.append((l.text, l.line)) }
        #expect(more.map(\.0) == ["two", "three"] && more.map(\.1) == [3, 5])
        #expect(try reader.next() == nil)
    }

    /// An input that vanishes between the start-up check and its turn is an error naming
    /// it, after the earlier inputs' lines: never skipped in silence.
    @Test func anInputThatVanishedIsAnErrorNotSkipped() throws {
        let first = try TempFile(lines: ["a", "b"], name: "lr1")
        let second = try TempFile(lines: ["c"], name: "lr2")
        defer { first.remove(); second.remove() }
        let reader = try LineReader(paths: [first.path, second.path])
        second.remove()
        #expect(try reader.next()?.text == "a")
        #expect(try reader.next()?.text == "b")
        do {
            let line = try reader.next()
            Issue.record("expected an error for the removed input, got \(String(describing: line?.text))")
        } catch let error as InputError {
            #expect(error.path == second.path)
            #expect(error.message.contains("No such file"), "\(error)")
        }
    }

    /// A crawl's URL arguments are one more input, read from an anonymous file in memory:
    /// nothing is written to /tmp, where a file at a predictable name could be planted
    /// beforehand as a symlink to something the user owns.
    @Test func argumentsAreReadFromMemoryNotFromTmp() throws {
        let input = try LiteralInput(lines: ["http://a.example/", "  b  ", "# not a job", "c"])
        #expect(input.path.hasPrefix("/proc/self/fd/"), "\(input.path)")
        var target = [CChar](repeating: 0, count: 4096)
        let n = readlink(input.path, &target, target.count - 1)
        try #require(n > 0)
        let name = String(decoding: target[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(name.hasPrefix("/memfd:spate-arguments"), "the input is \(name)")
        let reader = try LineReader(paths: [input.path], names: ["<arguments>"])
        #expect(reader.allRegularFiles, "drained like a file after a stop")
        let a = try reader.next()
        #expect(a?.text == "http://a.example/" && a?.file == "<arguments>" && a?.line == 1)
        let b = try reader.next()
        #expect(b?.text == "b" && b?.line == 2)
        #expect(try reader.next()?.text == "c")
        #expect(try reader.next() == nil)
        withExtendedLifetime(input) {}   // the path names the file only while `input` lives
    }
}
