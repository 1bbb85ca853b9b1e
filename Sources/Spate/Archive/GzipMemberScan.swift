import CSpate
import Glibc

/// Where the complete gzip members at the start of a file end, and what follows them: how a
/// WARC file that a crash (kill -9, a power cut, a full disk) stopped in the middle of a
/// record is found and cut back to its last whole record.
///
/// Every WARC record is its own gzip member, and a gzip member says nothing of its length, so
/// the members are read through with zlib: a member is complete when inflate reaches its end
/// and the trailer's CRC-32 and length match. The file is read in 1 MiB pieces with pread(2);
/// what inflate produces is thrown away.
///
/// The tail after the last complete member is **torn** (safe to cut) only when no complete
/// member starts anywhere in it — so a cut never removes a complete record, even when the file
/// is damaged in the middle rather than at its end (that is reported as **damaged** instead).
struct GzipMemberScan: Equatable, Sendable {
    enum Tail: Equatable, Sendable {
        /// The file ends where its last complete member ends (an empty file too).
        case clean
        /// Bytes follow the last complete member and no complete member starts among them: a
        /// member cut short, or bytes that are not gzip at all. Cutting at ``end`` loses nothing whole.
        case torn
        /// Bytes that do not read follow the last complete member, and a complete member starts
        /// after them, at `resumesAt`: damage inside the file, not a torn end. Not to be cut.
        case damaged(resumesAt: Int)
    }

    struct ReadError: Error, Sendable {
        var errno: Int32
    }

    /// The file's size.
    var size: Int
    /// Complete members from the start of the file.
    var members: Int
    /// Where the last of them ends.
    var end: Int
    var tail: Tail
    /// Where the last complete member starts, and the first bytes it inflates to (a WARC
    /// record's header: its type).
    var lastStart = 0
    var lastHead: [UInt8] = []

    /// Equal when size, members, end and tail are (what a scan found, not how it looked).
    static func == (a: GzipMemberScan, b: GzipMemberScan) -> Bool {
        a.size == b.size && a.members == b.members && a.end == b.end && a.tail == b.tail
    }

    /// Scans an open file (read with pread(2); the offset is left alone).
    static func scan(fd: Int32) throws(ReadError) -> GzipMemberScan {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ReadError(errno: errno) }
        var source = Source(size: Int(st.st_size)) { offset, buffer in
            pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
        }
        return try scan(&source)
    }

    /// Scans bytes in memory.
    static func scan(_ bytes: [UInt8]) -> GzipMemberScan {
        var source = Source(size: bytes.count, window: 64 * 1024) { offset, buffer in
            let n = min(buffer.count, bytes.count - offset)
            bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
            return n
        }
        do { return try scan(&source) } catch { fatalError("reading memory failed") }
    }

    private static func scan(_ source: inout Source) throws(ReadError) -> GzipMemberScan {
        var reader = MemberReader()
        var end = 0, members = 0, lastStart = 0
        var lastHead: [UInt8] = []
        while end < source.size, let next = try reader.member(at: end, in: &source) {
            members += 1
            lastStart = end
            lastHead = reader.head
            end = next
        }
        var result = GzipMemberScan(size: source.size, members: members, end: end, tail: .clean)
        result.lastStart = lastStart
        result.lastHead = lastHead
        guard end < source.size else { return result }
        // A complete member further on means damage inside the file: keep everything.
        var from = end + 1
        while let candidate = try source.nextGzipHeader(from: from) {
            if try reader.member(at: candidate, in: &source) != nil {
                result.tail = .damaged(resumesAt: candidate)
                return result
            }
            from = candidate + 1
        }
        result.tail = .torn
        return result
    }

    /// A window of the file, refilled on demand.
    private struct Source {
        let size: Int
        let read: (Int, UnsafeMutableRawBufferPointer) -> Int
        var buffer: [UInt8]
        var start = 0
        var count = 0

        init(size: Int, window: Int = 1 << 20, read: @escaping (Int, UnsafeMutableRawBufferPointer) -> Int) {
            self.size = size
            self.read = read
            buffer = [UInt8](repeating: 0, count: window)
        }

        /// Makes at least `atLeast` bytes from `offset` on available (fewer at the end of the
        /// file) and returns how many are: 0 at the end.
        mutating func fill(at offset: Int, atLeast: Int = 1) throws(ReadError) -> Int {
            if offset >= start && offset + atLeast <= start + count { return start + count - offset }
            start = offset
            count = 0
            let want = min(buffer.count, max(0, size - offset))
            while count < want {
                let n = buffer.withUnsafeMutableBytes { b in read(offset + count, UnsafeMutableRawBufferPointer(rebasing: b[count..<want])) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ReadError(errno: errno)
                }
                if n == 0 { break }   // the file shrank: what is there is all there is
                count += n
            }
            return count
        }

        /// The bytes from `offset` to the end of the window (call ``fill(at:atLeast:)`` first).
        func withBytes<R>(at offset: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
            buffer.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[(offset - start)..<count])) }
        }

        /// The next offset from `from` on where a gzip header (1F 8B 08: deflate) starts.
        mutating func nextGzipHeader(from: Int) throws(ReadError) -> Int? {
            var at = from
            while true {
                let available = try fill(at: at, atLeast: 3)
                if available < 3 { return nil }
                let hit: Int? = withBytes(at: at) { b in
                    var i = 0
                    while i + 3 <= b.count {
                        guard let p = memchr(b.baseAddress! + i, 0x1F, b.count - 2 - i) else { return nil }
                        i = b.baseAddress!.distance(to: UnsafeRawPointer(p))
                        if b[i + 1] == 0x8B && b[i + 2] == 0x08 { return i }
                        i += 1
                    }
                    return nil
                }
                if let hit { return at + hit }
                at += available - 2
            }
        }
    }

    /// Reads one member through zlib.
    private struct MemberReader: ~Copyable {
        private let z = cspate_inflate_new(0)
        private var sink = [UInt8](repeating: 0, count: 64 * 1024)
        /// The first bytes the last member read inflated to.
        private(set) var head: [UInt8] = []

        deinit { cspate_inflate_free(z) }

        /// Where the member that starts at `offset` ends; nil if no complete, valid gzip member
        /// starts there (not gzip, corrupt, or cut short by the end of the file).
        mutating func member(at offset: Int, in source: inout Source) throws(ReadError) -> Int? {
            guard let z else { return nil }
            // zlib's automatic header detection would take a zlib stream too: gzip only.
            guard try source.fill(at: offset, atLeast: 3) >= 3,
                  source.withBytes(at: offset, { $0[0] == 0x1F && $0[1] == 0x8B && $0[2] == 0x08 }) else { return nil }
            guard cspate_inflate_reset(z) == 0 else { return nil }
            head.removeAll(keepingCapacity: true)
            var at = offset
            while true {
                let available = try source.fill(at: at)
                if available == 0 { return nil }   // cut short
                var consumed = 0, made = 0
                let rc = source.withBytes(at: at) { input in
                    sink.withUnsafeMutableBytes { out in
                        cspate_inflate(z, input.baseAddress, input.count, &consumed, out.baseAddress, out.count, &made)
                    }
                }
                at += consumed
                if head.count < 256 && made > 0 { head += sink[..<min(made, 256 - head.count)] }
                switch rc {
                case 1: return at                    // Z_STREAM_END: trailer read and checked
                case 0, -5:                          // Z_OK, Z_BUF_ERROR: more to come
                    if consumed == 0 && made == 0 { return nil }
                default: return nil                  // corrupt
                }
            }
        }
    }
}
