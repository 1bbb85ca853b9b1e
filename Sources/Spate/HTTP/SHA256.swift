import CSpate

/// Incremental SHA-256 for `body_sha256`: bodies are hashed as they stream in, never held
/// whole. OpenSSL's EVP implementation (libcrypto is loaded anyway by libcurl) uses the
/// CPU's SHA extensions: a pure-Swift version cost ~11 % of a fetch run's CPU.
/// One instance per body; not copyable.
struct SHA256: ~Copyable {
    private var ctx: UnsafeMutableRawPointer?

    init() { ctx = cspate_sha256_new() }

    deinit { cspate_sha256_free(ctx) }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        cspate_sha256_update(ctx, bytes.baseAddress, bytes.count)
    }

    mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The digest as lowercase hex; the hasher is spent afterwards.
    mutating func finalize() -> String {
        var out = [CChar](repeating: 0, count: 65)
        cspate_sha256_final_hex(ctx, &out)
        ctx = nil
        return out.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
