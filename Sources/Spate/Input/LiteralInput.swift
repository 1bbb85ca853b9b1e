import CSpate
import Glibc

/// Lines given on the command line (a crawl's seed URLs) as an input that ``LineReader``
/// opens like any file: an anonymous file in memory (memfd), named by its
/// `/proc/self/fd/N` path while this object lives. Nothing is written to the file system:
/// a file at a predictable name in a shared /tmp could be planted beforehand as a symlink,
/// and writing through it would overwrite whatever it points to. Where memfd or /proc is
/// missing, a `mkstemp` file (a random name, created exclusively) is used instead and
/// removed when this object goes.
public final class LiteralInput {
    /// What to give ``LineReader`` (a regular file, so it is drained like one after a stop).
    public let path: String
    private let fd: Int32
    private let unlinkPath: String?

    public init(lines: [String]) throws {
        let text = Array((lines.joined(separator: "\n") + "\n").utf8)
        var fd = cspate_memfd("spate-arguments")
        var path = "/proc/self/fd/\(fd)"
        var unlinkPath: String? = nil
        if fd < 0 || access(path, R_OK) != 0 {
            if fd >= 0 { close(fd) }
            let dir = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
            var template = Array("\(dir)/spate-arguments-XXXXXX".utf8CString)
            fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard fd >= 0 else {
                throw InputError(path: "<arguments>", message: "no file for the arguments: \(String(cString: strerror(errno)))")
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)   // like the memfd's MFD_CLOEXEC
            path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            unlinkPath = path
        }
        // Written before the stored properties are set: a failure cleans up here, and deinit
        // (which runs only for a fully initialised object) never does it a second time.
        var written = 0
        while written < text.count {
            let n = text.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let message = n == 0 ? "nothing written" : String(cString: strerror(errno))
                close(fd)
                if let unlinkPath { unlink(unlinkPath) }
                throw InputError(path: "<arguments>", message: "writing the arguments: \(message)")
            }
            written += n
        }
        self.fd = fd
        self.path = path
        self.unlinkPath = unlinkPath
    }

    deinit {
        close(fd)
        if let unlinkPath { unlink(unlinkPath) }
    }
}
