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
        bytes.withUnsafeBytes { b in
            if case let .title(t) = scan(b, final: true) { return t }
            return nil
        }
    }

    /// What a scan of the start of a body found.
    enum Scan: Equatable {
        case title(String)
        /// No title in these bytes (`final`), or none that is complete in them yet.
        case none
        case incomplete
    }

    /// The first `<title>` in `bytes`. With `final`, `bytes` is all there is (the head the
    /// record is made from): an element cut off at the end runs to the end, or is not there,
    /// as ``extract(_:)`` has it. Without, `bytes` is a prefix of the body: only a title
    /// whose `</title` is in it is returned (more bytes could not change it), anything else
    /// is `.incomplete`.
    static func scan(_ bytes: UnsafeRawBufferPointer, final: Bool) -> Scan {
        let notFound: Scan = final ? .none : .incomplete
        var from = 0
        var i = 0
        while true {
            guard let open = find(bytes, openTag, from: from) else { return notFound }
            i = open + 6
            guard i < bytes.count else { return notFound }
            // The next byte must end the tag name ("<titles>" is another element).
            let c = bytes[i]
            if c == UInt8(ascii: ">") || c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0C || c == UInt8(ascii: "/") { break }
            from = open + 1
        }
        while i < bytes.count && bytes[i] != UInt8(ascii: ">") { i += 1 }
        guard i < bytes.count else { return notFound }
        let start = i + 1
        let close = find(bytes, closeTag, from: start)
        if close == nil && !final { return .incomplete }
        let end = close ?? bytes.count
        let raw = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        return .title(collapse(decodeEntities(raw)))
    }

    private static let openTag = Array("<title".utf8)
    private static let closeTag = Array("</title".utf8)

    /// The first case-insensitive occurrence of `needle` (ASCII letters, '<', '/') at or after `from`.
    private static func find(_ b: UnsafeRawBufferPointer, _ needle: [UInt8], from: Int) -> Int? {
        needle.withUnsafeBufferPointer { n in
            guard b.count >= n.count, from >= 0 else { return nil }
            var i = from
            while i + n.count <= b.count {
                if b[i] == n[0] {
                    var j = 1
                    while j < n.count && b[i + j] | 0x20 == n[j] | 0x20 { j += 1 }
                    if j == n.count { return i }
                }
                i += 1
            }
            return nil
        }
    }

    static func collapse(_ s: String) -> String {
        // Most titles have nothing to collapse: no leading or trailing space, no tab or line
        // break, no double space.
        var probe = s
        let clean = probe.withUTF8 { b -> Bool in
            guard let first = b.first, let last = b.last else { return true }
            if first == 0x20 || last == 0x20 { return false }
            var previousSpace = false
            for c in b {
                if c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0C { return false }
                if c == 0x20 { if previousSpace { return false }; previousSpace = true } else { previousSpace = false }
            }
            return true
        }
        if clean { return s }
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
        guard s.containsByte(UInt8(ascii: "&")) else { return s }
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
