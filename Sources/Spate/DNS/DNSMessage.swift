/// A reader for the answer section of a DNS reply (RFC 1035 §4), for every type spate
/// reports, with TTLs for all of them.
///
/// c-ares' `ares_parse_*_reply` functions give TTLs only for A/AAAA and differ per type; one
/// reader keeps the mapping to records uniform. Name compression pointers are followed
/// with a hop limit, and every read is bounds-checked: a malformed reply is a
/// `bad_response`, never a crash.
struct DNSMessage {
    struct Record {
        var name: String
        var type: UInt16
        var ttl: UInt32
        var rdata: Range<Int>
    }

    let bytes: [UInt8]
    private(set) var questionName = ""
    private(set) var answers: [Record] = []
    private(set) var rcode: UInt8 = 0

    init(_ bytes: [UInt8]) throws {
        self.bytes = bytes
        guard bytes.count >= 12 else { throw DNSMessage.bad("reply shorter than a header") }
        rcode = bytes[3] & 0x0F
        let qd = Int(u16(4)), an = Int(u16(6))
        var pos = 12
        for i in 0..<qd {
            let (name, next) = try readName(at: pos)
            if i == 0 { questionName = name }
            pos = next + 4
            guard pos <= bytes.count else { throw DNSMessage.bad("question truncated") }
        }
        answers.reserveCapacity(an)
        for _ in 0..<an {
            let (name, next) = try readName(at: pos)
            guard next + 10 <= bytes.count else { throw DNSMessage.bad("answer truncated") }
            let type = u16(next)
            let ttl = u32(next + 4)
            let rdlen = Int(u16(next + 8))
            let start = next + 10
            guard start + rdlen <= bytes.count else { throw DNSMessage.bad("rdata truncated") }
            answers.append(Record(name: name, type: type, ttl: ttl, rdata: start..<(start + rdlen)))
            pos = start + rdlen
        }
    }

    static func bad(_ why: String) -> DNSError { DNSError(.badResponse, "malformed reply: \(why)") }

