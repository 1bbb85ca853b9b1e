import CSpate
import Glibc

/// A JSON value with ordered object keys: records keep a stable, documented field order.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public func write(to out: inout JSONWriter) {
        switch self {
        case .null: out.raw("null")
        case let .bool(b): out.raw(b ? "true" : "false")
        case let .int(i): out.int(i)
        case let .double(d): out.double(d)
        case let .string(s): out.string(s)
        case let .array(items):
            out.byte(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.byte(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.byte(UInt8(ascii: "]"))
        case let .object(fields):
            out.byte(UInt8(ascii: "{"))
            for (i, (key, value)) in fields.enumerated() {
                if i > 0 { out.byte(UInt8(ascii: ",")) }
                out.key(key)
                value.write(to: &out)
            }
            out.byte(UInt8(ascii: "}"))
        }
    }
}

/// Appends JSON text to a byte buffer. Strings are escaped per RFC 8259; invalid UTF-8 in
/// input lines has already been repaired to U+FFFD by `String(decoding:)`.
///
/// The buffer is raw memory, not an array: an append is a bounds check and a copy (an
/// array's `append(contentsOf:)` cost ~70 instructions a call, and a record makes ~150).
/// A writer takes its thread's spare buffer if there is one and gives it back when it ends
/// (``cspate_scratch_take``): a crawl's records, emitted with ``withBytes(_:)``, allocate
/// nothing. Not copyable: one owner for the buffer.
public struct JSONWriter: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int

    public init(capacity: Int = 256) {
        var cap = 0
        var p = cspate_scratch_take(&cap)   // this thread's spare buffer, or nil
        if p == nil || cap < capacity {
            cap = Swift.max(capacity, 64)
            p = realloc(p, cap)
        }
        guard let p else { fatalError("JSONWriter: out of memory") }
        base = p.assumingMemoryBound(to: UInt8.self)
        self.capacity = cap
    }

    deinit {
        if !cspate_scratch_give(base, capacity) { free(base) }
    }

    /// A record's first buffer: a fetch record (~600 bytes) or a crawl record (~950) is
    /// written without growing it.
    public static let recordCapacity = 1024

    /// The text so far, as an array (a copy).
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// The text so far, lent to `body` (no copy).
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    @inline(never)
    private mutating func grow(_ needed: Int) {
        let n = Swift.max(needed, 2 * capacity)
        guard let p = realloc(base, n) else { fatalError("JSONWriter: out of memory") }
        base = p.assumingMemoryBound(to: UInt8.self)
        capacity = n
    }

    @inline(__always) mutating func byte(_ b: UInt8) {
        if count == capacity { grow(count + 1) }
        base[count] = b
        count &+= 1
    }

    @inline(__always) private mutating func append(_ p: UnsafeRawPointer, _ n: Int) {
        if n > capacity &- count { grow(count + n) }
        UnsafeMutableRawPointer(base + count).copyMemory(from: p, byteCount: n)
        count &+= n
    }

    @inline(__always) private mutating func append(_ b: UnsafeBufferPointer<UInt8>) {
        if let p = b.baseAddress { append(UnsafeRawPointer(p), b.count) }
    }

    @inline(__always)
    mutating func raw(_ s: StaticString) {
        append(UnsafeRawPointer(s.utf8Start), s.utf8CodeUnitCount)
    }

    /// A key known when compiling (plain ASCII, nothing to escape): `"k":` copied as it is,
    /// without the escaping scan a `String` key goes through.
    @inline(__always)
    mutating func field(_ k: StaticString) {
        byte(UInt8(ascii: "\""))
        raw(k)
        byte(UInt8(ascii: "\""))
        byte(UInt8(ascii: ":"))
    }

    mutating func key(_ k: String) {
        string(k)
        byte(UInt8(ascii: ":"))
    }

    mutating func int(_ i: Int) {
        if i >= 0 && i < 10 { byte(UInt8(ascii: "0") + UInt8(i)); return }
        if i < 0 { byte(UInt8(ascii: "-")) }
        digits(i.magnitude)
    }

    /// The decimal digits of `n`, written straight into the buffer.
    private mutating func digits(_ n: UInt) {
        if n < 10_000 {
            // Most numbers in a record (status, port, depth, sizes): written in place.
            let width = n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : 4
            if width > capacity &- count { grow(count + width) }
            var v = n, k = count &+ width
            repeat { k &-= 1; base[k] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v % 10); v /= 10 } while v > 0
            count &+= width
            return
        }
        // 20 digits hold any UInt64.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buf in
            var n = n
            var p = 20
            repeat {
                p -= 1
                buf[p] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
            } while n > 0
            append(UnsafeBufferPointer(rebasing: buf[p..<20]))
        }
    }

    /// Finite doubles with up to 3 decimals (milliseconds with microsecond resolution);
    /// non-finite values become null.
    mutating func double(_ d: Double) {
        guard d.isFinite else { raw("null"); return }
        let scaled = (d * 1000).rounded()
        if abs(scaled) < 9e15 {
            let n = Int(scaled)
            if n < 0 { byte(UInt8(ascii: "-")) }
            let a = n.magnitude
            digits(a / 1000)
            var frac = a % 1000
            if frac != 0 {
                byte(UInt8(ascii: "."))
                // Three digits, trailing zeros dropped: 50 → ".05", 500 → ".5".
                var width = 3
                while frac % 10 == 0 { frac /= 10; width -= 1 }
                var divisor: UInt = width == 3 ? 100 : (width == 2 ? 10 : 1)
                while divisor > 0 {
                    byte(UInt8(ascii: "0") + UInt8(frac / divisor % 10))
                    divisor /= 10
                }
            }
        } else {
            var text = "\(d)"
            text.withUTF8 { append($0) }
        }
    }

    mutating func string(_ s: String) {
        byte(UInt8(ascii: "\""))
        s.withUTF8Bytes { escaped($0) }
        byte(UInt8(ascii: "\""))
    }

    /// `utf8` with JSON's escapes, without the quotes.
    private mutating func escaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        let n = utf8.count
        guard let base = utf8.baseAddress else { return }
        let words = UnsafeRawPointer(base)
        var runStart = 0
        var i = 0
        while i < n {
            // Eight bytes at a time while none needs escaping (a byte below 0x20, '"' or
            // '\\'): URLs, digests and titles mostly go through here.
            while i &+ 8 <= n && !Self.needsEscape(words.loadUnaligned(fromByteOffset: i, as: UInt64.self)) { i &+= 8 }
            if i >= n { break }
            let c = utf8[i]
            i &+= 1
            if c >= 0x20 && c != 0x22 && c != 0x5C { continue }
            if runStart < i - 1 { append(UnsafeBufferPointer(rebasing: utf8[runStart..<(i - 1)])) }
            runStart = i
            switch c {
            case 0x22: raw("\\\"")
            case 0x5C: raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            default:
                let hex: StaticString = "0123456789abcdef"
                raw("\\u00")
                byte(hex.utf8Start[Int(c >> 4)])
                byte(hex.utf8Start[Int(c & 0xF)])
            }
        }
        if runStart < n { append(UnsafeBufferPointer(rebasing: utf8[runStart..<n])) }
    }

    /// Whether any of the eight bytes of `w` is below 0x20, '"' or '\\' (the classic
    /// "has a byte less than n" and "has a zero byte" word tests; exact for existence).
    @inline(__always)
    private static func needsEscape(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        let control = (w &- ones &* 0x20) & ~w & high
        let q = w ^ (ones &* 0x22)
        let quote = (q &- ones) & ~q & high
        let b = w ^ (ones &* 0x5C)
        let backslash = (b &- ones) & ~b & high
        return (control | quote | backslash) != 0
    }
}
