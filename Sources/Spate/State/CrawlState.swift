import Foundation
import Glibc

/// A crawl's state directory (`--state DIR`): what a later run needs to continue it,
/// however this one ends (finished, Ctrl-C, `kill -9`, a full disk).
///
/// Files: `state.json` (what crawl this is: a later run with other seeds or scope is
/// refused), `journal` (see ``JournalEntry``), `lock` (one process at a time).
///
/// Durability order, at each checkpoint (every `--sync-interval`, by the checkpointer
/// thread of ``DurableSink``):
/// 1. the journal entries made so far are written and fsync'd — among them every URL a
///    page's record mentions as admitted (its links are admitted before its record exists);
/// 2. the records made so far are written to the output and, for a file, fsync'd;
/// 3. a `D` entry (those records' jobs) and a `C` entry (the output's length) follow in the
///    journal (made durable by the next checkpoint's fsync).
///
/// So a record on disk never names a job the journal does not know, and a job the journal
/// marks done has its record on disk. Records written after the last durable `C` are found
/// again by reading the output file from that offset (complete lines only: a torn last line
/// is cut). A job admitted but not known done is fetched again: its record was not written.
public final class CrawlState: @unchecked Sendable {
    public let directory: String
    /// The records' file (`-o`), or nil for stdout.
    public let outputPath: String?
    let journal: JournalFile
    private let lockFD: Int32
    let resume: ResumeState
    /// Every fingerprint admitted so far (the crawler adopts it as its seen-set).
    let seen: FingerprintSet
    /// The output file's descriptor (positioned at its end) when `outputPath` is set.
    let outputFD: Int32
    let outputOffset: Int64

    /// What a run continues from; empty for a new crawl.
    struct ResumeState {
        var pending: [JournalEntry.Admit] = []
        /// Every seed admitted so far: they define the scope (host, domain, prefix).
        var seedURLs: [String] = []
        var pendingRecords: [(job: Int, record: [UInt8])] = []
        var fingerprints = 0
        var nextJob = 0
        var seedsTaken = 0
        var robots: [String: (verdict: String, note: String, fetchedAtMillis: Int64, body: [UInt8])] = [:]
        var dead: [String: String] = [:]
        /// Page (non-robots) jobs admitted per origin, already recorded.
        var admittedPerOrigin: [String: Int] = [:]
        var recorded = 0
        var complete = false
        var journalCut = 0
        var outputCut = 0
        var resumed = false
    }

    /// Opens (or creates) `directory` for the crawl described by `identity` (sorted
    /// key-value pairs: seeds, scope, limits…). Refuses a directory in use or holding
    /// another crawl. (`@unchecked Sendable`: made on one thread, then used by the crawler on
    /// the hub and by its checkpointer through the journal's lock.)
    public static func open(directory: String, identity: [(String, String)], outputPath: String?) throws(StateError) -> CrawlState {
        if mkdir(directory, 0o755) != 0 && errno != EEXIST { throw .io("mkdir \(directory)", errno) }
        let lockFD = Glibc.open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0 else { throw .io("open \(directory)/lock", errno) }
        // Another process holds it: wait up to 2 s (a process that just exited, or a child
        // between fork and exec that still shares a descriptor), then refuse.
        var tries = 0
        while flock(lockFD, LOCK_EX | LOCK_NB) != 0 {
            tries += 1
            if tries > 40 { close(lockFD); throw .locked(directory) }
            usleep(50_000)
        }
        do {
            return try CrawlState(directory: directory, identity: identity, outputPath: outputPath, lockFD: lockFD)
        } catch {
            close(lockFD)
            throw error
        }
    }