    func u16(_ i: Int) -> UInt16 { UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]) }
    func u32(_ i: Int) -> UInt32 { UInt32(u16(i)) << 16 | UInt32(u16(i + 2)) }

    /// Reads a (possibly compressed) name; returns it lowercased without the trailing dot,
    /// and the offset just past it in the original position.
    func readName(at start: Int) throws -> (String, Int) {
        var labels: [String] = []
        var pos = start
        var end: Int? = nil
        var hops = 0
        while true {
            guard pos < bytes.count else { throw DNSMessage.bad("name runs past the end") }
            let len = Int(bytes[pos])
            if len == 0 {
                pos += 1
                break
            }
            if len & 0xC0 == 0xC0 {
                guard pos + 1 < bytes.count else { throw DNSMessage.bad("compression pointer truncated") }
                if end == nil { end = pos + 2 }
                hops += 1
                guard hops < 64 else { throw DNSMessage.bad("compression loop") }
                pos = (len & 0x3F) << 8 | Int(bytes[pos + 1])
                continue
            }
            guard len & 0xC0 == 0, pos + 1 + len <= bytes.count else { throw DNSMessage.bad("bad label") }
            labels.append(String(decoding: bytes[(pos + 1)..<(pos + 1 + len)], as: UTF8.self).lowercased())
            pos += 1 + len
            guard labels.count <= 128 else { throw DNSMessage.bad("too many labels") }
        }
        return (labels.joined(separator: "."), end ?? pos)
    }

    /// The owner names that alias `name` through the CNAME chain in this answer, `name` first.
    func aliasChain(from name: String) -> [String] {
        var chain = [name]
        var changed = true
        while changed && chain.count < 16 {
            changed = false
            for r in answers where r.type == DNSRecordType.CNAME.code && r.name == chain.last! {
                if let (target, _) = try? readName(at: r.rdata.lowerBound), !chain.contains(target) {
                    chain.append(target)
                    changed = true
                }
            }
        }
        return chain
    }

    /// Records of `type` owned by `name` or one of its CNAME aliases (for CNAME itself:
    /// the CNAMEs owned by `name`).
    func records(of type: DNSRecordType, for name: String) -> [Record] {
        if type == .CNAME { return answers.filter { $0.type == type.code && $0.name == name } }
        let owners = Set(aliasChain(from: name))
        return answers.filter { $0.type == type.code && owners.contains($0.name) }
    }

    /// Decodes one record's data into the JSON object spate reports.
    func decode(_ r: Record, as type: DNSRecordType) throws -> JSONValue {
        let d = r.rdata
        let ttl = JSONValue.int(Int(r.ttl))
        func need(_ n: Int) throws { guard d.count >= n else { throw DNSMessage.bad("\(type) rdata too short") } }
        func name(_ at: Int) throws -> String { try readName(at: at).0 }
        switch type {
        case .A:
            try need(4)
            return .object([("address", .string(IPAddress.ntop4(bytes[d.lowerBound..<(d.lowerBound + 4)]))), ("ttl", ttl)])
        case .AAAA:
            try need(16)
            return .object([("address", .string(IPAddress.ntop6(bytes[d.lowerBound..<(d.lowerBound + 16)]))), ("ttl", ttl)])
        case .CNAME:
            return .object([("target", .string(try name(d.lowerBound))), ("ttl", ttl)])
        case .NS, .PTR:
            return .object([("host", .string(try name(d.lowerBound))), ("ttl", ttl)])
        case .MX:
            try need(3)
            return .object([("priority", .int(Int(u16(d.lowerBound)))), ("host", .string(try name(d.lowerBound + 2))), ("ttl", ttl)])
        case .TXT:
            var text: [UInt8] = []
            var p = d.lowerBound
            while p < d.upperBound {
                let n = Int(bytes[p])
                guard p + 1 + n <= d.upperBound else { throw DNSMessage.bad("TXT string overruns rdata") }
                text.append(contentsOf: bytes[(p + 1)..<(p + 1 + n)])
                p += 1 + n
            }
            return .object([("text", .string(String(decoding: text, as: UTF8.self))), ("ttl", ttl)])
        case .SOA:
            let (mname, p1) = try readName(at: d.lowerBound)
            let (rname, p2) = try readName(at: p1)
            guard p2 + 20 <= d.upperBound else { throw DNSMessage.bad("SOA rdata too short") }
            return .object([
                ("mname", .string(mname)), ("rname", .string(rname)),
                ("serial", .int(Int(u32(p2)))), ("refresh", .int(Int(u32(p2 + 4)))),
                ("retry", .int(Int(u32(p2 + 8)))), ("expire", .int(Int(u32(p2 + 12)))),
                ("minimum", .int(Int(u32(p2 + 16)))), ("ttl", ttl),
            ])
        case .SRV:
            try need(7)
            return .object([
                ("priority", .int(Int(u16(d.lowerBound)))), ("weight", .int(Int(u16(d.lowerBound + 2)))),
                ("port", .int(Int(u16(d.lowerBound + 4)))), ("target", .string(try name(d.lowerBound + 6))),
                ("ttl", ttl),
            ])
        case .CAA:
            try need(2)
            let flags = Int(bytes[d.lowerBound])
            let tagLen = Int(bytes[d.lowerBound + 1])
            guard 2 + tagLen <= d.count else { throw DNSMessage.bad("CAA tag overruns rdata") }
            let tag = String(decoding: bytes[(d.lowerBound + 2)..<(d.lowerBound + 2 + tagLen)], as: UTF8.self)
            let value = String(decoding: bytes[(d.lowerBound + 2 + tagLen)..<d.upperBound], as: UTF8.self)
            return .object([("flags", .int(flags)), ("tag", .string(tag)), ("value", .string(value)), ("ttl", ttl)])
        }
    }
}
