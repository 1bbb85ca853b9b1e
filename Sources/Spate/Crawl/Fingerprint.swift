import CSpate
import Glibc

/// 64-bit URL fingerprints and the compact seen-set built on them.
///
/// The seen-set stores 8 bytes per URL (open addressing, load ≤ 0.75 before growing), so
/// 10 million URLs take a 128 MiB table (192 MiB for a moment while it doubles, old and new
/// table side by side), where a `Set<String>` would take well over a gigabyte. Two different canonical URLs share a
/// fingerprint with probability about n²/2⁶⁵ — for 10 million URLs, about 3 in a million
/// per crawl — and then the later one is treated as seen.
public enum URLFingerprint {
    /// xxHash64 (seed 0) of the canonical key's UTF-8 bytes: fast, well distributed and
    /// stable across runs and machines (a later part stores fingerprints on disk).
    public static func of(_ key: String) -> UInt64 {
        var key = key
        return key.withUTF8 { xxh64($0) }
    }

    private static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    @inline(__always) private static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }
    @inline(__always) private static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        rotl(acc &+ input &* p2, 31) &* p1
    }
    @inline(__always) private static func merge(_ acc: UInt64, _ val: UInt64) -> UInt64 {
        (acc ^ round(0, val)) &* p1 &+ p4
    }

    static func xxh64(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        let n = b.count
        var i = 0
        @inline(__always) func u64(_ at: Int) -> UInt64 {
            UnsafeRawPointer(b.baseAddress! + at).loadUnaligned(as: UInt64.self).littleEndian
        }
        @inline(__always) func u32(_ at: Int) -> UInt64 {
            UInt64(UnsafeRawPointer(b.baseAddress! + at).loadUnaligned(as: UInt32.self).littleEndian)
        }
        var h: UInt64
        if n >= 32 {
            var v1 = p1 &+ p2, v2 = p2, v3: UInt64 = 0, v4 = 0 &- p1
            while i + 32 <= n {
                v1 = round(v1, u64(i)); v2 = round(v2, u64(i + 8))
                v3 = round(v3, u64(i + 16)); v4 = round(v4, u64(i + 24))
                i += 32
            }
            h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            h = merge(h, v1); h = merge(h, v2); h = merge(h, v3); h = merge(h, v4)
        } else {
            h = p5
        }
        h = h &+ UInt64(n)
        while i + 8 <= n {
            h ^= round(0, u64(i))
            h = rotl(h, 27) &* p1 &+ p4
            i += 8
        }
        if i + 4 <= n {
            h ^= u32(i) &* p1
            h = rotl(h, 23) &* p2 &+ p3
            i += 4
        }
        while i < n {
            h ^= UInt64(b[i]) &* p5
            h = rotl(h, 11) &* p1
            i += 1
        }
        h ^= h >> 33; h = h &* p2
        h ^= h >> 29; h = h &* p3
        h ^= h >> 32
        return h
    }
}

/// Which URLs the crawl has already admitted. The in-memory ``FingerprintSet`` is the
/// default; a later part puts the set in a store shared by several processes.
public protocol SeenSet: AnyObject {
    /// Adds `fingerprint`; true when it was not there before.
    func insert(_ fingerprint: UInt64) -> Bool
    func contains(_ fingerprint: UInt64) -> Bool
    /// A hint that `contains(fingerprint)` comes soon (the set may start loading its memory).
    func prefetch(_ fingerprint: UInt64)
    var count: Int { get }
}

/// An open-addressing hash set of 64-bit fingerprints (linear probing, 0 marks an empty
/// slot — a zero fingerprint is stored as 1). Not thread-safe: the crawler owns it on the hub.
public final class FingerprintSet: SeenSet {
    private var slots: UnsafeMutablePointer<UInt64>
    private var capacity: Int
    public private(set) var count = 0

    public init(capacity initial: Int = 1 << 16) {
        var c = 16
        while c < initial { c <<= 1 }
        capacity = c
        slots = Self.allocateSlots(c)
    }

    deinit { free(slots) }

    /// Zeroed slots. A table of 2 MiB or more is aligned to 2 MiB and offered to the kernel
    /// for transparent huge pages: every probe is a random access, and with 4 KiB pages each
    /// was a TLB miss too (perf: the probe was ~2 % of a 100k-page crawl's CPU).
    private static func allocateSlots(_ count: Int) -> UnsafeMutablePointer<UInt64> {
        let bytes = count * MemoryLayout<UInt64>.stride
        let huge = 2 << 20
        var raw: UnsafeMutableRawPointer? = nil
        guard posix_memalign(&raw, bytes >= huge ? huge : 64, bytes) == 0, let raw else { fatalError("out of memory") }
        if bytes >= huge { _ = madvise(raw, bytes, MADV_HUGEPAGE) }
        memset(raw, 0, bytes)
        return raw.bindMemory(to: UInt64.self, capacity: count)
    }

    /// Bytes of slot memory.
    public var memoryBytes: Int { capacity * 8 }

    public func insert(_ fingerprint: UInt64) -> Bool {
        let f = fingerprint == 0 ? 1 : fingerprint
        if (count + 1) * 4 > capacity * 3 { grow() }
        var i = Int(truncatingIfNeeded: f) & (capacity - 1)
        while true {
            let s = slots[i]
            if s == 0 { slots[i] = f; count += 1; return true }
            if s == f { return false }
            i = (i + 1) & (capacity - 1)
        }
    }

    /// Starts loading the slot where `contains(fingerprint)` begins: a page's links are
    /// looked up one after the other, each slot a likely cache miss in a table of megabytes;
    /// asked for all of them first, the misses overlap.
    public func prefetch(_ fingerprint: UInt64) {
        let f = fingerprint == 0 ? 1 : fingerprint
        cspate_prefetch(slots + (Int(truncatingIfNeeded: f) & (capacity - 1)))
    }

    public func contains(_ fingerprint: UInt64) -> Bool {
        let f = fingerprint == 0 ? 1 : fingerprint
        var i = Int(truncatingIfNeeded: f) & (capacity - 1)
        while true {
            let s = slots[i]
            if s == 0 { return false }
            if s == f { return true }
            i = (i + 1) & (capacity - 1)
        }
    }

    private func grow() {
        let old = slots, oldCapacity = capacity
        capacity *= 2
        slots = Self.allocateSlots(capacity)
        for j in 0..<oldCapacity where old[j] != 0 {
            var i = Int(truncatingIfNeeded: old[j]) & (capacity - 1)
            while slots[i] != 0 { i = (i + 1) & (capacity - 1) }
            slots[i] = old[j]
        }
        free(old)
    }
}

@available(*, unavailable)
extension FingerprintSet: Sendable {}
