/// A value a record writes as its `value` member, straight into the record's buffer.
public protocol RecordValue: Sendable {
    func write(to w: inout JSONWriter)
}

/// A completed transfer's `value` (any status; docs/fetch.schema.json), kept as
/// typed fields and written straight into the record: no `JSONValue` tree is built per
/// fetch (an array of fields, the timings object, an enum per field, and its
/// destruction), and the crawler writes its own fields into the same object.
public final class FetchValue: RecordValue {
    public let url: String
    public let finalURL: String
    public let status: Int
    public let httpVersion: String
    public let ip: String
    public let port: Int
    /// Each hop spate followed: url, status, location.
    public let redirects: [JSONValue]
    public let contentType: String?
    /// The `Content-Length` header, when it is a number.
    public let contentLength: Int?
    public let bytes: Int
    public let title: String?
    public let bodySHA256: String
    /// Milliseconds, curl's semantics (dns is spate's own lookup).
    public let dns, connect, tls, ttfb, total: Double
    public let attempts: Int
    /// Present with `--headers`.
    public let headers: [(String, String)]?
    public let saved: String?
    public let warc: JSONValue?

    init(url: String, finalURL: String, status: Int, httpVersion: String, ip: String, port: Int, redirects: [JSONValue],
         contentType: String?, contentLength: Int?, bytes: Int, title: String?, bodySHA256: String,
         dns: Double, connect: Double, tls: Double, ttfb: Double, total: Double, attempts: Int,
         headers: [(String, String)]?, saved: String?, warc: JSONValue?) {
        self.url = url
        self.finalURL = finalURL
        self.status = status
        self.httpVersion = httpVersion
        self.ip = ip
        self.port = port
        self.redirects = redirects
        self.contentType = contentType
        self.contentLength = contentLength
        self.bytes = bytes
        self.title = title
        self.bodySHA256 = bodySHA256
        self.dns = dns
        self.connect = connect
        self.tls = tls
        self.ttfb = ttfb
        self.total = total
        self.attempts = attempts
        self.headers = headers
        self.saved = saved
        self.warc = warc
    }

    public func write(to w: inout JSONWriter) { write(to: &w, extraAttempts: 0, title: nil, extra: []) }

    /// The object, with the crawler's changes: tries it re-queued added to `attempts`,
    /// the link extractor's `title` in place of the fetch's, and its fields at the end
    /// (`extra`, then what `more` writes: each field with its leading comma).
    func write(to w: inout JSONWriter, extraAttempts: Int, title override: JSONValue?, extra: [(String, JSONValue)],
               more: (inout JSONWriter) -> Void = { _ in }) {
        w.raw("{\"url\":"); w.string(url)
        w.raw(",\"final_url\":"); w.string(finalURL)
        w.raw(",\"status\":"); w.int(status)
        w.raw(",\"http_version\":"); w.string(httpVersion)
        w.raw(",\"ip\":"); w.string(ip)
        w.raw(",\"port\":"); w.int(port)
        w.raw(",\"redirects\":"); JSONValue.array(redirects).write(to: &w)
        w.raw(",\"content_type\":"); if let contentType { w.string(contentType) } else { w.raw("null") }
        w.raw(",\"content_length\":"); if let contentLength { w.int(contentLength) } else { w.raw("null") }
        w.raw(",\"bytes\":"); w.int(bytes)
        w.raw(",\"title\":")
        if let override { override.write(to: &w) } else if let title { w.string(title) } else { w.raw("null") }
        w.raw(",\"body_sha256\":"); w.string(bodySHA256)
        w.raw(",\"timings\":{\"dns\":"); w.double(dns)
        w.raw(",\"connect\":"); w.double(connect)
        w.raw(",\"tls\":"); w.double(tls)
        w.raw(",\"ttfb\":"); w.double(ttfb)
        w.raw(",\"total\":"); w.double(total)
        w.raw("},\"attempts\":"); w.int(attempts + extraAttempts)
        if let headers {
            w.raw(",\"headers\":[")
            for (i, (name, value)) in headers.enumerated() {
                if i > 0 { w.byte(UInt8(ascii: ",")) }
                w.byte(UInt8(ascii: "[")); w.string(name); w.byte(UInt8(ascii: ",")); w.string(value); w.byte(UInt8(ascii: "]"))
            }
            w.byte(UInt8(ascii: "]"))
        }
        if let saved { w.raw(",\"saved\":"); w.string(saved) }
        if let warc { w.raw(",\"warc\":"); warc.write(to: &w) }
        for (k, v) in extra {
            w.byte(UInt8(ascii: ",")); w.key(k); v.write(to: &w)
        }
        more(&w)
        w.byte(UInt8(ascii: "}"))
    }
}
