/// A host name checked before any query is sent: what is not a valid DNS name becomes an
/// `invalid_input` record instead of a query (DESIGN.md §6, "bad input gets a typed error").
///
/// Rules (RFC 1035 §2.3.4 lengths, RFC 952/1123 characters, plus `_` because SRV/TXT
/// owner names such as `_dmarc.example.org` use it): labels of 1–63 bytes from
/// `[A-Za-z0-9_-]`, separated by single dots, total ≤ 253 bytes without the optional
/// trailing dot. Non-ASCII names are converted to their IDNA A-label (punycode) form first.
public enum HostName {
    public static let maxLength = 253
    public static let maxLabel = 63

    /// Returns the normalised (lowercased, A-label) name or an `invalid_input` error.
    public static func validate(_ input: String) -> Result<String, DNSError> {
        if input.containsByte(0) { return .failure(DNSError(.invalidInput, "name contains a NUL byte")) }
        var name = input
        if name.hasSuffix(".") && name != "." { name.removeLast() }
        if name.isEmpty || name == "." { return .failure(DNSError(.invalidInput, "empty name")) }
        if !name.utf8.allSatisfy({ $0 < 0x80 }) {
            guard let ascii = Punycode.toASCII(name) else {
                return .failure(DNSError(.invalidInput, "name is not valid IDNA"))
            }
            name = ascii
        }
        let bytes = Array(name.utf8)
        if bytes.count > maxLength {
            return .failure(DNSError(.invalidInput, "name is \(bytes.count) bytes long (max \(maxLength))"))
        }
        var labelLength = 0
        for (i, b) in bytes.enumerated() {
            if b == UInt8(ascii: ".") {
                if labelLength == 0 { return .failure(DNSError(.invalidInput, "empty label at byte \(i)")) }
                labelLength = 0
                continue
            }
            let ok = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
            if !ok {
                let shown = b >= 0x20 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : String(format2: b)
                return .failure(DNSError(.invalidInput, "invalid character \(shown) at byte \(i)"))
            }
            labelLength += 1
            if labelLength > maxLabel {
                return .failure(DNSError(.invalidInput, "label longer than \(maxLabel) bytes"))
            }
        }
        if labelLength == 0 { return .failure(DNSError(.invalidInput, "empty label at end")) }
        return .success(name.lowercased())
    }
}

extension String {
    init(format2 byte: UInt8) {
        let hex = Array("0123456789ABCDEF")
        self = "0x" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0xF)])
    }
}

/// RFC 3492 punycode, enough for IDNA ToASCII of already-lowercase labels (no full
/// UTS #46 mapping: names are lowercased first, which covers the common cases).
enum Punycode {
    static func toASCII(_ name: String) -> String? {
        var labels: [String] = []
        for label in name.lowercased().split(separator: ".", omittingEmptySubsequences: false) {
            if label.unicodeScalars.allSatisfy({ $0.isASCII }) {
                labels.append(String(label))
            } else {
                guard let encoded = encode(Array(label.unicodeScalars)) else { return nil }
                labels.append("xn--" + encoded)
            }
        }
        return labels.joined(separator: ".")
    }

    static func encode(_ input: [Unicode.Scalar]) -> String? {
        let base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700
        var n = 128, delta = 0, bias = 72
        var output: [Character] = input.filter { $0.isASCII }.map { Character($0) }
        let basicCount = output.count
        var h = basicCount
        if basicCount > 0 { output.append("-") }
        func digit(_ d: Int) -> Character {
            Character(Unicode.Scalar(UInt8(d < 26 ? d + 97 : d + 22)))
        }
        func adapt(_ delta: Int, _ numPoints: Int, _ first: Bool) -> Int {
            var delta = first ? delta / damp : delta / 2
            delta += delta / numPoints
            var k = 0
            while delta > ((base - tMin) * tMax) / 2 {
                delta /= base - tMin
                k += base
            }
            return k + (base - tMin + 1) * delta / (delta + skew)
        }
        while h < input.count {
            guard let m = input.map({ Int($0.value) }).filter({ $0 >= n }).min() else { return nil }
            let (product, overflow) = (m - n).multipliedReportingOverflow(by: h + 1)
            if overflow { return nil }
            delta += product
            n = m
            for c in input {
                let v = Int(c.value)
                if v < n { delta += 1 }
                if v == n {
                    var q = delta
                    var k = base
                    while true {
                        let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                        if q < t { break }
                        output.append(digit(t + (q - t) % (base - t)))
                        q = (q - t) / (base - t)
                        k += base
                    }
                    output.append(digit(q))
                    bias = adapt(delta, h + 1, h == basicCount)
                    delta = 0
                    h += 1
                }
            }
            delta += 1
            n += 1
        }
        return String(output)
    }
}
