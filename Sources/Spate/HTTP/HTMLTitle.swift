/// Extracts the text of the first `<title>` element from the start of an HTML body:
/// tag names case-insensitive, attributes allowed, character references decoded,
/// whitespace collapsed. A scanner, not a regex; `<title>` inside comments or scripts
/// before the real one is rare enough in `<head>` that we do not model it.
enum HTMLTitle {
    /// Whether a Content-Type names HTML (`text/html`, `application/xhtml+xml`), parameters
    /// and case aside; compared on bytes, without lowercased copies.
    static func isHTML(_ contentType: String) -> Bool {
        var text = contentType
        return text.withUTF8 { all in
            var start = 0
            while start < all.count && all[start] == 0x20 { start += 1 }
            var end = start
            while end < all.count && all[end] != UInt8(ascii: ";") { end += 1 }
            let t = UnsafeBufferPointer(rebasing: all[start..<end])
            return (t.count >= 9 && asciiCaseInsensitiveEqual(UnsafeBufferPointer(rebasing: t[0..<9]), textHTML))
                || (t.count >= 21 && asciiCaseInsensitiveEqual(UnsafeBufferPointer(rebasing: t[0..<21]), applicationXHTML))
        }
    }
    private static let textHTML = Array("text/html".utf8)
    private static let applicationXHTML = Array("application/xhtml+xml".utf8)

    static func extract(_ bytes: [UInt8]) -> String? {
        guard let open = find(bytes, "<title", from: 0) else { return nil }
        var i = open + 6
        // The next byte must end the tag name.
        guard i < bytes.count, bytes[i] == UInt8(ascii: ">") || bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == UInt8(ascii: "/") else { return nil }
        while i < bytes.count && bytes[i] != UInt8(ascii: ">") { i += 1 }
        guard i < bytes.count else { return nil }
        let start = i + 1
        let end = find(bytes, "</title", from: start) ?? bytes.count
        let raw = String(decoding: bytes[start..<end], as: UTF8.self)
        return collapse(decodeEntities(raw))
    }

    private static func find(_ bytes: [UInt8], _ needle: String, from: Int) -> Int? {
        let n = Array(needle.utf8)
        guard bytes.count >= n.count else { return nil }
        var i = from
        while i + n.count <= bytes.count {
            if bytes[i] == n[0] {
                var ok = true
                for j in 1..<n.count where bytes[i + j] | 0x20 != n[j] | 0x20 { ok = false; break }
                if ok { return i }
            }
            i += 1
        }
        return nil
    }

    static func collapse(_ s: String) -> String {
        var out = ""
        var space = false
        for ch in s.unicodeScalars {
            if ch == " " || ch == "\t" || ch == "\n" || ch == "\r" || ch == "\u{0C}" {
                space = !out.isEmpty
                continue
            }
            if space { out.unicodeScalars.append(" "); space = false }
            out.unicodeScalars.append(ch)
        }
        return out
    }

    private static let named: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{A0}", "copy": "©",
        "reg": "®", "mdash": "—", "ndash": "–", "hellip": "…", "laquo": "«", "raquo": "»", "middot": "·",
        "lsquo": "‘", "rsquo": "’", "ldquo": "“", "rdquo": "”", "trade": "™", "euro": "€", "bull": "•",
    ]

    /// Decodes `&name;`, `&#NN;` and `&#xHH;` (unknown names are kept as written).
    static func decodeEntities(_ s: String) -> String {
        guard s.contains("&") else { return s }
        var out = ""
        var rest = Substring(s)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            if let semi = after.prefix(32).firstIndex(of: ";") {
                let ent = after[..<semi]
                var decoded: String? = nil
                if ent.hasPrefix("#x") || ent.hasPrefix("#X") {
                    if let v = UInt32(ent.dropFirst(2), radix: 16), let u = Unicode.Scalar(v) { decoded = String(u) }
                } else if ent.hasPrefix("#") {
                    if let v = UInt32(ent.dropFirst()), let u = Unicode.Scalar(v) { decoded = String(u) }
                } else {
                    decoded = named[String(ent)]
                }
                if let decoded {
                    out += decoded
                    rest = after[after.index(after: semi)...]
                    continue
                }
            }
            out += "&"
            rest = after
        }
        out += rest
        return out
    }
}
