import Dispatch
import Foundation
import Glibc
import Synchronization

/// Where a response record was written: the file, the byte offset of its gzip member and
/// the member's compressed length — what a CDX index stores, so a reader can seek there and
/// decompress that one record.
public struct WARCLocation: Sendable, Equatable {
    public var file: String
    public var offset: Int
    public var length: Int

    var json: JSONValue { .object([("file", .string(file)), ("offset", .int(offset)), ("length", .int(length))]) }
}

/// One HTTP exchange as it crossed the wire, ready to become a `request` and a `response`
/// record. Built by a transfer on the hub; written on the writer's queue.
public struct WARCExchange: Sendable {
    /// `WARC-Target-URI` (the URL without userinfo).
    var targetURI: String
    /// When the transfer started (wall clock), the `WARC-Date` of both records.
    var date: WARCDate
    /// `WARC-IP-Address`; empty if curl did not say.
    var ip: String
    /// The request as sent: header block and body, if any.
    var request: [UInt8]
    /// The final response's header block as received (status line to the empty line).
    var responseHead: [UInt8]
    /// The response body as received (transfer and content codings kept).
    var body: BodySpool
    /// `sha1:…` of `responseHead` + `body`.
    var blockDigest: String
    /// `sha1:…` of the body with the transfer coding removed; nil when it could not be removed.
    var payloadDigest: String?
    /// `WARC-Truncated` (`length`, `time`, `disconnect`, `unspecified`) when the body is incomplete.
    var truncated: String?
}

/// A `WARC-Date`: UTC, microseconds (WARC 1.1 allows fractions of a second).
struct WARCDate: Sendable, Equatable {
    var seconds: Int
    var microseconds: Int

    static func now() -> WARCDate {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return WARCDate(seconds: ts.tv_sec, microseconds: ts.tv_nsec / 1000)
    }

    var text: String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(microseconds), 6))Z"
    }
}

