import Foundation
import Glibc
import Synchronization

/// A scriptable HTTP(S) server for `spate fetch` tests: `http_fixture.py` (next to this file)
/// run as a child process, on loopback only.
///
/// It listens on 127.0.0.1 and ::1 (plain HTTP, normally the same port) and, when the
/// `openssl` tool is there, serves HTTPS on 127.0.0.1 (and ::1) with a certificate for
/// `localhost`, `127.0.0.1`, `::1` and `*.fixture.test` signed by a throw-away CA
/// (``caPath``). What it answers depends on the path alone (`/status/404`, `/redirect?to=…`,
/// `/slow-body?ms=…`, `/gzip-bomb?mb=…`, …: see the list at the top of `http_fixture.py`,
/// or `GET /`), so a test needs no scripting calls. The server counts connections and
/// requests (open, peak, total: per listener, overall and per `Host` header), read with
/// ``stats()`` / ``counter(_:)`` and zeroed with ``reset()``. Requests whose `Host` is
/// `NAME.crawl.test[:PORT]` are served from small generated sites for `spate crawl` tests
/// instead (CRAWL_ROUTES in `http_fixture.py`) and logged (``crawlLog()``).
///
/// The child is started with `--watch-stdin` and a pipe as its stdin: it exits when the pipe
/// closes, so it cannot outlive a test runner that crashes. ``stop()`` (also run on deinit)
/// ends it and removes its temporary directory.
final class HTTPFixture: Sendable {
    /// The fixture could not be started, or its control endpoint did not answer.
    struct FixtureError: Error, CustomStringConvertible {
        var message: String
        var description: String { "HTTPFixture: \(message)" }
    }

    /// What `/html-entities` has as its title once entities are decoded and whitespace
    /// collapsed (the raw title is spread over lines, with tabs and runs of spaces).
    static let htmlEntitiesTitle = "<b> Tom & Jerry's \u{263A}"

    /// Plain HTTP on 127.0.0.1.
    let port4: Int
    /// Plain HTTP on ::1; 0 when the machine has no IPv6 loopback (see ``hasIPv6``).
    let port6: Int
    /// HTTPS on 127.0.0.1; nil when `openssl` is missing or TLS was not asked for.
    let tlsPort: Int?
    /// HTTPS on ::1; nil as for ``tlsPort`` or without IPv6 loopback.
    let tlsPort6: Int?
    /// The PEM file of the CA that signed the server certificate (for `--cacert`).
    let caPath: String?
    /// The fixture's temporary directory (certificates, log); removed by ``stop()``.
    let directory: String

    private let child: Mutex<Child?>

    /// The running child process and the pipes that belong to it.
    private struct Child {
        var process: Process
        var stdin: Pipe
        var stdout: Pipe
    }

    var hasIPv6: Bool { port6 != 0 }
    /// The `Host` header (and key in `stats()["hosts"]`) of ``url(_:)`` requests.
    var host4: String { "127.0.0.1:\(port4)" }
    /// The `Host` header (and key in `stats()["hosts"]`) of ``url6(_:)`` requests.
    var host6: String { "[::1]:\(port6)" }

