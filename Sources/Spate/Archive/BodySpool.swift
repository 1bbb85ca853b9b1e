import Glibc

/// A response body exactly as received, kept until its WARC record is written: in memory up
/// to `memoryLimit` bytes, then in an unlinked temporary file in `directory` (the WARC
/// files' directory, so a large body lands on the disk that will hold it anyway, and a
/// crawl with a thousand transfers in flight does not hold a thousand bodies in memory).
///
/// Filled on the hub by one transfer, then handed, complete and no longer changed, to the
/// WARC writer's queue: the `@unchecked Sendable` rests on that hand-over (the transfer's
/// continuation is resumed after the last `append`).
final class BodySpool: @unchecked Sendable {
    static let defaultMemoryLimit = 1 << 20

    let directory: String
    let memoryLimit: Int
    private(set) var count = 0
    private var memory: [UInt8] = []
    private var fd: Int32 = -1
    /// errno of a failed spill (open or write), 0 if none.
    private(set) var failure: Int32 = 0

    init(directory: String, memoryLimit: Int = BodySpool.defaultMemoryLimit) {
        self.directory = directory
        self.memoryLimit = memoryLimit
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Appends received bytes; false (and `failure` set) when the spill file cannot be written.
    func append(_ data: UnsafeRawBufferPointer) -> Bool {
        guard failure == 0 else { return false }
        if fd < 0 && memory.count + data.count <= memoryLimit {
            memory.append(contentsOf: data)
            count += data.count
            return true
        }
        if fd < 0 {
            var template = Array("\(directory)/.spate-warc-body-XXXXXX".utf8CString)
            fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            if fd < 0 { failure = errno; return false }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            // Unlinked at once: the space is freed when the spool goes, even after a crash.
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
            let spilled = memory.withUnsafeBytes { writeAll(fd, $0) }
            memory = []
            guard spilled else { failure = errno; return false }
        }
        guard writeAll(fd, data) else { failure = errno; return false }
        count += data.count
        return true
    }

    /// Reads the body back in pieces of at most 64 KiB; `body` returning false stops.
    /// Returns errno if reading the spill file failed, else 0.
    func forEachPiece(_ body: (UnsafeRawBufferPointer) -> Bool) -> Int32 {
        if fd < 0 {
            var at = 0
            while at < memory.count {
                let end = min(memory.count, at + 64 * 1024)
                if !memory.withUnsafeBytes({ body(UnsafeRawBufferPointer(rebasing: $0[at..<end])) }) { return 0 }
                at = end
            }
            return 0
        }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var offset = 0
        while offset < count {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, min($0.count, count - offset), off_t(offset)) }
            if n < 0 { if errno == EINTR { continue }; return errno }
            if n == 0 { return EIO }   // the file is shorter than what was written to it
            if !buffer.withUnsafeBytes({ body(UnsafeRawBufferPointer(rebasing: $0[..<n])) }) { return 0 }
            offset += n
        }
        return 0
    }

    /// Whether the body went to a spill file (tests).
    var spilled: Bool { fd >= 0 }
}

/// write(2) until all of `data` is written (EINTR retried); false with errno set on failure.
func writeAll(_ fd: Int32, _ data: UnsafeRawBufferPointer) -> Bool {
    var off = 0
    while off < data.count {
        let n = write(fd, data.baseAddress! + off, data.count - off)
        if n < 0 {
            if errno == EINTR { continue }
            return false
        }
        off += n
    }
    return true
}
