import CSpate

/// Streaming gzip/zlib decompression (zlib's inflate with automatic header detection):
/// gzip'd sitemaps served as files, and bodies that spate decodes itself when it keeps the
/// raw bytes for WARC. Concatenated gzip members are decoded as one stream, as gunzip does.
/// Output is capped: a compression bomb stops at `limit` decoded bytes.
struct Inflater: ~Copyable {
    enum Failure: Error, Equatable {
        /// The input is not a valid gzip/zlib/deflate stream (zlib's message).
        case corrupt(String)
        /// More than `limit` bytes would be produced.
        case tooLarge(Int)
        /// zlib could not allocate its state.
        case unavailable
    }

    private var z: UnsafeMutableRawPointer?
    private(set) var produced = 0
    /// True once a complete stream (or member) has ended and no further input followed.
    private(set) var finished = false
    let limit: Int

    /// `rawDeflate` for a bare deflate stream (no zlib or gzip header).
    init(limit: Int = .max, rawDeflate: Bool = false) {
        self.limit = limit
        z = cspate_inflate_new(rawDeflate ? 1 : 0)
    }

    deinit { cspate_inflate_free(z) }

    /// Decodes `input`, handing each decoded chunk to `sink`. `sink` returning false stops.
    mutating func inflate(_ input: UnsafeRawBufferPointer, _ sink: (UnsafeRawBufferPointer) -> Bool) throws(Failure) {
        guard let z else { throw .unavailable }
        guard var at = input.baseAddress, input.count > 0 else { return }
        var left = input.count
        var out = [UInt8](repeating: 0, count: 32 * 1024)
        while true {
            if finished {
                // Another gzip member follows the first (or only trailing bytes are left).
                guard left > 0 else { return }
                if cspate_inflate_reset(z) != 0 { throw .corrupt("reset failed") }
                finished = false
            }
            var consumed = 0, made = 0
            let rc = out.withUnsafeMutableBytes { o in
                cspate_inflate(z, at, left, &consumed, o.baseAddress, o.count, &made)
            }
            at += consumed
            left -= consumed
            if made > 0 {
                produced += made
                if produced > limit { throw .tooLarge(limit) }
                let keepGoing = out.withUnsafeBytes { sink(UnsafeRawBufferPointer(rebasing: $0[..<made])) }
                if !keepGoing { return }
            }
            switch rc {
            case 1: // Z_STREAM_END
                finished = true
                continue
            case 0, -5: // Z_OK, Z_BUF_ERROR (no progress without more input or room)
                break
            default:
                throw .corrupt(Inflater.message(rc))
            }
            // A full output buffer may mean more output is pending even with no input left.
            if made == out.count { continue }
            if left == 0 || (consumed == 0 && made == 0) { return }
        }
    }

    mutating func inflate(_ input: [UInt8], _ sink: (UnsafeRawBufferPointer) -> Bool) throws(Failure) {
        let copy = input
        var failure: Failure? = nil
        copy.withUnsafeBytes { (b: UnsafeRawBufferPointer) in
            do throws(Failure) { try inflate(b, sink) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Decodes a whole buffer.
    static func decode(_ input: [UInt8], limit: Int = .max) throws(Failure) -> [UInt8] {
        var inflater = Inflater(limit: limit)
        var out: [UInt8] = []
        try inflater.inflate(input) { out.append(contentsOf: $0); return true }
        return out
    }

    /// True when the bytes start with the gzip magic number.
    static func isGzip<C: Collection<UInt8>>(_ bytes: C) -> Bool {
        var it = bytes.makeIterator()
        return it.next() == 0x1F && it.next() == 0x8B
    }

    private static func message(_ rc: Int32) -> String {
        switch rc {
        case -2: return "stream error"
        case -3: return "invalid compressed data"
        case -4: return "out of memory"
        default: return "zlib error \(rc)"
        }
    }
}
