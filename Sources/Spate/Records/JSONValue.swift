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
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    /// A record's first buffer: a fetch record (~600 bytes) or a crawl record (~950) is
    /// written without growing it (each growth a malloc and a copy), and with the array's
    /// header the allocation stays within glibc's per-thread cache (≤ 1032 bytes).
    public static let recordCapacity = 992

    @inline(__always) mutating func byte(_ b: UInt8) { bytes.append(b) }
    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func key(_ k: String) {
        string(k)
        byte(UInt8(ascii: ":"))
    }

    mutating func int(_ i: Int) {
        if i >= 0 && i < 10 { bytes.append(UInt8(ascii: "0") + UInt8(i)); return }
        if i < 0 { bytes.append(UInt8(ascii: "-")) }
        digits(i.magnitude)
    }

    /// The decimal digits of `n`, written straight into the buffer.
    private mutating func digits(_ n: UInt) {
        // 20 digits hold any UInt64.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buf in
            var n = n
            var p = 20
            repeat {
                p -= 1
                buf[p] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
            } while n > 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[p..<20]))
        }
    }

    /// Finite doubles with up to 3 decimals (milliseconds with microsecond resolution);
    /// non-finite values become null.
    mutating func double(_ d: Double) {
        guard d.isFinite else { raw("null"); return }
        let scaled = (d * 1000).rounded()
        if abs(scaled) < 9e15 {
            let n = Int(scaled)
            if n < 0 { bytes.append(UInt8(ascii: "-")) }
            let a = n.magnitude
            digits(a / 1000)
            var frac = a % 1000
            if frac != 0 {
                bytes.append(UInt8(ascii: "."))
                // Three digits, trailing zeros dropped: 50 → ".05", 500 → ".5".
                var width = 3
                while frac % 10 == 0 { frac /= 10; width -= 1 }
                var divisor: UInt = width == 3 ? 100 : (width == 2 ? 10 : 1)
                while divisor > 0 {
                    bytes.append(UInt8(ascii: "0") + UInt8(frac / divisor % 10))
                    divisor /= 10
                }
            }
        } else {
            bytes.append(contentsOf: "\(d)".utf8)
        }
    }

    mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var runStart = 0
            for i in 0..<utf8.count {
                let c = utf8[i]
                if c >= 0x20 && c != 0x22 && c != 0x5C { continue }
                if runStart < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i])) }
                runStart = i + 1
                switch c {
                case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
                case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xF)]])
                }
            }
            if runStart < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
