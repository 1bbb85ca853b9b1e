import Foundation
import Testing
@testable import Spate

/// A fetch's value is written straight into the record (``FetchValue/write(to:)``), not
/// through a `JSONValue` tree: the bytes must be those of the tree (``FetchValue/json``),
/// which the record schema and the field tests check.
@Suite struct FetchValueTests {
    static func value(optionals: Bool, quirky: Bool) -> FetchValue {
        let text = quirky ? "tab\t\"quote\" back\\slash é 🙂 \u{01}" : "Page 000001"
        return FetchValue(
            url: "http://127.0.0.1:8080/p/000001.html" + (quirky ? "?q=\"x\"" : ""),
            finalURL: "http://127.0.0.1:8080/p/000002.html",
            status: quirky ? 404 : 200, httpVersion: quirky ? "2" : "1.1", ip: quirky ? "::1" : "127.0.0.1", port: 8080,
            redirects: optionals ? [.object([("url", .string("http://a.test/")), ("status", .int(301)),
                                             ("location", .string("/p/000002.html"))])] : [],
            contentType: optionals ? "text/html; charset=utf-8" : nil, contentLength: optionals ? 1838 : nil,
            bytes: quirky ? 0 : 1838, title: optionals ? text : nil,
            bodySHA256: "b56f62c56a4fc65c414d9423667fbab201a8ec0ae02d8aee09e23f95bd5fd4b8",
            dns: 0.012, connect: quirky ? .nan : 0.5, tls: 0, ttfb: 1.25, total: 123_456.789, attempts: quirky ? 3 : 1,
            headers: optionals ? [("Content-Type", "text/html"), ("X-Odd", text)] : nil,
            saved: optionals ? "bodies/1-abc.body" : nil,
            warc: optionals ? .object([("file", .string("a.warc.gz")), ("offset", .int(0)), ("length", .int(99))]) : nil)
    }

    static func written(_ body: (inout JSONWriter) -> Void) -> String {
        var w = JSONWriter()
        body(&w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    @Test(arguments: [false, true], [false, true])
    func writtenLikeItsTree(optionals: Bool, quirky: Bool) throws {
        let v = Self.value(optionals: optionals, quirky: quirky)
        let direct = Self.written { v.write(to: &$0) }
        #expect(direct == Self.written { v.json.write(to: &$0) })
        // And it is JSON.
        #expect((try? JSONSerialization.jsonObject(with: Data(direct.utf8))) is [String: Any], "\(direct)")
    }

    /// The crawler's changes: tries it re-queued added to `attempts`, its title in place
    /// of the fetch's, its fields appended — as if applied to the tree.
    @Test(arguments: [false, true])
    func writtenWithTheCrawlersChanges(optionals: Bool) throws {
        let v = Self.value(optionals: optionals, quirky: false)
        let extra: [(String, JSONValue)] = [("depth", .int(2)), ("outlinks", .object([("total", .int(7))]))]
        let direct = Self.written { v.write(to: &$0, extraAttempts: 2, title: .string("Other"), extra: extra) }
        guard case var .object(fields) = v.json else { Issue.record("not an object"); return }
        for i in fields.indices {
            if fields[i].0 == "attempts" { fields[i].1 = .int(v.attempts + 2) }
            if fields[i].0 == "title" { fields[i].1 = .string("Other") }
        }
        #expect(direct == Self.written { JSONValue.object(fields + extra).write(to: &$0) })
        let untouched = Self.written { v.write(to: &$0, extraAttempts: 0, title: nil, extra: []) }
        #expect(untouched == Self.written { v.json.write(to: &$0) })
    }
}

extension FetchValue {
    /// The record's `value` as a tree, field by field as docs/fetch.schema.json lists them:
    /// the reference the direct writer is checked against, and what the fetch tests read.
    var json: JSONValue {
        var fields: [(String, JSONValue)] = [
            ("url", .string(url)),
            ("final_url", .string(finalURL)),
            ("status", .int(status)),
            ("http_version", .string(httpVersion)),
            ("ip", .string(ip)),
            ("port", .int(port)),
            ("redirects", .array(redirects)),
            ("content_type", contentType.map { .string($0) } ?? .null),
            ("content_length", contentLength.map { .int($0) } ?? .null),
            ("bytes", .int(bytes)),
            ("title", title.map { .string($0) } ?? .null),
            ("body_sha256", .string(bodySHA256)),
            ("timings", .object([("dns", .double(dns)), ("connect", .double(connect)), ("tls", .double(tls)),
                                 ("ttfb", .double(ttfb)), ("total", .double(total))])),
            ("attempts", .int(attempts)),
        ]
        if let headers { fields.append(("headers", .array(headers.map { .array([.string($0.0), .string($0.1)]) }))) }
        if let saved { fields.append(("saved", .string(saved))) }
        if let warc { fields.append(("warc", warc)) }
        return .object(fields)
    }
}
