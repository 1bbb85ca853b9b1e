import Glibc

/// Messages, progress and the summary on stderr.
///
/// Written with write(2), and a failure ignored: stderr may be closed (`2>&-`), a pipe
/// whose reader has gone, or a full disk. Foundation's `FileHandle.write(_:)` traps on any
/// write error — a closed stderr crashed spate (exit 132) after its records were written.
public enum StandardError {
    public static func write(_ text: String) {
        text.withUTF8Bytes { _ = writeAll(2, UnsafeRawBufferPointer($0)) }
    }
}