    /// Starts `python3 http_fixture.py` and waits (at most `readyTimeout` seconds) for the line
    /// saying which ports it got. `tls: false` skips the certificates (faster start).
    /// `verbose` (or the environment variable `SPATE_HTTP_FIXTURE_VERBOSE=1`) makes the server
    /// log each request to the test's stderr. The interpreter is `python3` from `PATH`, or
    /// `SPATE_TEST_PYTHON`. `scriptPath` replaces ``defaultScriptPath``.
    init(tls: Bool = true, verbose: Bool = false, readyTimeout: Double = 20, scriptPath: String? = nil) throws {
        let script = scriptPath ?? Self.defaultScriptPath
        guard FileManager.default.fileExists(atPath: script) else {
            throw FixtureError(message: "server script not found at \(script)")
        }
        let environment = ProcessInfo.processInfo.environment
        let verbose = verbose || environment["SPATE_HTTP_FIXTURE_VERBOSE"] == "1"
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("spate-http-fixture-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let logPath = directory + "/server.log"

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var arguments = [environment["SPATE_TEST_PYTHON"] ?? "python3", script, "--dir", directory, "--watch-stdin"]
        if !tls { arguments.append("--no-tls") }
        if verbose { arguments.append("--verbose") }
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        var logHandle: FileHandle? = nil
        if !verbose {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            logHandle = FileHandle(forWritingAtPath: logPath)
            process.standardError = logHandle
        }
        do {
            try process.run()
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw FixtureError(message: "cannot start \(arguments.joined(separator: " ")): \(error)")
        }
        try? logHandle?.close()

        let line = Self.readLine(stdout.fileHandleForReading.fileDescriptor, timeout: readyTimeout)
        let ready = line.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        guard let ready, let http4 = Self.int(ready["http4"]) else {
            Self.end(process, stdin: stdin)
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(atPath: directory)
            let got = line.map { String(decoding: $0, as: UTF8.self) } ?? "nothing"
            throw FixtureError(
                message: "no ready line within \(readyTimeout) s from \(arguments.joined(separator: " ")) "
                    + "(got \(got)); its stderr: \(log.isEmpty ? "(empty)" : log)")
        }
        self.port4 = http4
        self.port6 = Self.int(ready["http6"]) ?? 0
        self.tlsPort = Self.int(ready["https4"])
        self.tlsPort6 = Self.int(ready["https6"])
        self.caPath = ready["ca"] as? String
        self.directory = directory
        self.child = Mutex(Child(process: process, stdin: stdin, stdout: stdout))
    }

    deinit {
        stop()
    }

    /// `http_fixture.py` next to this source file. (`#filePath` here, in the body: as a default
    /// argument it would name the caller's file.)
    static var defaultScriptPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("http_fixture.py").path
    }

    /// `http://127.0.0.1:PORT` + `path`.
    func url(_ path: String) -> String {
        "http://127.0.0.1:\(port4)\(path)"
    }

    /// `http://[::1]:PORT` + `path`.
    func url6(_ path: String) -> String {
        "http://[::1]:\(port6)\(path)"
    }

    /// `https://host:PORT` + `path` (the 127.0.0.1 HTTPS port; the certificate is good for
    /// `localhost`, `127.0.0.1`, `[::1]` and `*.fixture.test`); nil without TLS.
    func tlsURL(_ path: String, host: String = "localhost") -> String? {
        guard let tlsPort else { return nil }
        return "https://\(host):\(tlsPort)\(path)"
    }

