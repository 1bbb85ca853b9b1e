import CSpate

/// Incremental message digests through OpenSSL's EVP (libcrypto is loaded anyway by
/// libcurl, and uses the CPU's SHA extensions: a pure-Swift SHA-256 cost ~11 % of a fetch
/// run's CPU). Bodies are hashed as they stream in, never held whole: SHA-256 for
/// `body_sha256`, SHA-1 for WARC digests (what WARC tools write and check; an identifier
/// there, not a security property). One instance per digest; not copyable.
struct Digest: ~Copyable {
    enum Algorithm: Int32 {
        case sha256 = 0
        case sha1 = 1
    }

    private var ctx: UnsafeMutableRawPointer?

    init(_ algorithm: Algorithm) { ctx = cspate_digest_new(algorithm.rawValue) }

    deinit { cspate_digest_free(ctx) }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        cspate_digest_update(ctx, bytes.baseAddress, bytes.count)
    }

    mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The digest's bytes; the hasher is spent afterwards.
    mutating func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 64)
        let n = cspate_digest_final(ctx, &out)
        ctx = nil
        return Array(out.prefix(Int(n)))
    }

    /// The digest as lowercase hex; the hasher is spent afterwards (one allocation: the string).
    mutating func hex() -> String {
        let ctx = self.ctx
        self.ctx = nil
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { digest in
            let count = Int(cspate_digest_final(ctx, digest.baseAddress!))
            return String(unsafeUninitializedCapacity: 2 * count) { out in
                let digits: StaticString = "0123456789abcdef"
                let d = digits.utf8Start
                for i in 0..<count {
                    out[2 * i] = d[Int(digest[i] >> 4)]
                    out[2 * i + 1] = d[Int(digest[i] & 15)]
                }
                return 2 * count
            }
        }
    }
}
