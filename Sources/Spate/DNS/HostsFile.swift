import Foundation

/// The hosts file, read once and answered from memory.
///
/// c-ares 1.18 reopens `/etc/hosts` on every `ares_getaddrinfo` (100k `openat` for 100k
/// names, DESIGN.md §4), so spate's channels use lookups `"b"` (DNS only) and answer the
/// default (gethostbyname) mode from this table first — "files, then dns", as glibc does
/// with the usual nsswitch.conf. Like glibc's files backend, a name listed with IPv6
/// addresses only does not answer an IPv4 lookup and falls through to DNS.
public struct HostsFile: Sendable {
    private var v4: [String: [String]] = [:]

    public init(path: String) {
        let data = FileManager.default.contents(atPath: path) ?? Data()
        self.init(text: String(decoding: data, as: UTF8.self))
    }

    public init(text: String) {
        for rawLine in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard fields.count >= 2, IPAddress.isIPv4(String(fields[0])) else { continue }
            let address = String(fields[0])
            for name in fields.dropFirst() {
                var key = name.lowercased()
                if key.hasSuffix(".") { key.removeLast() }
                v4[key, default: []].append(address)
            }
        }
    }

    /// IPv4 addresses for `name` (already lowercased, no trailing dot), in file order.
    public func ipv4(for name: String) -> [String]? { v4[name] }

}
