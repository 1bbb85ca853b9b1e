import Foundation
import Glibc
import Testing

/// HTTP/2 against nghttpd (Debian's nghttp2-server, installed by `scripts/test`): ALPN h2 over
/// TLS by default, h2c with prior knowledge under `--http2`, many streams on one host.
@Suite(.serialized) struct HTTP2Tests {
    /// nghttpd serving `count` small pages, over TLS (the HTTP fixture's certificate) or h2c.
    struct Server {
        let process: Process
        let port: Int
        let docroot: String

        init(tls: HTTPFixture?, count: Int) throws {
            let nghttpd = "/usr/sbin/nghttpd"
            guard FileManager.default.isExecutableFile(atPath: nghttpd) else {
                throw FetchTestSupport.ToolError(description: "\(nghttpd) missing: run scripts/test (it installs nghttp2-server)")
            }
            docroot = FileManager.default.temporaryDirectory.appendingPathComponent("spate-h2-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: docroot, withIntermediateDirectories: true)
            for i in 0..<count {
                try "<html><head><title>H2 page \(i)</title></head><body>\(String(repeating: "x", count: 100 + i))</body></html>"
                    .write(toFile: "\(docroot)/p\(i).html", atomically: true, encoding: .utf8)
            }
            port = try FetchTestSupport.closedPort()
            process = Process()
            process.executableURL = URL(fileURLWithPath: nghttpd)
            var args = ["--address=127.0.0.1", "-d", docroot]
            if let tls {
                args += ["\(port)", tls.directory + "/server.key", tls.directory + "/server.pem"]
            } else {
                args += ["--no-tls", "\(port)"]
            }
            process.arguments = args
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Wait until it accepts connections.
            for _ in 0..<100 {
                if Self.accepts(port) { return }
                usleep(50_000)
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw FetchTestSupport.ToolError(description: "nghttpd did not start on 127.0.0.1:\(port)")
        }

        static func accepts(_ port: Int) -> Bool {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            a.sin_addr.s_addr = inet_addr("127.0.0.1")
            return withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            } == 0
        }

        func stop() {
            // SIGKILL: a child started from a Swift concurrency thread inherits its blocked
            // SIGTERM, so terminate() would wait forever.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: docroot)
        }
    }

    @Test func alpnNegotiatesHTTP2OverTLSAndMultiplexes() async throws {
        let f = try FetchEndToEndTests.Fixtures(tls: true)
        defer { f.stop() }
        let ca = try #require(f.http.caPath, "no TLS fixture (openssl missing)")
        let server = try Server(tls: f.http, count: 40)
        defer { server.stop() }
        let lines = (0..<40).map { "https://localhost:\(server.port)/p\($0).html" }
        f.dns.set("localhost", .records([.a("127.0.0.1")]))
        let result = try await f.run(lines, ["--cacert", ca, "--per-host", "40", "-c", "40"])
        #expect(result.exited && result.status == 0, "\(FetchEndToEndTests.describe(result))")
        let map = try FetchEndToEndTests.byJob(try FetchEndToEndTests.records(result))
        #expect(map.count == 40)
        for (job, record) in map {
            let value = try #require(FetchEndToEndTests.value(record), "job \(job): \(record)")
            #expect(value["http_version"] as? String == "2", "job \(job): \(value)")
            #expect(value["status"] as? Int == 200)
            #expect(value["title"] as? String == "H2 page \(job)")
            #expect(value["bytes"] as? Int == "<html><head><title>H2 page \(job)</title></head><body></body></html>".utf8.count + 100 + job)
        }
    }

    /// One URL: with libcurl 7.88, a second request that reuses an h2c prior-knowledge
    /// connection to nghttpd fails with "Error in the HTTP2 framing layer" — the curl CLI
    /// does the same (`curl --http2-prior-knowledge URL1 URL2`) — so only the protocol
    /// choice is pinned here; multiplexing is pinned over TLS above.
    @Test func http2FlagUsesPriorKnowledgeForCleartext() async throws {
        let f = try FetchEndToEndTests.Fixtures()
        defer { f.stop() }
        let server = try Server(tls: nil, count: 1)
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.port)/p0.html"
        let h2 = try await f.run([url], ["--http2"])
        #expect(h2.exited && h2.status == 0, "\(FetchEndToEndTests.describe(h2))")
        let record = try #require(try FetchEndToEndTests.records(h2).first)
        #expect(FetchEndToEndTests.value(record)?["http_version"] as? String == "2", "\(record)")
        #expect(FetchEndToEndTests.value(record)?["title"] as? String == "H2 page 0")
        // Without --http2, cleartext stays HTTP/1.1, which nghttpd does not speak: the
        // transfer fails rather than silently using another protocol.
        let h1 = try await f.run([url], ["--http1.1"])
        let r = try #require(try FetchEndToEndTests.records(h1).first)
        #expect(r["successful"] as? Bool == false, "\(r)")
    }
}

/// Many jobs for one host arriving while its first lookup is in flight: they must all wait
/// for that one lookup (regression: a waiter that registered after the lookup finished
/// crashed on a missing pending entry), and per-host slots freed in between are taken.
@Suite(.serialized) struct SharedLookupTests {
    @Test(arguments: [0, 150])
    func hundredsOfJobsShareOneLookup(delay: Int) async throws {
        let f = try FetchEndToEndTests.Fixtures()
        defer { f.stop() }
        let records: [DNSFixture.RR] = [.a("127.0.0.1", ttl: 60)]
        f.dns.set("shared.fixture.test", delay > 0 ? .delay(milliseconds: delay, .records(records)) : .records(records))
        let lines = (0..<300).map { "http://shared.fixture.test:\(f.http.port4)/status/\($0 % 2 == 0 ? 200 : 204)" }
        let result = try await f.run(lines, ["-c", "300", "--per-host", "7"])
        #expect(result.exited && result.status == 0, "\(FetchEndToEndTests.describe(result))")
        let map = try FetchEndToEndTests.byJob(try FetchEndToEndTests.records(result))
        #expect(Set(map.keys) == Set(0..<300))
        #expect(map.values.allSatisfy { $0["successful"] as? Bool == true })
        #expect(f.dns.queries(for: "shared.fixture.test").filter { $0.type == 1 }.count == 1)
    }
}
