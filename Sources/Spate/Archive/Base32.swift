/// RFC 4648 §6 base32 (alphabet A–Z 2–7, `=` padding), as WARC digests use it.
enum Base32 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    static func encode<C: Collection<UInt8>>(_ bytes: C) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 4) / 5 * 8)
        var buffer: UInt64 = 0
        var bits = 0
        for b in bytes {
            buffer = (buffer << 8) | UInt64(b)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[Int((buffer >> UInt64(bits)) & 31)])
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt64(5 - bits)) & 31)]) }
        while out.count % 8 != 0 { out.append(UInt8(ascii: "=")) }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Digest {
    /// The digest as WARC writes it: `sha1:` and 32 base32 characters (for a SHA-1 digest).
    mutating func warcDigest() -> String { "sha1:" + Base32.encode(finalize()) }

    /// `sha1:…` of a whole buffer.
    static func warcDigest(_ bytes: [UInt8]) -> String {
        var h = Digest(.sha1)
        h.update(bytes)
        return h.warcDigest()
    }
}
