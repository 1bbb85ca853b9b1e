import Glibc

/// IP literal helpers (inet_pton / inet_ntop), used to answer literals the way
/// gethostbyname does and to build reverse (PTR) names.
enum IPAddress {
    static func isIPv4(_ s: String) -> Bool {
        var a = in_addr()
        return inet_pton(AF_INET, s, &a) == 1
    }

    static func isIPv6(_ s: String) -> Bool {
        var a = in6_addr()
        return inet_pton(AF_INET6, s, &a) == 1
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
