/// A resolver address: an IPv4 or IPv6 literal and a port.
///
/// Accepted spellings: `127.0.0.1`, `127.0.0.1:5353`, `::1`, `[::1]`, `[::1]:5353`.
public struct DNSServer: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16 = 53) {
        self.host = host
        self.port = port
    }

    public init(parsing text: String) throws {
        let s = text.trimmingSpaces()
        var host = s
        var port: UInt16 = 53
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { throw DNSServer.bad(text) }
            host = String(s[s.index(after: s.startIndex)..<close])
            let rest = s[s.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let p = UInt16(rest.dropFirst()), p > 0 else { throw DNSServer.bad(text) }
                port = p
            }
            guard IPAddress.isIPv6(host) else { throw DNSServer.bad(text) }
        } else if s.filter({ $0 == ":" }).count == 1 {
            let parts = s.split(separator: ":", omittingEmptySubsequences: false)
            host = String(parts[0])
            guard let p = UInt16(parts[1]), p > 0 else { throw DNSServer.bad(text) }
            port = p
            guard IPAddress.isIPv4(host) else { throw DNSServer.bad(text) }
        } else {
            guard IPAddress.isIPv4(host) || IPAddress.isIPv6(host) else { throw DNSServer.bad(text) }
        }
        self.host = host
        self.port = port
    }

    /// The `ip:port` form c-ares' `ares_set_servers_ports_csv` takes and records show.
    public var description: String {
        host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    private static func bad(_ text: String) -> DNSError {
        DNSError(.invalidInput, "bad resolver address '\(text)' (want IP or IP:PORT, [IPv6]:PORT)")
    }
}
