import CSpate

/// Compresses one gzip member (RFC 1952) in pieces: WARC writes each record as its own
/// member, so a reader can seek to a record's offset and decompress just that record
/// (the `offset` in a fetch record's `warc` field). zlib's deflate with a gzip wrapper.
struct GzipMemberWriter: ~Copyable {
    enum Status: Equatable {
        /// The input was taken (and with `finish`, the member is complete).
        case ok
        /// The sink returned false: stopped there.
        case stopped
        /// zlib could not allocate its state, or deflate failed (its code).
        case failed(Int32)
    }

    private var z: UnsafeMutableRawPointer?
    private var out = [UInt8](repeating: 0, count: 64 * 1024)

    /// `level` 0…9; 6 is zlib's default trade of speed for size.
    init(level: Int32 = 6) { z = cspate_gzip_new(level) }

    deinit { cspate_gzip_free(z) }

    /// Compresses `input`, handing compressed output to `sink` whenever there is some; `sink`
    /// returning false stops. `finish` ends the member (trailer with CRC-32 and size).
    mutating func write(_ input: UnsafeRawBufferPointer, finish: Bool = false, _ sink: (UnsafeRawBufferPointer) -> Bool) -> Status {
        guard let z else { return .failed(-4) }
        var at = input.baseAddress
        var left = input.count
        while true {
            var consumed = 0, made = 0
            let rc = out.withUnsafeMutableBytes { o in
                cspate_gzip_write(z, at, left, &consumed, o.baseAddress, o.count, &made, finish ? 1 : 0)
            }
            at = at.map { $0 + consumed }
            left -= consumed
            if made > 0 && !out.withUnsafeBytes({ sink(UnsafeRawBufferPointer(rebasing: $0[..<made])) }) { return .stopped }
            if rc == 1 { return .ok }                        // Z_STREAM_END: member complete
            if rc < 0 && rc != -5 { return .failed(rc) }     // Z_BUF_ERROR (-5) only means "no progress"
            // Without `finish`, deflate is done with this input once it took all of it and left
            // room in the output; with `finish`, only at Z_STREAM_END.
            if !finish && left == 0 && made < out.count { return .ok }
        }
    }

    mutating func write(_ input: [UInt8], finish: Bool = false, _ sink: (UnsafeRawBufferPointer) -> Bool) -> Status {
        input.withUnsafeBytes { write($0, finish: finish, sink) }
    }

    /// One whole buffer as one member; nil if zlib failed.
    static func compress(_ input: [UInt8], level: Int32 = 6) -> [UInt8]? {
        var w = GzipMemberWriter(level: level)
        var out: [UInt8] = []
        let status = w.write(input, finish: true) { out.append(contentsOf: $0); return true }
        return status == .ok ? out : nil
    }
}
