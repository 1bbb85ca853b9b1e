/// The record types `spate resolve --type` asks for.
public enum DNSRecordType: String, Sendable, CaseIterable, Hashable {
    case A, AAAA, CNAME, MX, NS, TXT, PTR, SOA, SRV, CAA

    public var code: UInt16 {
        switch self {
        case .A: 1
        case .NS: 2
        case .CNAME: 5
        case .SOA: 6
        case .PTR: 12
        case .MX: 15
        case .TXT: 16
        case .AAAA: 28
        case .SRV: 33
        case .CAA: 257
        }
    }

    public init?(code: UInt16) {
        guard let t = DNSRecordType.allCases.first(where: { $0.code == code }) else { return nil }
        self = t
    }

    /// Parses "A,AAAA,mx" (case-insensitive, comma or space separated, duplicates removed).
    public static func parseList(_ text: String) throws -> [DNSRecordType] {
        var out: [DNSRecordType] = []
        for part in text.split(whereSeparator: { $0 == "," || $0 == " " }) {
            guard let t = DNSRecordType(rawValue: part.uppercased()) else {
                let known = DNSRecordType.allCases.map(\.rawValue).joined(separator: ", ")
                throw DNSError(.invalidInput, "unknown record type '\(part)' (known: \(known))")
            }
            if !out.contains(t) { out.append(t) }
        }
        guard !out.isEmpty else { throw DNSError(.invalidInput, "empty --type list") }
        return out
    }
}
