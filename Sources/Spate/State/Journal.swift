import Glibc
import Synchronization

/// The crawl journal's entries: an append-only log, one line per entry.
///
/// A line is tab-separated fields (each escaped: `\\`, `\t`, `\n`, `\r`), then a tab and the
/// xxHash64 of everything before it in 16 hex digits, then a newline. A line whose checksum
/// or newline is missing is a torn write: loading stops there and the file is cut back to
/// the last whole entry. Nothing after a torn entry is trusted.
///
/// What each entry means (see ``CrawlState`` for the order they are made durable in):
/// - `A` a URL admitted as a job (seed, link, redirect, sitemap entry, robots.txt): enough to
///   queue it again. Pending until its record is known written.
/// - `N` a job that ended without a fetch and has no `A` (a seed line that is not a URL, a
///   duplicate seed): its whole record, to write again if it was lost.
/// - `S` seed lines taken so far (a resumed run skips them). Seed `A` and `N` entries carry
///   their line's index too, so a seed's entry and its place in the seed list are one write.
/// - `R` a host's robots.txt (the verdict and the body, to parse again).
/// - `X` a host given up (circuit breaker).
/// - `D` jobs whose records were written; `C` the output file's length after them.
/// - `Z` the crawl ended with every job recorded.
enum JournalEntry: Equatable {
    struct Admit: Equatable {
        var job: Int
        /// The dedupe key's fingerprint (robots.txt fetches have none).
        var fingerprint: UInt64?
        var origin: String
        var depth: Int
        var parent: String?
        var via: Discovery.Kind
        var tag: String?
        var attribute: String?
        var isRobots: Bool
        var isSitemap = false
        var url: String
        var canonical: String
        var input: String
        var file: String?
        var line: Int?
        /// A seed line's index in the seed list (0-based, as read).
        var seedIndex: Int? = nil
    }

    case admit(Admit)
    case noFetch(job: Int, fingerprint: UInt64?, seedIndex: Int?, record: [UInt8])
    case seeds(Int)
    case robots(origin: String, verdict: String, note: String, fetchedAtMillis: Int64, body: [UInt8])
    case hostDead(origin: String, reason: String)
    case done([Int])
    case committed(Int64)
    case complete

    // MARK: - Encoding

    func encode(into out: inout [UInt8]) {
        let start = out.count
        func field(_ s: String) { out.append(0x09); JournalEntry.escape(s, into: &out) }
        func field(_ i: Int) { out.append(0x09); out.append(contentsOf: String(i).utf8) }
        func optional(_ s: String?) { field(s.map { "=" + $0 } ?? "") }
        switch self {
        case let .admit(a):
            out.append(UInt8(ascii: "A"))
            field(a.job)
            field(a.fingerprint.map { JournalEntry.hex($0) } ?? "")
            field(a.origin)
            field(a.depth)
            optional(a.parent)
            field(a.via.rawValue)
            optional(a.tag)
            optional(a.attribute)
            field(a.isRobots ? "r" : (a.isSitemap ? "s" : "p"))
            field(a.url)
            field(a.canonical)
            field(a.input)
            optional(a.file)
            field(a.line.map(String.init) ?? "")
            field(a.seedIndex.map(String.init) ?? "")
        case let .noFetch(job, fp, seedIndex, record):
            out.append(UInt8(ascii: "N"))
            field(job)
            field(fp.map { JournalEntry.hex($0) } ?? "")
            field(seedIndex.map(String.init) ?? "")
            field(String(decoding: record, as: UTF8.self))
        case let .seeds(n):
            out.append(UInt8(ascii: "S"))
            field(n)
        case let .robots(origin, verdict, note, at, body):
            out.append(UInt8(ascii: "R"))
            field(origin)
            field(verdict)
            field(note)
            field(Int(at))
            field(Base64.encode(body))
        case let .hostDead(origin, reason):
            out.append(UInt8(ascii: "X"))
            field(origin)
            field(reason)
        case let .done(jobs):
            out.append(UInt8(ascii: "D"))
            field(jobs.map(String.init).joined(separator: ","))
        case let .committed(offset):
            out.append(UInt8(ascii: "C"))
            field(Int(offset))
        case .complete:
            out.append(UInt8(ascii: "Z"))
        }
        let sum = out[start...].withUnsafeBufferPointer { URLFingerprint.xxh64($0) }
        out.append(0x09)
        out.append(contentsOf: JournalEntry.hex(sum).utf8)
        out.append(0x0A)
    }