/// Writes WARC 1.1 files (ISO 28500:2017): a `warcinfo` record at the start of every file,
/// then a `request` and a `response` record per HTTP exchange, each record its own gzip
/// member. Files roll at a size limit: `out.warc.gz` names `out-00000.warc.gz`,
/// `out-00001.warc.gz`, … (``fileName(for:index:)``).
///
/// With ``Existing/continue`` (a crawl with `--state`, resumed or new) the writer adds to a
/// series instead of replacing it: files already there are kept, a torn record a crash left at
/// the end of the last one is cut, and this run's files take the next indices
/// (``Continuation``).
///
/// Thread-safe: one lock around the file, so the two records of an exchange are always
/// adjacent and in the same file. Records are written with write(2) straight from the
/// compressor (nothing buffered in user space, so nothing to flush); a failed write
/// (ENOSPC, EFBIG, EIO) truncates the file back to where the exchange began — the file stays
/// a valid WARC — and is reported as an error, never a crash (SIGXFSZ is ignored so a file
/// size limit gives EFBIG instead of killing the process).
public final class WARCWriter: Sendable {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// A `name: value` line of the `warcinfo` record.
    public struct Field: Sendable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) { self.name = name; self.value = value }
    }

    /// What to do with files of the series already there.
    public enum Existing: Sendable {
        /// Write from `-00000` on, replacing files of the same names (`spate fetch`, a crawl
        /// without `--state`).
        case replace
        /// Keep them: cut a torn tail off the last one, then write from the next index on.
        case `continue`
    }

    /// What ``Existing/continue`` found and did at start.
    public struct Continuation: Sendable, Equatable {
        /// The series' files that were there, in index order (the last one possibly cut).
        public var existing: [String]
        /// Bytes cut off the end of the last existing file: a record a crash left half-written
        /// (0 if it ended with a complete record).
        public var cut: Int
        /// Where the last existing file stops reading although a complete record follows further
        /// on: damage inside the file, which is left as it is (nil if none).
        public var damagedAt: Int?
        /// The last existing file held no complete record (empty, or only a torn one): it was
        /// removed and its name is used again.
        public var removedEmpty: Bool
        /// The first file this run writes (created with the run's first exchange).
        public var next: String

        /// A line for stderr; nil when there was nothing to continue from.
        public var summary: String? {
            guard let last = existing.last else { return nil }
            let kept = removedEmpty ? existing.count - 1 : existing.count
            var s = "--warc: continuing the series: \(kept) file\(kept == 1 ? "" : "s") from earlier runs kept"
            if cut > 0 && !removedEmpty { s += "; cut \(cut) bytes of a torn record off the end of \(last)" }
            if removedEmpty { s += "; removed \(last) (\(cut) bytes, no complete record)" }
            if let damagedAt {
                s += "; \(last) does not read from byte \(damagedAt) on, but complete records follow: left as it is"
            }
            return s + "; this run writes from \(next)"
        }
    }

    /// The path as given (`out.warc.gz`); the files are ``fileName(for:index:)``.
    public let path: String
    /// A file that has reached this many bytes gets no further exchange: the next one
    /// starts a new file. One exchange is never split, so a file can pass the limit by one.
    public let maxFileSize: Int
    /// What ``Existing/continue`` found at start; nil with ``Existing/replace``.
    public let continuation: Continuation?
    private let existing: Existing
    private let info: [Field]
    private let state: Mutex<State>
    private let queue = DispatchQueue(label: "spate.warc")

    private struct State {
        var fd: Int32 = -1
        var index = -1
        var file = ""
        var size = 0
        /// Exchanges in the current file.
        var exchanges = 0
        var warcinfoID = ""
        var closed = false
        var files: [String] = []
    }

    /// Opens the first file and writes its `warcinfo` record. `info` adds fields after
    /// `software`, `format` and `conformsTo` (the command's configuration).
    ///
    /// With `existing: .continue`, files of the series already there are kept: the last one is
    /// checked and a torn tail cut (``continuation`` says what was found), and this run's first
    /// file, the next index, is created with the first exchange — a run that archives nothing
    /// (a complete crawl run again) adds no file. A directory that cannot take it is refused here.
    public init(path: String, maxFileSize: Int = 1_000_000_000, software: String, info: [Field] = [],
                existing: Existing = .replace) throws(Failure) {
        // A write past RLIMIT_FSIZE raises SIGXFSZ, whose default action kills the process:
        // ignored, the write fails with EFBIG and is reported.
        signal(SIGXFSZ, SIG_IGN)
        self.path = path
        self.maxFileSize = maxFileSize
        self.existing = existing
        self.info = [Field("software", software), Field("format", "WARC File Format 1.1"),
                     Field("conformsTo", "http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/")] + info
        switch existing {
        case .replace:
            continuation = nil
            state = Mutex(State())
            let opened: Failure? = state.withLock { s in self.open(&s) }
            if let opened { throw opened }
        case .continue:
            let (found, index) = try Self.continueSeries(path: path)
            continuation = found
            state = Mutex(State(index: index - 1))
        }
    }

    deinit {
        state.withLock { s in if s.fd >= 0 { Glibc.close(s.fd) } }
    }

    /// `out.warc.gz` → `out-00000.warc.gz`; `out.warc` and `out` the same (records are always
    /// gzip'd, so the files always end in `.warc.gz`).
    public static func fileName(for path: String, index: Int) -> String {
        var base = Substring(path)
        for suffix in [".warc.gz", ".warc", ".gz"] where base.hasSuffix(suffix) {
            base = base.dropLast(suffix.count)
            break
        }
        let n = String(index)
        return "\(base)-\(String(repeating: "0", count: max(0, 5 - n.count)))\(n).warc.gz"
    }

    /// The files of the series `path` names that exist, in index order: names that
    /// ``fileName(for:index:)`` gives for some index, exactly.
    public static func existingFiles(for path: String) -> [(index: Int, file: String)] {
        let first = fileName(for: path, index: 0)
        let directory = (first as NSString).deletingLastPathComponent
        let name = (first as NSString).lastPathComponent
        let prefix = String(name.dropLast("00000.warc.gz".count))
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory) else { return [] }
        var found: [(index: Int, file: String)] = []
        for entry in names where entry.hasPrefix(prefix) && entry.hasSuffix(".warc.gz") {
            let digits = entry.dropFirst(prefix.count).dropLast(".warc.gz".count)
            guard digits.count >= 5, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let index = Int(digits) else { continue }
            let file = fileName(for: path, index: index)
            if (file as NSString).lastPathComponent == entry { found.append((index, file)) }
        }
        return found.sorted { $0.index < $1.index }
    }

    /// ``Existing/continue``: finds the series, cuts a torn tail off its last file (a file left
    /// with no complete record is removed and its index used again), and checks that the
    /// directory can take a new file.
    private static func continueSeries(path: String) throws(Failure) -> (Continuation, index: Int) {
        let found = existingFiles(for: path)
        var c = Continuation(existing: found.map(\.file), cut: 0, damagedAt: nil, removedEmpty: false, next: "")
        var index = (found.last?.index ?? -1) + 1
        if let last = found.last {
            let fd = Glibc.open(last.file, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw Failure(message: "--warc \(last.file): \(String(cString: strerror(errno)))") }
            defer { Glibc.close(fd) }
            let scan: GzipMemberScan
            do { scan = try GzipMemberScan.scan(fd: fd) } catch {
                throw Failure(message: "--warc \(last.file): reading it back: \(String(cString: strerror(error.errno)))")
            }
            switch scan.tail {
            case .clean: break
            case .torn:
                guard ftruncate(fd, off_t(scan.end)) == 0 else {
                    throw Failure(message: "--warc \(last.file): cutting a torn record: \(String(cString: strerror(errno)))")
                }
                c.cut = scan.size - scan.end
            case .damaged:
                c.damagedAt = scan.end
            }
            // A request record is written just before its response: a crash between the two
            // leaves a request without its response at the end. Cut it too.
            var damaged = false
            if case .damaged = scan.tail { damaged = true }
            if !damaged, scan.members > 1, Self.isRequestRecord(scan.lastHead) {
                guard ftruncate(fd, off_t(scan.lastStart)) == 0 else {
                    throw Failure(message: "--warc \(last.file): cutting a lone request record: \(String(cString: strerror(errno)))")
                }
                c.cut = scan.size - scan.lastStart
            }
            if scan.size == 0 || (scan.members == 0 && scan.tail == .torn) {
                // Nothing whole in it (a crash while its warcinfo was written): not a WARC file.
                guard unlink(last.file) == 0 else {
                    throw Failure(message: "--warc \(last.file): removing an empty file: \(String(cString: strerror(errno)))")
                }
                c.removedEmpty = true
                index = last.index
            }
        }
        c.next = fileName(for: path, index: index)
        let directory = (c.next as NSString).deletingLastPathComponent
        if access(directory.isEmpty ? "." : directory, W_OK | X_OK) != 0 {
            throw Failure(message: "--warc \(c.next): \(String(cString: strerror(errno)))")
        }
        return (c, index)
    }

    /// Whether an inflated record header is a `request` record's.
    static func isRequestRecord(_ head: [UInt8]) -> Bool {
        let text = String(decoding: head, as: UTF8.self)
        return text.hasPrefix("WARC/") && text.contains("\r\nWARC-Type: request\r\n")
    }

    /// The files written so far, in order.
    public var files: [String] { state.withLock { $0.files } }

    /// The directory the files go in (spill files of large bodies go there too).
    var directory: String {
        let dir = (path as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }

    /// Writes the exchange's `request` and `response` records (rolling to a new file first
    /// if the current one has reached ``maxFileSize``) and returns where the response went.
    func write(_ x: WARCExchange) throws(Failure) -> WARCLocation {
        let result: Result<WARCLocation, Failure> = state.withLock { s in
            if s.closed { return .failure(Failure(message: "--warc: the archive is already closed")) }
            if s.fd < 0 || (s.size >= maxFileSize && s.exchanges > 0) {
                if let e = roll(&s) { return .failure(e) }
            }
            let start = s.size
            let requestID = Self.recordID(), responseID = Self.recordID()
            var common: [(String, String)] = [("WARC-Date", x.date.text), ("WARC-Target-URI", x.targetURI)]
            if !x.ip.isEmpty { common.append(("WARC-IP-Address", x.ip)) }
            common.append(("WARC-Warcinfo-ID", s.warcinfoID))
            let request = [("WARC-Type", "request"), ("WARC-Record-ID", requestID)] + common
                + [("WARC-Concurrent-To", responseID), ("Content-Type", "application/http;msgtype=request"),
                   ("WARC-Block-Digest", Digest.warcDigest(x.request))]
            var response = [("WARC-Type", "response"), ("WARC-Record-ID", responseID)] + common
                + [("WARC-Concurrent-To", requestID), ("Content-Type", "application/http;msgtype=response"),
                   ("WARC-Block-Digest", x.blockDigest)]
            if let p = x.payloadDigest { response.append(("WARC-Payload-Digest", p)) }
            if let t = x.truncated { response.append(("WARC-Truncated", t)) }
            if let e = record(&s, request, [x.request], body: nil) {
                undo(&s, to: start)
                return .failure(e)
            }
            let responseStart = s.size
            if let e = record(&s, response, [x.responseHead], body: x.body) {
                undo(&s, to: start)
                return .failure(e)
            }
            s.exchanges += 1
            return .success(WARCLocation(file: s.file, offset: responseStart, length: s.size - responseStart))
        }
        return try result.get()
    }

    /// ``write(_:)`` on the writer's own queue: compressing and writing a large body must
    /// not hold up the hub's event loop or a thread of the cooperative pool.
    func archive(_ x: WARCExchange) async -> Result<WARCLocation, Failure> {
        await withCheckedContinuation { (c: CheckedContinuation<Result<WARCLocation, Failure>, Never>) in
            queue.async {
                do throws(Failure) { c.resume(returning: .success(try self.write(x))) } catch { c.resume(returning: .failure(error)) }
            }
        }
    }

    /// Makes what was written so far durable (fdatasync of the current file; finished files
    /// were synced when they were rolled). A crawl with `--state` calls it at each checkpoint
    /// before writing the JSON records that point into the archive, so that after a power
    /// cut no record points at WARC data that never reached the disk. Returns the errno on
    /// failure.
    public func sync() -> Int32? {
        state.withLock { s in
            guard s.fd >= 0 else { return nil }
            return fdatasync(s.fd) == 0 ? nil : errno
        }
    }

    /// Closes the current file. Later writes fail. Safe to call more than once.
    public func close() throws(Failure) {
        let failure: Failure? = state.withLock { s in
            s.closed = true
            guard s.fd >= 0 else { return nil }
            let rc = Glibc.close(s.fd)
            s.fd = -1
            return rc == 0 ? nil : Failure(message: "--warc \(s.file): \(String(cString: strerror(errno)))")
        }
        if let failure { throw failure }
    }

    // MARK: - Files and records (with the lock held)

    /// Opens the next file and writes its `warcinfo`. On failure the state is left as it was
    /// (no file open), so the next exchange tries the same name again. ``Existing/continue``
    /// never opens a file that exists (O_EXCL): one that appeared since is passed over.
    private func open(_ s: inout State) -> Failure? {
        var index = s.index + 1
        var file = Self.fileName(for: path, index: index)
        let flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (existing == .replace ? O_TRUNC : O_EXCL)
        var fd = Glibc.open(file, flags, 0o644)
        while fd < 0 && errno == EEXIST && existing == .continue {
            index += 1
            file = Self.fileName(for: path, index: index)
            fd = Glibc.open(file, flags, 0o644)
        }
        guard fd >= 0 else { return Failure(message: "--warc \(file): \(String(cString: strerror(errno)))") }
        var next = s
        next.fd = fd
        next.index = index
        next.file = file
        next.size = 0
        next.exchanges = 0
        next.files.append(file)
        next.warcinfoID = Self.recordID()
        let name = (file as NSString).lastPathComponent
        var block: [UInt8] = []
        for f in info { block += Array("\(f.name): \(Self.fieldValue(f.value))\r\n".utf8) }
        let fields = [("WARC-Type", "warcinfo"), ("WARC-Record-ID", next.warcinfoID), ("WARC-Date", WARCDate.now().text),
                      ("WARC-Filename", name), ("Content-Type", "application/warc-fields"),
                      ("WARC-Block-Digest", Digest.warcDigest(block))]
        if let e = record(&next, fields, [block], body: nil) {
            // Not even the warcinfo: the file is no WARC file, and the next try creates it again.
            unlink(file)
            Glibc.close(fd)
            return e
        }
        // The new file's directory entry is durable too (a record may point into it).
        let directory = (file as NSString).deletingLastPathComponent
        let dfd = Glibc.open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); Glibc.close(dfd) }
        s = next
        return nil
    }

    private func roll(_ s: inout State) -> Failure? {
        if s.fd >= 0 {
            // A finished file is made durable before the next one starts (crawl --state:
            // records point into it; see ``sync()``): a failure is the exchange's failure.
            let synced = fdatasync(s.fd) == 0 ? 0 : errno
            let rc = Glibc.close(s.fd)
            let closed = rc == 0 ? 0 : errno
            s.fd = -1
            if synced != 0 || closed != 0 {
                return Failure(message: "--warc \(s.file): \(String(cString: strerror(synced != 0 ? synced : closed)))")
            }
        }
        return open(&s)
    }

    /// One record as one gzip member: the header fields (Content-Length added), then the block
    /// (`parts`, then `body`), then the two CRLFs that end a record.
    private func record(_ s: inout State, _ fields: [(String, String)], _ parts: [[UInt8]], body: BodySpool?) -> Failure? {
        let length = parts.reduce(0) { $0 + $1.count } + (body?.count ?? 0)
        var header = "WARC/1.1\r\n"
        for (name, value) in fields { header += "\(name): \(value)\r\n" }
        header += "Content-Length: \(length)\r\n\r\n"

        var gz = GzipMemberWriter()
        var writeError: Int32 = 0
        var written = 0
        let fd = s.fd
        let sink: (UnsafeRawBufferPointer) -> Bool = { out in
            if writeAll(fd, out) { written += out.count; return true }
            writeError = errno
            return false
        }
        var status = gz.write(Array(header.utf8), sink)
        for part in parts where status == .ok { status = gz.write(part, sink) }
        var readError: Int32 = 0
        if status == .ok, let body {
            readError = body.forEachPiece { piece in
                status = gz.write(piece, sink)
                return status == .ok
            }
        }
        if status == .ok && readError == 0 { status = gz.write(Array("\r\n\r\n".utf8), finish: true, sink) }
        s.size += written
        if writeError != 0 { return Failure(message: "--warc \(s.file): \(String(cString: strerror(writeError)))") }
        if readError != 0 { return Failure(message: "--warc: reading a spooled body back: \(String(cString: strerror(readError)))") }
        if case let .failed(rc) = status { return Failure(message: "--warc: gzip failed (zlib \(rc))") }
        return nil
    }

    /// Cuts a partly written exchange off the end of the file, so the file stays valid.
    private func undo(_ s: inout State, to offset: Int) {
        if ftruncate(s.fd, off_t(offset)) == 0 { s.size = offset }
    }

    private static func recordID() -> String { "<urn:uuid:\(UUID().uuidString.lowercased())>" }

    /// A warcinfo value on one line (a newline would start a new field).
    private static func fieldValue(_ v: String) -> String {
        String(v.map { $0 == "\r" || $0 == "\n" ? " " : $0 })
    }
}
