import Glibc

/// One input line that is a job: trimmed text and where it came from.
public struct InputLine: Sendable {
    /// The line trimmed of whitespace, CR and a leading UTF-8 BOM; for an over-long line
    /// only its first ``LineReader/keptBytes`` bytes (the rest was never kept in memory).
    public var text: String
    /// The input file ("-" for stdin).
    public var file: String
    /// 1-based line number in that file.
    public var line: Int
    /// The line's full length in bytes when it exceeded ``LineReader/maxLineBytes``.
    public var oversizedBytes: Int?
    /// The job index (0-based, in input order), set by the runner.
    public var job = 0
}

/// Streams lines from files or stdin with constant memory: a fixed read buffer, lines
/// capped at ``maxLineBytes`` (the rest of an over-long line is skipped, not buffered).
///
/// Blank lines and lines starting with `#` are not jobs and are skipped here.
/// Blocking reads: run it on its own thread, not on the cooperative pool.
public final class LineReader {
    /// Lines longer than this are jobs with a truncated `text` (and fail validation).
    public static let maxLineBytes = 64 * 1024
    /// Bytes kept of an over-long line.
    public static let keptBytes = 256

    private let paths: [String]
    /// What records call each input (`file`); the path unless told otherwise.
    private let names: [String]
    private var fileIndex = -1
    private var fd: Int32 = -1
    private var lineNumber = 0
    private var buffer = [UInt8](repeating: 0, count: 256 * 1024)
    private var start = 0
    private var end = 0
    private var eof = true
    private var atFileStart = true
    /// Whether every input is a regular file (so it can be read to the end quickly, e.g.
    /// to report never-started jobs after a join timeout).
    public let allRegularFiles: Bool

    /// Opens nothing yet but checks every path is readable, so that a typo is a usage
    /// error before any job runs.
    public init(paths: [String], names: [String]? = nil) throws {
        let all = paths.isEmpty ? ["-"] : paths
        self.paths = all
        self.names = names.map { $0.count == all.count ? $0 : all } ?? all
        var regular = true
        for p in self.paths {
            var st = stat()
            if p == "-" {
                if fstat(0, &st) != 0 || (st.st_mode & S_IFMT) != S_IFREG { regular = false }
                continue
            }
            guard access(p, R_OK) == 0, stat(p, &st) == 0 else {
                throw InputError(path: p, message: String(cString: strerror(errno)))
            }
            if (st.st_mode & S_IFMT) == S_IFDIR { throw InputError(path: p, message: "is a directory") }
            if (st.st_mode & S_IFMT) != S_IFREG { regular = false }
        }
        allRegularFiles = regular
    }

    deinit { if fd > 0 { close(fd) } }

    /// The next job line, or nil at the end of the last input.
    public func next() throws -> InputLine? {
        while true {
            if fd < 0, try !openNext() { return nil }
            guard let (bytes, total) = try readLine() else {
                if fd > 0 { close(fd) }
                fd = -1
                continue
            }
            if let line = jobLine(bytes, total) { return line }
        }
    }

    /// The next job line if it is already read in (a whole line in the buffer): never calls
    /// read(2), never blocks, never opens the next file. nil when there is none (which is not
    /// the end of the input). The runner takes a batch of lines this way after each
    /// blocking ``next()``, so that a pipe delivering lines one by one is never waited on for more.
    public func nextBuffered() throws -> InputLine? {
        while fd >= 0, start < end, buffer[start..<end].contains(0x0A) {
            guard let (bytes, total) = try readLine() else { return nil }
            if let line = jobLine(bytes, total) { return line }
        }
        return nil
    }

    /// A raw line as a job: trimmed (and the BOM of a file's first line dropped); nil for a
    /// blank or comment line.
    private func jobLine(_ bytes: [UInt8], _ total: Int) -> InputLine? {
        lineNumber += 1
        var slice = bytes[...]
        if atFileStart {
            atFileStart = false
            if slice.starts(with: [0xEF, 0xBB, 0xBF]) { slice = slice.dropFirst(3) }
        }
        while let f = slice.first, f == 0x20 || f == 0x09 || f == 0x0D || f == 0x0B || f == 0x0C { slice = slice.dropFirst() }
        while let l = slice.last, l == 0x20 || l == 0x09 || l == 0x0D || l == 0x0B || l == 0x0C { slice = slice.dropLast() }
        if slice.isEmpty || slice.first == UInt8(ascii: "#") { return nil }
        let oversized = total > LineReader.maxLineBytes
        if oversized { slice = slice.prefix(LineReader.keptBytes) }
        return InputLine(text: String(decoding: slice, as: UTF8.self), file: names[fileIndex],
                         line: lineNumber, oversizedBytes: oversized ? total : nil)
    }

    /// Opens the next input; false after the last. An input that cannot be opened now
    /// (removed or made unreadable since the start-up check) is an error, as a failed read
    /// is: its lines are unknown, so it must not be passed over in silence.
    private func openNext() throws -> Bool {
        fileIndex += 1
        guard fileIndex < paths.count else { fileIndex = paths.count - 1; return false }
        let p = paths[fileIndex]
        fd = p == "-" ? 0 : open(p, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let message = String(cString: strerror(errno))
            fd = -1
            throw InputError(path: names[fileIndex], message: message)
        }
        lineNumber = 0
        start = 0
        end = 0
        eof = false
        atFileStart = true
        return true
    }

    /// Returns the next raw line (without "\n"), capped at maxLineBytes + 1 bytes, and its
    /// full length; nil at end of file.
    private func readLine() throws -> ([UInt8], Int)? {
        var line: [UInt8] = []
        var total = 0
        while true {
            if start < end {
                let found = buffer[start..<end].firstIndex(of: 0x0A)
                let stop = found ?? end
                let take = min(stop - start, LineReader.maxLineBytes + 1 - line.count)
                if take > 0 { line.append(contentsOf: buffer[start..<(start + take)]) }
                total += stop - start
                start = found.map { $0 + 1 } ?? end
                if found != nil { return (line, total) }
            }
            if eof { return total > 0 || !line.isEmpty ? (line, total) : nil }
            start = 0
            end = 0
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw InputError(path: names[fileIndex], message: String(cString: strerror(errno)))
            }
            if n == 0 { eof = true } else { end = n }
        }
    }
}

@available(*, unavailable)
extension LineReader: Sendable {}

public struct InputError: Error, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }
}