    /// The largest job number, seed index, line number, count or time (ms) a line may hold.
    static let maxNumber = 1 << 52
    /// The largest depth (the frontier keeps a queue per depth).
    static let maxDepth = 1 << 24

    /// Decodes one line (without its newline); nil when it is torn or corrupt.
    static func decode(_ line: UnsafeBufferPointer<UInt8>) -> JournalEntry? {
        guard line.count >= 18, line[line.count - 17] == 0x09 else { return nil }
        let body = UnsafeBufferPointer(rebasing: line[..<(line.count - 17)])
        guard String(decoding: line[(line.count - 16)...], as: UTF8.self) == hex(URLFingerprint.xxh64(body)) else { return nil }
        let fields = body.split(separator: 0x09, omittingEmptySubsequences: false).map { unescape($0) }
        guard let kind = fields.first, kind.count == 1 else { return nil }
        let f = Array(fields.dropFirst())
        // Numbers outside what a crawl can produce (a hand-edited line whose checksum was
        // recomputed) make the line unreadable, like a torn one: resuming with them
        // overflowed (job + 1, seed index + 1, a clock difference) or sized the frontier
        // by a depth of Int.max.
        func number(_ s: String, max: Int = JournalEntry.maxNumber) -> Int? {
            guard let v = Int(s), v >= 0, v <= max else { return nil }
            return v
        }
        func int(_ i: Int, max: Int = JournalEntry.maxNumber) -> Int? { i < f.count ? number(f[i], max: max) : nil }
        func optionalInt(_ s: String) -> Int?? {
            if s.isEmpty { return .some(nil) }
            return number(s).map { .some($0) }
        }
        func fp(_ i: Int) -> UInt64?? {
            guard i < f.count else { return nil }
            if f[i].isEmpty { return .some(nil) }
            guard let v = UInt64(f[i], radix: 16) else { return nil }
            return .some(v)
        }
        func optional(_ s: String) -> String?? {
            if s.isEmpty { return .some(nil) }
            guard s.hasPrefix("=") else { return nil }
            return .some(String(s.dropFirst()))
        }
        switch kind {
        case "A":
            guard f.count == 15, let job = int(0), let fingerprint = fp(1), let depth = int(3, max: JournalEntry.maxDepth),
                  let parent = optional(f[4]), let via = Discovery.Kind(rawValue: f[5]),
                  let tag = optional(f[6]), let attribute = optional(f[7]), let file = optional(f[12]),
                  let line = optionalInt(f[13]), let seedIndex = optionalInt(f[14]) else { return nil }
            return .admit(Admit(job: job, fingerprint: fingerprint, origin: f[2], depth: depth, parent: parent, via: via,
                                tag: tag, attribute: attribute, isRobots: f[8] == "r", isSitemap: f[8] == "s", url: f[9],
                                canonical: f[10], input: f[11], file: file, line: line, seedIndex: seedIndex))
        case "N":
            guard f.count == 4, let job = int(0), let fingerprint = fp(1), let seedIndex = optionalInt(f[2]) else { return nil }
            return .noFetch(job: job, fingerprint: fingerprint, seedIndex: seedIndex, record: Array(f[3].utf8))
        case "S":
            guard f.count == 1, let n = int(0) else { return nil }
            return .seeds(n)
        case "R":
            guard f.count == 5, let at = int(3), let body = Base64.decode(f[4]) else { return nil }
            return .robots(origin: f[0], verdict: f[1], note: f[2], fetchedAtMillis: Int64(at), body: body)
        case "X":
            guard f.count == 2 else { return nil }
            return .hostDead(origin: f[0], reason: f[1])
        case "D":
            guard f.count == 1 else { return nil }
            if f[0].isEmpty { return .done([]) }
            var jobs: [Int] = []
            for part in f[0].split(separator: ",") {
                guard let j = number(String(part)) else { return nil }
                jobs.append(j)
            }
            return .done(jobs)
        case "C":
            guard f.count == 1, let n = int(0) else { return nil }
            return .committed(Int64(n))
        case "Z":
            return f.isEmpty ? .complete : nil
        default:
            return nil
        }
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    private static func escape(_ s: String, into out: inout [UInt8]) {
        for b in s.utf8 {
            switch b {
            case 0x5C: out.append(0x5C); out.append(0x5C)
            case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
            case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
            default: out.append(b)
            }
        }
    }

    private static func unescape(_ s: Slice<UnsafeBufferPointer<UInt8>>) -> String {
        guard s.contains(0x5C) else { return String(decoding: s, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var escaped = false
        for b in s {
            if escaped {
                switch b {
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                default: out.append(b)
                }
                escaped = false
            } else if b == 0x5C {
                escaped = true
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Standard base64 (RFC 4648 §4), for robots.txt bodies in the journal.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            for s in [18, 12, 6, 0] { out.append(alphabet[Int(v >> UInt32(s) & 63)]) }
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            var v = UInt32(bytes[i]) << 16
            if rest == 2 { v |= UInt32(bytes[i + 1]) << 8 }
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(v >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ s: String) -> [UInt8]? {
        var table = [Int16](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = Int16(i) }
        var out: [UInt8] = []
        var acc: UInt32 = 0, bits = 0
        for c in s.utf8 {
            if c == UInt8(ascii: "=") { break }
            let v = table[Int(c)]
            guard v >= 0 else { return nil }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        return out
    }
}

/// The journal file: entries are buffered in memory (hub side) and written by the
/// checkpointer; loading reads the longest valid prefix and cuts a torn tail.
final class JournalFile: Sendable {
    let path: String
    let fd: Int32
    private let buffer = Mutex<[UInt8]>([])

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// Opens (creating) the journal, reads every valid entry in order, and cuts a torn tail:
    /// an unreadable last line (a write cut short by a crash). An unreadable line with valid
    /// lines after it is not a torn write but damage (or another format): the journal is
    /// refused, never cut there — cutting would forget every entry after it, and the crawl
    /// would fetch and record again what it had done. `cut` reports how many bytes were cut.
    static func open(_ path: String, each: (JournalEntry) -> Void) throws(StateError) -> (JournalFile, cut: Int) {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StateError.io("open \(path)", errno) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; let e = errno; close(fd); throw StateError.io("read \(path)", e) }
            if n == 0 { break }
            data.append(contentsOf: chunk[..<n])
        }
        var valid = 0
        var damagedAt: Int? = nil
        data.withUnsafeBufferPointer { b in
            var start = 0
            while start < b.count {
                guard let nl = b[start...].firstIndex(of: 0x0A) else { break }
                guard let entry = JournalEntry.decode(UnsafeBufferPointer(rebasing: b[start..<nl])) else {
                    if nl + 1 < b.count { damagedAt = start }
                    break
                }
                each(entry)
                start = nl + 1
                valid = start
            }
        }
        if let at = damagedAt {
            close(fd)
            throw StateError.badState("\(path) is damaged: the entry at byte \(at) cannot be read and entries follow it "
                + "(not a torn last write); the state cannot be resumed safely: use another --state directory")
        }
        let cut = data.count - valid
        if cut > 0 {
            guard ftruncate(fd, off_t(valid)) == 0 else { let e = errno; close(fd); throw StateError.io("truncate \(path)", e) }
            fsync(fd)
        }
        guard lseek(fd, 0, SEEK_END) >= 0 else { let e = errno; close(fd); throw StateError.io("seek \(path)", e) }
        return (JournalFile(path: path, fd: fd), cut)
    }

    /// Adds an entry to the buffer (written at the next checkpoint).
    func append(_ entry: JournalEntry) {
        buffer.withLock { entry.encode(into: &$0) }
    }

    /// Takes what was appended since the last call.
    func take() -> [UInt8] {
        buffer.withLock { b in
            var out: [UInt8] = []
            swap(&out, &b)
            return out
        }
    }
}

/// Why the state directory cannot be used, or writing to it failed.
public enum StateError: Error, CustomStringConvertible, Equatable {
    case io(String, Int32)
    case locked(String)
    case mismatch(String, [String])
    case badState(String)

    public var description: String {
        switch self {
        case let .io(what, e): return "\(what): \(String(cString: strerror(e)))"
        case let .locked(dir): return "\(dir) is in use by another spate (locked)"
        case let .mismatch(dir, keys):
            return "\(dir) holds the state of a different crawl (\(keys.joined(separator: "; "))): "
                + "run the same command to resume it, or use another --state directory"
        case let .badState(why): return why
        }
    }
}
