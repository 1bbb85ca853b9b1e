import Glibc

/// IP literal helpers (inet_pton / inet_ntop), used to answer literals the way
/// gethostbyname does and to build reverse (PTR) names.
enum IPAddress {
    static func isIPv4(_ s: String) -> Bool { pton(AF_INET, s) }

    static func isIPv6(_ s: String) -> Bool { pton(AF_INET6, s) }

    /// inet_pton on a copy of `s` in a stack buffer: handing the String to C directly made
    /// a heap copy of it first, on every call (twice per fetched URL).
    private static func pton(_ family: Int32, _ s: String) -> Bool {
        var s = s
        return s.withUTF8 { utf8 in
            // The longest IPv6 text form is 45 characters; anything longer is no address.
            guard utf8.count < 64 else { return false }
            return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64 + 16) { buf in
                let text = buf.baseAddress!
                if let from = utf8.baseAddress { UnsafeMutableRawPointer(text).copyMemory(from: from, byteCount: utf8.count) }
                text[utf8.count] = 0
                return inet_pton(family, text, text + 64) == 1   // the address lands in the last 16 bytes
            }
        }
    }

    /// `1.2.3.4` → `4.3.2.1.in-addr.arpa`, `::1` → nibble form under `ip6.arpa`; nil when
    /// `s` is not an IP literal.
    static func reverseName(_ s: String) -> String? {
        var a4 = in_addr()
        if inet_pton(AF_INET, s, &a4) == 1 {
            let b = withUnsafeBytes(of: &a4) { Array($0) }
            return "\(b[3]).\(b[2]).\(b[1]).\(b[0]).in-addr.arpa"
        }
        var a6 = in6_addr()
        if inet_pton(AF_INET6, s, &a6) == 1 {
            let b = withUnsafeBytes(of: &a6) { Array($0) }
            let hex: [Character] = Array("0123456789abcdef")
            var parts: [String] = []
            for byte in b.reversed() {
                parts.append(String(hex[Int(byte & 0xF)]))
                parts.append(String(hex[Int(byte >> 4)]))
            }
            return parts.joined(separator: ".") + ".ip6.arpa"
        }
        return nil
    }

    static func ntop4(_ bytes: ArraySlice<UInt8>) -> String {
        let b = Array(bytes)
        return "\(b[0]).\(b[1]).\(b[2]).\(b[3])"
    }

    static func ntop6(_ bytes: ArraySlice<UInt8>) -> String {
        var a = in6_addr()
        withUnsafeMutableBytes(of: &a) { raw in
            for (i, v) in bytes.enumerated() { raw[i] = v }
        }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count))
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

extension StringProtocol {
    /// Trims ASCII whitespace (space, tab, CR, LF, VT, FF).
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\u{0B}" || $0 == "\u{0C}" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}

extension String {
    /// Runs `body` on the string's UTF-8 in place (a native or small string: no copy, no
    /// retain), or on a contiguous copy otherwise. `var s = s; s.withUTF8` retained and
    /// released the buffer each time: ~13 times per record in JSON alone (perf).
    func withUTF8Bytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        if let r = try utf8.withContiguousStorageIfAvailable(body) { return r }
        var copy = self
        return try copy.withUTF8(body)
    }

    /// Whether the UTF-8 contains `byte`: memchr over the string's own bytes, where
    /// `utf8.contains` iterates the view a byte at a time (perf: ~0.5 % of a fetch run, on
    /// the URL checks of every line).
    func containsByte(_ byte: UInt8) -> Bool {
        withUTF8Bytes { b in
            guard let base = b.baseAddress, b.count > 0 else { return false }
            return memchr(base, Int32(byte), b.count) != nil
        }
    }
}
