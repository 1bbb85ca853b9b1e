import Foundation
import Testing
@testable import Spate

/// The documented record contract (README, docs/resolve.schema.json) against what the
/// binary writes: every field a record carries is in the schema, the required ones are
/// always there, and the exception types are exactly the documented closed list.
@Suite(.serialized) struct RecordContractTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func schema() throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent("docs/resolve.schema.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func exceptionTypesAreTheDocumentedClosedList() throws {
        let schema = try Self.schema()
        let defs = try #require(schema["$defs"] as? [String: Any])
        let type = try #require(defs["exceptionType"] as? [String: Any])
        let documented = Set(try #require(type["enum"] as? [String]))
        #expect(documented == Set(DNSError.Code.allCases.map(\.rawValue)))
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        for code in DNSError.Code.allCases {
            #expect(readme.contains("| `\(code.rawValue)` |"), "README does not document \(code.rawValue)")
        }
    }

    @Test func everyRecordShapeUsesOnlySchemaFields() async throws {
        let schema = try Self.schema()
        let properties = Set(try #require(schema["properties"] as? [String: Any]).keys)
        let required = try #require(schema["required"] as? [String])

        let dns = try DNSFixture()
        defer { dns.stop() }
        dns.set("ok.contract.test", .records([.a("192.0.2.1"), .mx(5, "mx.contract.test"), .txt(["t"])]))
        dns.set("slow.contract.test", .drop)
        let a = try TempFile(lines: ["ok.contract.test", "nx.contract.test", "bad!name", String(repeating: "x", count: 70_000),
                                     "192.0.2.1", "slow.contract.test"], name: "contract-a")
        let b = try TempFile(lines: ["ok.contract.test", "slow.contract.test", "ok.contract.test"], name: "contract-b")
        defer { a.remove(); b.remove() }

        var all: [[String: Any]] = []
        // Default mode, two files (file/line), a join timeout (running and never-started jobs).
        let plain = try await runSpate(["resolve", "--resolver", dns.address, "--no-hosts-file", "--dns-timeout", "5",
                                        "-c", "1", "--timeout", "0.5", a.path, b.path])
        all += try EndToEndTests.records(plain)
        // Typed mode, with a job timeout.
        let typed = try await runSpate(["resolve", "--resolver", dns.address, "--type", "A,MX,TXT", "--dns-timeout", "5",
                                        "--job-timeout", "0.3", a.path])
        all += try EndToEndTests.records(typed)
        #expect(all.count == 9 + 6)

        var seenShapes = Set<String>()
        for record in all {
            let keys = Set(record.keys)
            #expect(keys.isSubset(of: properties), "fields outside the schema: \(keys.subtracting(properties)) in \(record)")
            for key in required { #expect(record[key] != nil, "missing \(key) in \(record)") }
            let ready = record["ready"] as? Bool ?? false
            if ready {
                #expect(record["elapsed_ms"] is NSNumber, "\(record)")
                #expect((record["value"] is NSNull) != (record["exception"] is NSNull), "exactly one of value/exception: \(record)")
            } else {
                #expect(record["value"] is NSNull && record["exception"] is NSNull && record["reason"] is String, "\(record)")
            }
            if let e = record["exception"] as? [String: Any] {
                #expect(DNSError.Code(rawValue: e["type"] as? String ?? "") != nil, "undocumented type in \(record)")
                #expect((e["message"] as? String)?.isEmpty == false)
                seenShapes.insert(e["type"] as! String)
            }
            if record["input_bytes"] != nil { seenShapes.insert("input_bytes") }
            if record["file"] != nil { seenShapes.insert("file") }
            if !ready { seenShapes.insert((record["started"] as? Bool ?? false) ? "running" : "not_started") }
        }
        // The runs above really produced each shape the contract describes.
        for shape in ["nxdomain", "invalid_input", "job_timeout", "input_bytes", "file", "running", "not_started"] {
            #expect(seenShapes.contains(shape), "no record of shape \(shape)")
        }
    }
}

@Suite struct FetchContractTests {
    @Test func fetchExceptionTypesAreTheDocumentedClosedList() throws {
        let data = try Data(contentsOf: RecordContractTests.root.appendingPathComponent("docs/fetch.schema.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let defs = try #require(schema["$defs"] as? [String: Any])
        let type = try #require(defs["exceptionType"] as? [String: Any])
        #expect(Set(try #require(type["enum"] as? [String])) == Set(FetchError.Code.allCases.map(\.rawValue)))
        let readme = try String(contentsOf: RecordContractTests.root.appendingPathComponent("README.md"), encoding: .utf8)
        for code in FetchError.Code.allCases {
            #expect(readme.contains("`\(code.rawValue)`"), "README does not document \(code.rawValue)")
        }
    }

    @Test func fetchValueFieldsAreTheSchemaFields() throws {
        let data = try Data(contentsOf: RecordContractTests.root.appendingPathComponent("docs/fetch.schema.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let defs = try #require(schema["$defs"] as? [String: Any])
        let value = try #require(defs["value"] as? [String: Any])
        let properties = Set(try #require(value["properties"] as? [String: Any]).keys)
        let required = Set(try #require(value["required"] as? [String]))
        // Every field the spec promises is required, and the optional ones are exactly these.
        #expect(properties.subtracting(required) == ["headers", "saved", "warc"])
        for field in ["url", "final_url", "status", "http_version", "ip", "port", "redirects", "content_type",
                      "content_length", "bytes", "title", "body_sha256", "timings"] {
            #expect(required.contains(field), "\(field) missing from the fetch schema")
        }
    }
}
