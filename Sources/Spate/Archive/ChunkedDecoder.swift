/// Removes HTTP/1.1 chunked transfer coding (RFC 9112 §7.1) from a body that arrives in
/// arbitrary pieces. spate keeps the raw bytes for WARC (curl's own de-chunking is off
/// then) and decodes them itself: the de-chunked bytes are the WARC payload (its digest)
/// and, once content-decoded, what the record's `bytes`, `body_sha256` and `title` see.
///
/// Tolerant the way browsers and curl are: chunk extensions (`;name=value`) are skipped,
/// bare LF line ends are accepted, whitespace before the CRLF is allowed, trailer fields are
/// read and dropped. Bytes after the last chunk and its trailers are ignored.
struct ChunkedDecoder {
    enum Failure: Error, Equatable, CustomStringConvertible {
        case badChunkSize
        case lineTooLong
        case missingCRLF

        var description: String {
            switch self {
            case .badChunkSize: "chunked encoding: bad chunk size"
            case .lineTooLong: "chunked encoding: chunk-size or trailer line too long"
            case .missingCRLF: "chunked encoding: no CRLF after chunk data"
            }
        }
    }

    private enum State {
        /// Hex digits of a chunk size.
        case size
        /// After the size: whitespace, `;extensions`, up to LF.
        case sizeLine
        /// `remaining` bytes of chunk data to go.
        case data
        /// The CR (or bare LF) after chunk data.
        case dataCR
        /// The LF after that CR.
        case dataLF
        /// Trailer lines; `lineLength` counts the current one (0: at a line start).
        case trailer
        case done
    }

    /// A line (size line with extensions, or one trailer field) longer than this is an error.
    static let maxLine = 64 * 1024

    private var state = State.size
    private var size: UInt64 = 0
    private var digits = 0
    private var remaining: UInt64 = 0
    private var lineLength = 0
    private var sawCR = false

    /// The last chunk and its trailers have been read.
    var isFinished: Bool { if case .done = state { return true } else { return false } }

    /// Feeds raw bytes; hands each run of chunk data to `sink`. `sink` returning false stops
    /// (the rest of this input is not examined).
    mutating func feed(_ input: UnsafeRawBufferPointer, _ sink: (UnsafeRawBufferPointer) -> Bool) throws(Failure) {
        var i = 0
        let n = input.count
        while i < n {
            switch state {
            case .done:
                return
            case .size:
                let c = input[i]
                if let v = Self.hexValue(c) {
                    digits += 1
                    // Leading zeros are fine; a size past UInt64 is not.
                    if size >> 60 != 0 { throw .badChunkSize }
                    size = size << 4 | UInt64(v)
                    lineLength += 1
                    if lineLength > Self.maxLine { throw .lineTooLong }
                    i += 1
                } else {
                    if digits == 0 { throw .badChunkSize }
                    state = .sizeLine
                }
            case .sizeLine:
                let c = input[i]
                i += 1
                lineLength += 1
                if lineLength > Self.maxLine { throw .lineTooLong }
                if c == 0x0A {
                    lineLength = 0
                    digits = 0
                    if size == 0 {
                        state = .trailer
                    } else {
                        remaining = size
                        state = .data
                    }
                    size = 0
                }
                // Anything else (CR, spaces, `;ext=val`) belongs to the size line and is skipped.
            case .data:
                let take = Int(min(UInt64(n - i), remaining))
                remaining -= UInt64(take)
                let piece = UnsafeRawBufferPointer(rebasing: input[i..<(i + take)])
                i += take
                if remaining == 0 { state = .dataCR }
                if !sink(piece) { return }
            case .dataCR:
                let c = input[i]
                i += 1
                if c == 0x0D { state = .dataLF } else if c == 0x0A { state = .size } else { throw .missingCRLF }
            case .dataLF:
                let c = input[i]
                i += 1
                guard c == 0x0A else { throw .missingCRLF }
                state = .size
            case .trailer:
                let c = input[i]
                i += 1
                if c == 0x0A {
                    // An empty line (nothing but an optional CR) ends the message.
                    if lineLength == 0 || (lineLength == 1 && sawCR) { state = .done }
                    lineLength = 0
                    sawCR = false
                } else {
                    sawCR = c == 0x0D
                    lineLength += 1
                    if lineLength > Self.maxLine { throw .lineTooLong }
                }
            }
        }
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