    /// `GET /__stats`: `total`, `listeners` (`http4`, `http6`, `https4`, `https6`) and `hosts`
    /// (by `Host` header), each with `connections_open`, `connections_peak`,
    /// `connections_total`, `requests_active`, `requests_peak`, `requests_total`; also
    /// `paths` (requests per path), `retry_keys` (requests per `/retry-after` key),
    /// `tls_handshake_failures` and `generation` (number of resets).
    func stats() throws -> [String: Any] {
        let body = try request("GET", "/__stats")
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw FixtureError(message: "/__stats did not return a JSON object")
        }
        return object
    }

    /// One number from ``stats()`` by its keys, e.g. `counter("total", "requests_peak")` or
    /// `counter("hosts", fixture.host4, "connections_total")`; 0 when absent (a host or
    /// path never seen).
    func counter(_ keys: String...) throws -> Int {
        var value: Any? = try stats()
        for key in keys {
            value = (value as? [String: Any])?[key]
        }
        return Self.int(value) ?? 0
    }

    /// `GET /__crawllog`: every request to a `*.crawl.test` host (the crawl sites of
    /// `http_fixture.py`) since the start or the last ``reset()``, in the order they started.
    /// Each is `seq`, `host` (without port), `path` (path and query as requested), `method`,
    /// `start` (monotonic milliseconds: the request was read), `end` (when the response's last
    /// write began, so before the client can have it; null while the request runs) and
    /// `status` (null while it runs).
    func crawlLog() throws -> [[String: Any]] {
        let body = try request("GET", "/__crawllog")
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
            let requests = object["requests"] as? [[String: Any]]
        else {
            throw FixtureError(message: "/__crawllog did not return {\"requests\": [...]}")
        }
        return requests
    }

    /// `POST /__reset`: zeroes every counter and clears the crawl log. Connections still open
    /// are counted again from their next request.
    func reset() throws {
        _ = try request("POST", "/__reset")
    }

    /// Ends the server (stdin closed, SIGTERM, then SIGKILL after 3 s) and removes its
    /// directory. Idempotent; also run on deinit.
    func stop() {
        let taken = child.withLock { state -> Bool in
            guard let running = state else { return false }
            Self.end(running.process, stdin: running.stdin)
            try? running.stdout.fileHandleForReading.close()
            state = nil
            return true
        }
        if taken {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    // MARK: - Helpers

    /// Closes the child's stdin (it exits on end of file), sends SIGTERM, and SIGKILL if it is
    /// still there after 3 s; waits (at most 2 s more) for it to be gone.
    private static func end(_ process: Process, stdin: Pipe) {
        try? stdin.fileHandleForWriting.close()
        guard process.isRunning else { return }
        process.terminate()
        if !waitForExit(process, seconds: 3) {
            kill(process.processIdentifier, SIGKILL)
            _ = waitForExit(process, seconds: 2)
        }
    }

    private static func waitForExit(_ process: Process, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning {
            if Date() >= deadline { return false }
            usleep(5_000)
        }
        return true
    }

    /// Reads from `fd` up to the first newline; nil on end of file or after `timeout` seconds
    /// without one.
    private static func readLine(_ fd: Int32, timeout: Double) -> Data? {
        let deadline = Date().addingTimeInterval(timeout)
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            if let newline = data.firstIndex(of: 0x0A) {
                return data.prefix(upTo: newline)
            }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return nil }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(left, 1) * 1000) + 1)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            data.append(contentsOf: buffer[0..<n])
        }
    }

    /// A JSON number as an Int (JSONSerialization gives NSNumber on Linux); nil otherwise.
    private static func int(_ value: Any?) -> Int? {
        if let number = value as? Int { return number }
        return (value as? NSNumber)?.intValue
    }

    /// A blocking HTTP/1.0 request to 127.0.0.1:`port4` on a plain socket (no Foundation
    /// networking); returns the body of a 200 response.
    private func request(_ method: String, _ path: String) throws -> Data {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw FixtureError(message: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        let size = socklen_t(MemoryLayout<timeval>.size)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, size)
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, size)

        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port4).bigEndian)
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            throw FixtureError(message: "connect to \(host4): \(String(cString: strerror(errno)))")
        }

        let head = "\(method) \(path) HTTP/1.0\r\nHost: \(host4)\r\nContent-Length: 0\r\n\r\n"
        let bytes = Array(head.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw FixtureError(message: "send \(path): \(String(cString: strerror(errno)))") }
            sent += n
        }

        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw FixtureError(message: "recv \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }

        guard let split = response.range(of: Data("\r\n\r\n".utf8)) else {
            throw FixtureError(message: "\(method) \(path): incomplete response (\(response.count) bytes)")
        }
        let statusLine = String(decoding: response[..<split.lowerBound], as: UTF8.self)
            .split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
        guard statusLine.hasPrefix("HTTP/1.1 200 ") || statusLine.hasPrefix("HTTP/1.0 200 ") else {
            throw FixtureError(message: "\(method) \(path): \(statusLine)")
        }
        return Data(response[split.upperBound...])
    }
}