    private init(directory: String, identity: [(String, String)], outputPath: String?, lockFD: Int32) throws(StateError) {
        self.directory = directory
        self.outputPath = outputPath
        self.lockFD = lockFD
        let metaPath = directory + "/state.json"
        let journalPath = directory + "/journal"
        var identity = identity
        identity.append(("output", outputPath.map { Self.absolute($0) } ?? "-"))
        let meta = FileManager.default.contents(atPath: metaPath)
        if let meta {
            let saved = try Self.parseMeta(meta, path: metaPath)
            var differs: [String] = []
            let savedKeys = Dictionary(saved, uniquingKeysWith: { a, _ in a })
            for (k, v) in identity where savedKeys[k] != v {
                differs.append("\(k): \(savedKeys[k].map { "'\($0)'" } ?? "unset") there, '\(v)' now")
            }
            for (k, _) in saved where !identity.contains(where: { $0.0 == k }) { differs.append("\(k): only there") }
            if !differs.isEmpty { throw .mismatch(directory, differs) }
        } else {
            if access(journalPath, F_OK) == 0 {
                throw .badState("\(directory) has a journal but no state.json: not a spate state directory (or damaged)")
            }
            try Self.writeMeta(identity, to: metaPath, directory: directory)
        }

        let seenSet = FingerprintSet()
        var r = ResumeState()
        r.resumed = meta != nil
        var pending: [Int: JournalEntry.Admit] = [:]
        var pendingRecords: [Int: [UInt8]] = [:]
        var committed: Int64 = 0
        var maxJob = -1
        let (journal, cut) = try JournalFile.open(journalPath) { entry in
            switch entry {
            case let .admit(a):
                pending[a.job] = a
                if a.via == .seed { r.seedURLs.append(a.url) }
                if let i = a.seedIndex { r.seedsTaken = max(r.seedsTaken, i + 1) }
                maxJob = max(maxJob, a.job)
                if let fp = a.fingerprint { _ = seenSet.insert(fp); r.fingerprints += 1 }
            case let .noFetch(job, fp, seedIndex, record):
                if let i = seedIndex { r.seedsTaken = max(r.seedsTaken, i + 1) }
                pendingRecords[job] = record
                maxJob = max(maxJob, job)
                if let fp { _ = seenSet.insert(fp); r.fingerprints += 1 }
            case let .seeds(n):
                r.seedsTaken = max(r.seedsTaken, n)
            case let .robots(origin, verdict, note, at, body):
                r.robots[origin] = (verdict, note, at, body)
            case let .hostDead(origin, reason):
                r.dead[origin] = reason
            case let .done(jobs):
                for j in jobs { Self.markDone(j, &pending, &pendingRecords, &r) }
            case let .committed(offset):
                committed = offset
            case .complete:
                r.complete = true
            }
        }
        r.journalCut = cut
        self.journal = journal
        Self.syncDirectory(directory)
        self.seen = seenSet

        // The output: cut a torn last line; records after the last durable checkpoint are
        // done too (their journal entries were made durable before them).
        if let outputPath {
            let flags = r.resumed ? (O_RDWR | O_CREAT | O_CLOEXEC) : (O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC)
            let fd = Glibc.open(outputPath, flags, 0o644)
            guard fd >= 0 else { throw .io("open \(outputPath)", errno) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { let e = errno; close(fd); throw .io("stat \(outputPath)", e) }
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                close(fd)
                throw .badState("-o \(outputPath): with --state the output must be a regular file (it is cut and read back on resume)")
            }
            let size = Int64(lseek(fd, 0, SEEK_END))
            if size < committed {
                close(fd)
                throw .badState("\(outputPath) is \(size) bytes but \(directory) recorded \(committed) bytes written to it: "
                    + "the output file was changed outside spate; restore it or start a new crawl with another --state directory")
            }
            var end = committed
            if size > committed {
                let (valid, jobs) = Self.scanRecords(fd, from: committed, to: size)
                for j in jobs { Self.markDone(j, &pending, &pendingRecords, &r) }
                end = valid
                if valid < size {
                    guard ftruncate(fd, off_t(valid)) == 0 else { let e = errno; close(fd); throw .io("truncate \(outputPath)", e) }
                    r.outputCut = Int(size - valid)
                }
                // Note them in the journal now: the next checkpoint's C entry will lie past
                // them, and a later resume reads the output only from there.
                if fsync(fd) != 0 { let e = errno; close(fd); throw .io("fsync \(outputPath)", e) }
                var note: [UInt8] = []
                JournalEntry.done(jobs).encode(into: &note)
                JournalEntry.committed(end).encode(into: &note)
                if let e = writeFully(journal.fd, note) { close(fd); throw .io("write \(journalPath)", e) }
                if fsync(journal.fd) != 0 { let e = errno; close(fd); throw .io("fsync \(journalPath)", e) }
            }
            lseek(fd, off_t(end), SEEK_SET)
            Self.syncDirectory((outputPath as NSString).deletingLastPathComponent.isEmpty ? "." : (outputPath as NSString).deletingLastPathComponent)
            outputFD = fd
            outputOffset = end
        } else {
            outputFD = -1
            outputOffset = 0
        }
        r.pending = pending.values.sorted { $0.job < $1.job }
        r.pendingRecords = pendingRecords.map { ($0.key, $0.value) }.sorted { $0.job < $1.job }
        r.nextJob = maxJob + 1
        resume = r
    }

    /// What a resumed run starts from, for stderr; nil for a new crawl.
    public var resumeSummary: String? {
        let r = resume
        guard r.resumed else { return nil }
        if r.complete && r.pending.isEmpty && r.pendingRecords.isEmpty {
            return "the crawl in \(directory) is complete (\(r.recorded) records written): nothing to do but seed lines added since, if any"
        }
        var s = "resuming from \(directory): \(r.recorded) records written, \(r.pending.count + r.pendingRecords.count) jobs pending, "
            + "\(r.seedsTaken) seed lines taken"
        if r.journalCut > 0 { s += "; cut \(r.journalCut) bytes of a torn journal write" }
        if r.outputCut > 0 { s += "; cut \(r.outputCut) bytes of a torn last record in \(outputPath ?? "")" }
        return s
    }

    deinit {
        if outputFD >= 0 { close(outputFD) }
        close(lockFD)
    }

    private static func markDone(_ job: Int, _ pending: inout [Int: JournalEntry.Admit], _ records: inout [Int: [UInt8]],
                                 _ r: inout ResumeState) {
        if let a = pending.removeValue(forKey: job) {
            r.recorded += 1
            if !a.isRobots { r.admittedPerOrigin[a.origin, default: 0] += 1 }
        } else if records.removeValue(forKey: job) != nil {
            r.recorded += 1
        }
    }

    /// Reads records from `from` to `to`: the jobs of complete lines, and where the last
    /// complete line ends. A line that is not a record (`{"job":N,…`) ends the scan there.
    private static func scanRecords(_ fd: Int32, from: Int64, to: Int64) -> (Int64, [Int]) {
        var jobs: [Int] = []
        var valid = from
        var carry: [UInt8] = []
        var at = from
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        let prefix = Array("{\"job\":".utf8)
        scan: while at < to {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, min($0.count, Int(to - at)), off_t(at)) }
            if n <= 0 { break }
            at += Int64(n)
            carry.append(contentsOf: chunk[..<n])
            var start = 0
            while let nl = carry[start...].firstIndex(of: 0x0A) {
                let line = carry[start..<nl]
                guard line.starts(with: prefix) else { break scan }
                var j = 0, digits = 0
                for b in line.dropFirst(prefix.count) {
                    guard b >= 0x30 && b <= 0x39 else { break }
                    digits += 1
                    // More digits than any job number has: not a record of ours.
                    if digits > 18 { break scan }
                    j = j * 10 + Int(b - 0x30)
                }
                guard digits > 0, line.last == UInt8(ascii: "}") else { break scan }
                jobs.append(j)
                valid += Int64(nl + 1 - start)
                start = nl + 1
            }
            carry.removeFirst(start)
        }
        return (valid, jobs)
    }

    private static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return FileManager.default.currentDirectoryPath + "/" + path
    }

    private static func parseMeta(_ data: Data, path: String) throws(StateError) -> [(String, String)] {
        let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        if let other = json?["format"] as? String, other != Self.format, other.hasPrefix("spate-crawl-state/") {
            throw .badState("\(path) was written by another version of spate (\(other); this one reads \(Self.format)): "
                + "finish that crawl with the spate that started it, or use another --state directory")
        }
        guard let json, json["format"] as? String == Self.format, let crawl = json["crawl"] as? [String: String] else {
            throw .badState("\(path) is not a spate crawl state (format \(Self.format))")
        }
        return crawl.map { ($0.key, $0.value) }
    }

    /// The journal's format. /2: admissions carry the seed line's index (A: 15 fields, N: 4);
    /// a /1 journal's entries would not decode, so /1 is refused by name.
    static let format = "spate-crawl-state/2"

    /// Makes new files' directory entries durable (the journal, the output).
    private static func syncDirectory(_ directory: String) {
        let dfd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    private static func writeMeta(_ identity: [(String, String)], to path: String, directory: String) throws(StateError) {
        var crawl: [String: String] = [:]
        for (k, v) in identity { crawl[k] = v }
        let json: [String: Any] = ["format": Self.format, "crawl": crawl]
        guard let data = try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .prettyPrinted]) else {
            throw .badState("cannot encode state.json")
        }
        let tmp = path + ".tmp"
        let fd = Glibc.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("open \(tmp)", errno) }
        if let e = writeFully(fd, Array(data) + [0x0A]) { close(fd); throw .io("write \(tmp)", e) }
        guard fsync(fd) == 0 else { let e = errno; close(fd); throw .io("fsync \(tmp)", e) }
        close(fd)
        guard rename(tmp, path) == 0 else { throw .io("rename \(tmp)", errno) }
        syncDirectory(directory)
    }
}
