import Testing
@testable import Spate

/// `CrawlURL`: the WHATWG URL parser for http(s), relative resolution and the canonical
/// (dedupe) key, rules version 1.
@Suite struct CrawlURLTests {
    enum Expected: Sendable {
        case href(String)
        case invalid
        case scheme(String)
    }

    /// One parsing case: input, base (nil for none) and the expected outcome.
    struct C: Sendable, CustomTestStringConvertible {
        let input: String
        let base: String?
        let expected: Expected
        init(_ input: String, _ base: String?, _ expected: Expected) {
            self.input = input
            self.base = base
            self.expected = expected
        }
        var testDescription: String { "\(input.debugDescription) against \(base ?? "no base")" }
    }

    static let rfc = "http://a/b/c/d;p?q"

    /// Cases from the URL Standard, web-platform-tests' urltestdata and RFC 3986 §5.4 that
    /// apply to http(s). Expected values are WHATWG serializations (href).
    static let whatwgCases: [C] = [
        // RFC 3986 §5.4.1 normal examples (base http://a/b/c/d;p?q); "g:h" is not http(s).
        C("g:h", rfc, .scheme("g")),
        C("g", rfc, .href("http://a/b/c/g")),
        C("./g", rfc, .href("http://a/b/c/g")),
        C("g/", rfc, .href("http://a/b/c/g/")),
        C("/g", rfc, .href("http://a/g")),
        C("//g", rfc, .href("http://g/")),
        C("?y", rfc, .href("http://a/b/c/d;p?y")),
        C("g?y", rfc, .href("http://a/b/c/g?y")),
        C("#s", rfc, .href("http://a/b/c/d;p?q#s")),
        C("g#s", rfc, .href("http://a/b/c/g#s")),
        C("g?y#s", rfc, .href("http://a/b/c/g?y#s")),
        C(";x", rfc, .href("http://a/b/c/;x")),
        C("g;x", rfc, .href("http://a/b/c/g;x")),
        C("g;x?y#s", rfc, .href("http://a/b/c/g;x?y#s")),
        C("", rfc, .href("http://a/b/c/d;p?q")),
        C(".", rfc, .href("http://a/b/c/")),
        C("./", rfc, .href("http://a/b/c/")),
        C("..", rfc, .href("http://a/b/")),
        C("../", rfc, .href("http://a/b/")),
        C("../g", rfc, .href("http://a/b/g")),
        C("../..", rfc, .href("http://a/")),
        C("../../", rfc, .href("http://a/")),
        C("../../g", rfc, .href("http://a/g")),
        // RFC 3986 §5.4.2 abnormal examples.
        C("../../../g", rfc, .href("http://a/g")),
        C("../../../../g", rfc, .href("http://a/g")),
        C("/./g", rfc, .href("http://a/g")),
        C("/../g", rfc, .href("http://a/g")),
        C("g.", rfc, .href("http://a/b/c/g.")),
        C(".g", rfc, .href("http://a/b/c/.g")),
        C("g..", rfc, .href("http://a/b/c/g..")),
        C("..g", rfc, .href("http://a/b/c/..g")),
        C("./../g", rfc, .href("http://a/b/g")),
        C("./g/.", rfc, .href("http://a/b/c/g/")),
        C("g/./h", rfc, .href("http://a/b/c/g/h")),
        C("g/../h", rfc, .href("http://a/b/c/h")),
        C("g;x=1/./y", rfc, .href("http://a/b/c/g;x=1/y")),
        C("g;x=1/../y", rfc, .href("http://a/b/c/y")),
        C("g?y/./x", rfc, .href("http://a/b/c/g?y/./x")),
        C("g?y/../x", rfc, .href("http://a/b/c/g?y/../x")),
        C("g#s/./x", rfc, .href("http://a/b/c/g#s/./x")),
        C("g#s/../x", rfc, .href("http://a/b/c/g#s/../x")),
        C("http:g", rfc, .href("http://a/b/c/g")),
        // Scheme case, protocol-relative, backslashes, special-relative "http:foo".
        C("HTTP://EXAMPLE.com", nil, .href("http://example.com/")),
        C("HtTpS://ExAmPlE.CoM/PaTh", nil, .href("https://example.com/PaTh")),
        C("//example.com/x", "https://a.org/b", .href("https://example.com/x")),
        C("\\\\example.com\\x\\y", "http://example.org/foo/bar", .href("http://example.com/x/y")),
        C("/\\example.com/", "http://example.org/foo/bar", .href("http://example.com/")),
        C("\\x\\..\\y", "http://example.org/foo/bar", .href("http://example.org/y")),
        C("http:\\\\example.com\\a\\b", nil, .href("http://example.com/a/b")),
        C("http:/example.com/", nil, .href("http://example.com/")),
        C("http:///example.com/", nil, .href("http://example.com/")),
        C("http:/example.com/", "http://example.org/foo/bar", .href("http://example.org/example.com/")),
        C("http:example.com/", "http://example.org/foo/bar", .href("http://example.org/foo/example.com/")),
        C("https:example.com/", "http://example.org/foo/bar", .href("https://example.com/")),
        C("http:", "http://example.org/foo/bar", .href("http://example.org/foo/bar")),
        C("http::@c:29", "http://example.org/foo/bar", .href("http://example.org/foo/:@c:29")),
        C("http://user:pass@foo:21/bar;par?b#c", "http://example.org/foo/bar", .href("http://user:pass@foo:21/bar;par?b#c")),
        // C0/space trimming, tab and newline removal.
        C("  http://example.com/  ", nil, .href("http://example.com/")),
        C("\u{0}\u{1F} http://example.com/ \u{1}", nil, .href("http://example.com/")),
        C("ht\ttp://ex\nample.com/pa\rth?q\tq#f\nf", nil, .href("http://example.com/path?qq#ff")),
        C("\t\n../x", "http://example.org/foo/bar", .href("http://example.org/x")),
        // Dot segments, plain and percent-encoded.
        C("http://example.com/a/%2e/b", nil, .href("http://example.com/a/b")),
        C("http://example.com/a/%2E%2e/b", nil, .href("http://example.com/b")),
        C("http://example.com/a/.%2e/b", nil, .href("http://example.com/b")),
        C("http://example.com/a/%2e./b", nil, .href("http://example.com/b")),
        C("http://example.com/a/b/..", nil, .href("http://example.com/a/")),
        C("http://example.com/a/b/.", nil, .href("http://example.com/a/b/")),
        C("http://example.com/a/.../b", nil, .href("http://example.com/a/.../b")),
        C("http://example.com/a/..%2f/b", nil, .href("http://example.com/a/..%2f/b")),
        C("http://example.com/.//", nil, .href("http://example.com//")),
        // IPv4: hex, octal, short and 32-bit forms; hosts ending in a number.
        C("http://0x7f.1/", nil, .href("http://127.0.0.1/")),
        C("http://2130706433/", nil, .href("http://127.0.0.1/")),
        C("http://0177.0.0.1/", nil, .href("http://127.0.0.1/")),
        C("http://127.1/", nil, .href("http://127.0.0.1/")),
        C("http://127.0.1/", nil, .href("http://127.0.0.1/")),
        C("http://1.2.3.4./", nil, .href("http://1.2.3.4/")),
        C("http://0x/", nil, .href("http://0.0.0.0/")),
        C("http://4294967295/", nil, .href("http://255.255.255.255/")),
        C("http://4294967296/", nil, .invalid),
        C("http://1.2.3.256/", nil, .invalid),
        C("http://256.1.1.1/", nil, .invalid),
        C("http://1.2.3.4.5/", nil, .invalid),
        C("http://1.2.3.08/", nil, .invalid),
        C("http://foo.09/", nil, .invalid),
        C("http://foo.0x4/", nil, .invalid),
        C("http://1.2.3.09.example/", nil, .href("http://1.2.3.09.example/")),
        C("http://0x7f.0x0.0x0.0x1/", nil, .href("http://127.0.0.1/")),
        C("http://%31%32%37.0.0.1/", nil, .href("http://127.0.0.1/")),
        // IPv6 parsing and compression.
        C("http://[0:0::1]/", nil, .href("http://[::1]/")),
        C("http://[::]/", nil, .href("http://[::]/")),
        C("http://[1:0:0:2::3:0]/", nil, .href("http://[1::2:0:0:3:0]/")),
        C("http://[1:0:0:0:1:0:0:0]/", nil, .href("http://[1::1:0:0:0]/")),
        C("http://[::ffff:192.168.0.1]/", nil, .href("http://[::ffff:c0a8:1]/")),
        C("http://[0:0:0:0:0:0:13.1.68.3]/", nil, .href("http://[::d01:4403]/")),
        C("http://[FEDC:BA98:7654:3210:FEDC:BA98:7654:3210]:8080/", nil, .href("http://[fedc:ba98:7654:3210:fedc:ba98:7654:3210]:8080/")),
        C("http://[1:2:3:4:5:6:7:8:9]/", nil, .invalid),
        C("http://[1::2::3]/", nil, .invalid),
        C("http://[::1.2.3.]/", nil, .invalid),
        C("http://[::1.2.3.4x]/", nil, .invalid),
        C("http://[::1/", nil, .invalid),
        C("http://[::1]x/", nil, .invalid),
        C("http://[::1.02.3.4]/", nil, .invalid),
        C("http://[:1]/", nil, .invalid),
        // Ports.
        C("http://example.com:80/", nil, .href("http://example.com/")),
        C("https://example.com:443/", nil, .href("https://example.com/")),
        C("http://example.com:443/", nil, .href("http://example.com:443/")),
        C("https://example.com:80/", nil, .href("https://example.com:80/")),
        C("http://example.com:0080/", nil, .href("http://example.com/")),
        C("http://example.com:65535/", nil, .href("http://example.com:65535/")),
        C("http://example.com:65536/", nil, .invalid),
        C("http://example.com:8o/", nil, .invalid),
        C("http://example.com:-1/", nil, .invalid),
        C("http://example.com:/", nil, .href("http://example.com/")),
        C("http://example.com:99999999999999999999/", nil, .invalid),
        // Empty and missing hosts.
        C("http://", nil, .invalid),
        C("http:///", nil, .invalid),
        C("http://@/", nil, .invalid),
        C("http://user@/", nil, .invalid),
        C("http://:80/", nil, .invalid),
        C("http://?x", nil, .invalid),
        C("http://#x", nil, .invalid),
        C("//", "http://example.org/foo/bar", .invalid),
        C("http:/", nil, .invalid),
        // Forbidden host code points (also after percent-decoding).
        C("http://a b/", nil, .invalid),
        C("http://a%20b/", nil, .invalid),
        C("http://a<b/", nil, .invalid),
        C("http://a^b/", nil, .invalid),
        C("http://a|b/", nil, .invalid),
        C("http://a%25b/", nil, .invalid),
        C("http://%41.COM/", nil, .href("http://a.com/")),
        C("http://a%2Fb/", nil, .invalid),
        C("http://ex%00ample/", nil, .invalid),
        // IDNA.
        C("http://bücher.example/", nil, .href("http://xn--bcher-kva.example/")),
        C("http://BÜCHER.example/", nil, .href("http://xn--bcher-kva.example/")),
        C("http://xn--bcher-kva.example/", nil, .href("http://xn--bcher-kva.example/")),
        C("http://☃.net/", nil, .href("http://xn--n3h.net/")),
        C("http://%E2%98%83.net/", nil, .href("http://xn--n3h.net/")),
        C("http://ＧＯＯ.com/", nil, .href("http://goo.com/")),
        C("http://１２７.０.０.１/", nil, .href("http://127.0.0.1/")),
        C("http://a。b．c/", nil, .href("http://a.b.c/")),
        C("http://a\u{AD}b/", nil, .href("http://ab/")),
        C("http://\u{AD}/", nil, .invalid),
        C("http://%ef%bf%bd/", nil, .invalid),
        C("http://ex\u{A0}ample/", nil, .invalid),
        C("http://xn--/", nil, .invalid),
        C("http://xn--a.com/", nil, .invalid),
        C("http://xn--ls8h.la/", nil, .href("http://xn--ls8h.la/")),
        C("http://日本語.jp/", nil, .href("http://xn--wgv71a119e.jp/")),
        // Percent-encoding of path, query and fragment.
        C("http://example.com/a b/c", nil, .href("http://example.com/a%20b/c")),
        C("http://example.com/ä/ö", nil, .href("http://example.com/%C3%A4/%C3%B6")),
        C("http://example.com/?a b&c=ä", nil, .href("http://example.com/?a%20b&c=%C3%A4")),
        C("http://example.com/#a b ä", nil, .href("http://example.com/#a%20b%20%C3%A4")),
        C("http://example.com/\"<>`{}", nil, .href("http://example.com/%22%3C%3E%60%7B%7D")),
        C("http://example.com/?\"'<>`{}", nil, .href("http://example.com/?%22%27%3C%3E`{}")),
        C("http://example.com/#\"'<>`{}#", nil, .href("http://example.com/#%22'%3C%3E%60{}#")),
        C("http://example.com/a^b|c", nil, .href("http://example.com/a%5Eb|c")),  // ^ in the path set since 2024
        C("http://example.com/%zz/%4", nil, .href("http://example.com/%zz/%4")),
        C("http://example.com/%7e%7E", nil, .href("http://example.com/%7e%7E")),
        C("http://example.com/\u{1}\u{7F}", nil, .href("http://example.com/%01%7F")),
        C("http://example.com/?", nil, .href("http://example.com/?")),
        C("http://example.com/#", nil, .href("http://example.com/#")),
        C("http://example.com?q", nil, .href("http://example.com/?q")),
        C("http://example.com#f", nil, .href("http://example.com/#f")),
        C("http://example.com/?a?b#c#d", nil, .href("http://example.com/?a?b#c#d")),
        // Userinfo.
        C("http://user:pass@example.com/", nil, .href("http://user:pass@example.com/")),
        C("http://user@example.com/", nil, .href("http://user@example.com/")),
        C("http://user:@example.com/", nil, .href("http://user@example.com/")),
        C("http://:pass@example.com/", nil, .href("http://:pass@example.com/")),
        C("http://:@example.com/", nil, .href("http://example.com/")),
        C("http://@example.com/", nil, .href("http://example.com/")),
        C("http://us er:pa ss@example.com/", nil, .href("http://us%20er:pa%20ss@example.com/")),
        C("http://a@b@example.com/", nil, .href("http://a%40b@example.com/")),
        C("http://a:b:c@example.com/", nil, .href("http://a:b%3Ac@example.com/")),
        C("http://ü:ö@example.com/", nil, .href("http://%C3%BC:%C3%B6@example.com/")),
        C("http://user:p/ss@example.com/", nil, .invalid),
        // Other schemes; relative input without a base.
        C("mailto:someone@example.com", nil, .scheme("mailto")),
        C("javascript:alert(1)", "http://example.org/foo/bar", .scheme("javascript")),
        C("data:text/html,hi", "http://example.org/foo/bar", .scheme("data")),
        C("ftp://example.com/", nil, .scheme("ftp")),
        C("file:///etc/passwd", nil, .scheme("file")),
        C("FILE:///etc/passwd", "http://example.org/foo/bar", .scheme("file")),
        C("ws://example.com/", "http://example.org/foo/bar", .scheme("ws")),
        C("c:\\foo", "http://example.org/foo/bar", .scheme("c")),
        C("x", nil, .invalid),
        C("/x", nil, .invalid),
        C("//x/", nil, .invalid),
    ]

    static func parse(_ input: String, base: String? = nil) -> Result<CrawlURL, CrawlURL.Failure> {
        var baseURL: CrawlURL?
        if let base {
            guard case .success(let b) = CrawlURL.parse(base) else {
                Issue.record("base \(base) does not parse")
                return .failure(.invalid("base"))
            }
            baseURL = b
        }
        return CrawlURL.parse(input, base: baseURL)
    }

    static func url(_ input: String, base: String? = nil) throws -> CrawlURL {
        try parse(input, base: base).get()
    }

    @Test("WHATWG / urltestdata / RFC 3986 cases", arguments: whatwgCases)
    func whatwg(_ c: C) throws {
        let result = Self.parse(c.input, base: c.base)
        switch (c.expected, result) {
        case (.href(let href), .success(let url)):
            #expect(url.href == href)
            // A serialized URL parses to itself (URL Standard idempotence).
            #expect(try Self.url(url.href).href == href)
        case (.invalid, .failure(.invalid)):
            break
        case (.scheme(let scheme), .failure(.unsupportedScheme(let got))):
            #expect(got == scheme)
        default:
            Issue.record("expected \(c.expected), got \(result)")
        }
    }

    @Test func caseTableIsLargeEnough() {
        #expect(Self.whatwgCases.count >= 60)
    }

    @Test func componentsOfAFullURL() throws {
        let u = try Self.url("HTTPS://us%20er:pa%3Ass@WWW.Example.COM:8443/a/./b/../c d?x=1&y=ä#frag ment")
        #expect(u.scheme == "https")
        #expect(u.username == "us%20er")
        #expect(u.password == "pa%3Ass")
        #expect(u.host == "www.example.com")
        #expect(u.port == 8443)
        #expect(u.effectivePort == 8443)
        #expect(u.path == "/a/c%20d")
        #expect(u.query == "x=1&y=%C3%A4")
        #expect(u.fragment == "frag%20ment")
        #expect(u.href == "https://us%20er:pa%3Ass@www.example.com:8443/a/c%20d?x=1&y=%C3%A4#frag%20ment")
        #expect(u.requestURL == "https://us%20er:pa%3Ass@www.example.com:8443/a/c%20d?x=1&y=%C3%A4")
        #expect(u.display == "https://www.example.com:8443/a/c%20d?x=1&y=%C3%A4")
        #expect(u.description == u.display)
        #expect(u.pathAndQuery == "/a/c%20d?x=1&y=%C3%A4")
        #expect(u.hostForConnect == "www.example.com")
        #expect(u.origin == "https://www.example.com:8443")
    }

    @Test func componentsWithDefaultsAndEmptyParts() throws {
        let u = try Self.url("https://example.org")
        #expect(u.href == "https://example.org/")
        #expect(u.port == nil)
        #expect(u.effectivePort == 443)
        #expect(u.origin == "https://example.org:443")
        #expect(u.path == "/")
        #expect(u.query == nil)
        #expect(u.fragment == nil)
        #expect(u.username == "")
        #expect(u.password == "")
        #expect(u.pathAndQuery == "/")

        let empty = try Self.url("http://example.org:80/p?#")
        #expect(empty.port == nil)
        #expect(empty.effectivePort == 80)
        #expect(empty.query == "")
        #expect(empty.fragment == "")
        #expect(empty.href == "http://example.org/p?#")
        #expect(empty.display == "http://example.org/p?")
        #expect(empty.pathAndQuery == "/p?")
        #expect(empty.origin == "http://example.org:80")
    }

    @Test func userinfoIsKeptInHrefButNotInDisplay() throws {
        let u = try Self.url("http://user:secret@example.com/x#f")
        #expect(u.href == "http://user:secret@example.com/x#f")
        #expect(u.requestURL == "http://user:secret@example.com/x")
        #expect(u.display == "http://example.com/x")
        #expect(u.canonical() == "http://example.com/x")
        #expect(u.origin == "http://example.com:80")

        let passwordOnly = try Self.url("http://:pw@example.com/")
        #expect(passwordOnly.username == "")
        #expect(passwordOnly.password == "pw")
        #expect(passwordOnly.display == "http://example.com/")

        let userOnly = try Self.url("http://me@example.com/")
        #expect(userOnly.username == "me")
        #expect(userOnly.password == "")

        // Relative references inherit the base's userinfo.
        let relative = try Self.url("../y?z", base: "http://u:p@example.com/a/b/c")
        #expect(relative.href == "http://u:p@example.com/a/y?z")
        #expect(relative.display == "http://example.com/a/y?z")
    }

    @Test func ipv6HostForConnectAndOrigin() throws {
        let u = try Self.url("http://[0:0::1]:8080/x?y")
        #expect(u.host == "[::1]")
        #expect(u.hostForConnect == "::1")
        #expect(u.origin == "http://[::1]:8080")
        #expect(u.pathAndQuery == "/x?y")
        let v4 = try Self.url("https://0x7f.1/")
        #expect(v4.host == "127.0.0.1")
        #expect(v4.hostForConnect == "127.0.0.1")
        #expect(v4.origin == "https://127.0.0.1:443")
    }

    @Test func failuresAreTyped() {
        #expect(CrawlURL.parse("mailto:someone@example.com") == .failure(.unsupportedScheme("mailto")))
        #expect(CrawlURL.parse("JavaScript:alert(1)") == .failure(.unsupportedScheme("javascript")))
        #expect(CrawlURL.parse("data:,x") == .failure(.unsupportedScheme("data")))
        #expect(CrawlURL.parse("ftp://example.com/") == .failure(.unsupportedScheme("ftp")))
        #expect(CrawlURL.parse("file:///etc/passwd") == .failure(.unsupportedScheme("file")))
        #expect(CrawlURL.parse("p/000123.html") == .failure(.invalid("relative URL without a base")))
        #expect(CrawlURL.parse("http://example.com:65536/") == .failure(.invalid("port out of range")))
        #expect(CrawlURL.parse("http://example.com:8o/") == .failure(.invalid("invalid port")))
        #expect(CrawlURL.parse("http:///") == .failure(.invalid("empty host")))
        #expect(CrawlURL.parse("http://user@/") == .failure(.invalid("missing host after userinfo")))
        #expect(CrawlURL.parse("http://a b/") == .failure(.invalid("forbidden host code point")))
        #expect(CrawlURL.parse("http://[::1/") == .failure(.invalid("unterminated IPv6 address")))
        #expect(CrawlURL.parse("http://[1::2::3]/") == .failure(.invalid("invalid IPv6 address")))
        #expect(CrawlURL.parse("http://1.2.3.256/") == .failure(.invalid("invalid IPv4 address")))
        #expect(CrawlURL.Failure.unsupportedScheme("ftp").description == "unsupported scheme 'ftp' (http, https only)")
    }

    @Test func relativeLinkOfTheBenchmarkShape() throws {
        let base = try Self.url("http://127.0.0.1:8080/p/000001.html")
        let u = try CrawlURL.parse("../p/000123.html", base: base).get()
        #expect(u.href == "http://127.0.0.1:8080/p/000123.html")
        #expect(u.origin == "http://127.0.0.1:8080")
        #expect(u.pathAndQuery == "/p/000123.html")
    }

    @Test func equalityAndHashingFollowTheSerialization() throws {
        let a = try Self.url("HTTP://Example.com:80/a")
        let b = try Self.url("http://example.com/a")
        let c = try Self.url("http://example.com/a#f")
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a != c)
        #expect(Set([a, b, c]).count == 2)
    }

    // MARK: Canonical key (rules version 1)

    static func key(_ input: String, sortQuery: Bool = false) throws -> String {
        try url(input).canonical(sortQuery: sortQuery)
    }

    @Test func canonicalRulesVersion() {
        #expect(CrawlURL.canonicalRulesVersion == 1)
    }

    @Test func canonicalStartsFromTheWHATWGForm() throws {
        #expect(try Self.key("HTTP://Example.COM:80/a/./b/../c") == "http://example.com/a/c")
        #expect(try Self.key("https://EXAMPLE.com:443") == "https://example.com/")
        #expect(try Self.key("https://example.com:8443/x") == "https://example.com:8443/x")
        #expect(try Self.key("http://BÜCHER.example/a") == "http://xn--bcher-kva.example/a")
        #expect(try Self.key("http://0x7f.1:8080/") == "http://127.0.0.1:8080/")
        #expect(try Self.key("http://[0:0::1]/") == "http://[::1]/")
        #expect(try Self.key("http://example.com") == "http://example.com/")
        #expect(try Self.key("http://example.com/a b/ä") == "http://example.com/a%20b/%C3%A4")
    }

    @Test func canonicalDropsFragmentAndUserinfo() throws {
        #expect(try Self.key("http://example.com/p#frag") == "http://example.com/p")
        #expect(try Self.key("http://example.com/p?q=1#frag") == "http://example.com/p?q=1")
        #expect(try Self.key("http://user:pw@example.com/p") == "http://example.com/p")
        #expect(try Self.key("http://user@example.com:81/") == "http://example.com:81/")
    }

    @Test func canonicalNormalisesPercentEncoding() throws {
        // Hex uppercased; reserved characters stay encoded.
        #expect(try Self.key("http://example.com/a%2fb%c3%a4") == "http://example.com/a%2Fb%C3%A4")
        #expect(try Self.key("http://example.com/%3f%23%26%3d%2b%24%40%3a") == "http://example.com/%3F%23%26%3D%2B%24%40%3A")
        // Unreserved characters decoded: "%7e" and "~" are the same key.
        #expect(try Self.key("http://example.com/%7euser") == "http://example.com/~user")
        #expect(try Self.key("http://example.com/%7Euser") == Self.key("http://example.com/~user"))
        #expect(try Self.key("http://example.com/%41%62%2D%2E%5F%7E%30%39") == "http://example.com/Ab-._~09")
        // Also in the query.
        #expect(try Self.key("http://example.com/?q=%7e%2f%61") == "http://example.com/?q=~%2Fa")
        // A '%' that starts no escape, and bytes WHATWG leaves unescaped, stay as they are.
        #expect(try Self.key("http://example.com/100%/x%zz%4") == "http://example.com/100%/x%zz%4")
        #expect(try Self.key("http://example.com/a|b?c`d{e}|") == "http://example.com/a|b?c`d{e}|")
        // Escapes of non-ASCII bytes stay escaped (uppercased).
        #expect(try Self.key("http://example.com/%e2%98%83") == "http://example.com/%E2%98%83")
    }

    @Test func canonicalDropsAnEmptyQuery() throws {
        #expect(try Self.key("http://example.com/a?") == "http://example.com/a")
        #expect(try Self.key("http://example.com/a?#f") == "http://example.com/a")
        #expect(try Self.key("http://example.com/a?", sortQuery: true) == "http://example.com/a")
    }

    @Test func canonicalQueryOrderKeptOrSorted() throws {
        let u = "http://example.com/s?b=2&a=1&c=3"
        #expect(try Self.key(u) == "http://example.com/s?b=2&a=1&c=3")
        #expect(try Self.key(u, sortQuery: true) == "http://example.com/s?a=1&b=2&c=3")
        // Sorted by the bytes of key=value as a whole; uppercase before lowercase.
        #expect(try Self.key("http://e.com/?b=2&a=2&a=1&A=3", sortQuery: true) == "http://e.com/?A=3&a=1&a=2&b=2")
        // Sorting happens after percent normalisation.
        #expect(try Self.key("http://e.com/?%62=1&%61=2", sortQuery: true) == "http://e.com/?a=2&b=1")
        #expect(try Self.key("http://e.com/?only=1", sortQuery: true) == "http://e.com/?only=1")
    }

    @Test func equivalentSpellingsShareOneKey() throws {
        let spellings = [
            "http://example.com/a/c",
            "HTTP://EXAMPLE.COM/a/c",
            "http://example.com:80/a/c",
            "http://example.com/a/b/../c",
            "http://example.com/a/./c#top",
            "http://user:pw@example.com/a/c",
            "http://example.com/%61/%63",
            "http://example.com/a/%2e/c",
            " http://example.com\\a\\c ",
            "http://example.com/a/c?",
        ]
        for s in spellings {
            #expect(try Self.key(s) == "http://example.com/a/c", "\(s)")
        }
    }

    /// The crawler's shortcut for plain same-origin paths must agree with the parser and the
    /// canonical rules byte for byte whenever it answers, and must not answer for anything
    /// that needs the parser (percent-encoding, dot segments, queries, odd bytes…).
    @Test func plainPathLinksAgreeWithTheParser() throws {
        let bases = ["http://127.0.0.1:8080/p/020001.html", "https://user:pw@Example.COM/dir/page?x=1#f", "http://[::1]:81/",
                     "https://b.test", "http://h.test/a/b/", "http://h.test/%7e/x.html", "http://h.test/a;jsessionid=1/b",
                     "http://h.test/a%2Fb/c/d.html", "http://h.test/~u/(x)/y"]
        // Every printable ASCII byte (and a few others) against the fast path's byte classes.
        let alphabet = Array("abcXYZ019-._~!$&'()*+,=:@/%?#;\\ \t\"<>^`{|}é[]\u{7F}\u{01}\u{0B}".unicodeScalars).map(String.init)
            + (0x20...0x7E).map { String(UnicodeScalar(UInt8($0))) }
        var g = SystemRandomNumberGenerator()
        var fixed = ["/", "/p/004203.html", "/a//b", "/a/./b", "/a/../b", "/.", "/..", "/a/.", "/a/..", "//host/x", "/a#frag",
                     "/a%2Fb", "/a?q=1", "/a;jsessionid=1", "/A/B.HTML", "/x/.y/..z", "", "p.html", "/a b", "/#", "/a/#x/../"]
        fixed += ["x.html", "004203.html", "a/b/c", "./a", "../a", "a/./b", "a/../b", ".", "..", "a/.", "a/..", "a:b", "ab:c/d",
                  "a/b:c", "1:x", "mailto:x@y", "javascript:void(0)", "a#b", "#", "?q", "a?q", "a%41", "a;b", "A.HTML", "x/", ".hidden",
                  "..x", "a//b", "http:x", "HTTP://h/", "a@b", "~u"]
        for _ in 0..<4000 {
            let n = Int.random(in: 0...12, using: &g)
            fixed.append("/" + (0..<n).map { _ in alphabet.randomElement(using: &g)! }.joined())
            fixed.append((0..<n).map { _ in alphabet.randomElement(using: &g)! }.joined())
        }
        var answered = 0
        var answeredRelative = 0
        var scratch: [UInt8] = []
        for b in bases {
            let base = try CrawlURL.parse(b).get()
            for raw in fixed {
                var text = raw
                let fast = text.withUTF8 { base.plainPathLink($0, scratch: &scratch) }
                guard let fast else { continue }
                answered += 1
                if !raw.hasPrefix("/") { answeredRelative += 1 }
                let url = try #require(try? CrawlURL.parse(raw, base: base).get(), "\(raw) against \(b)")
                let key = url.canonicalUTF8()
                #expect(fast.fingerprint == key.withUnsafeBufferPointer { URLFingerprint.xxh64($0) },
                        "\(raw) against \(b): key \(String(decoding: key, as: UTF8.self)) vs \(String(decoding: scratch, as: UTF8.self))")
                #expect(SessionIDs.strip(url.canonical()) == url.canonical(), "\(raw): the session-id rules would change it")
                #expect(fast.displayCount == url.display.utf8.count, "\(raw) against \(b)")
                #expect(fast.slashes == url.path.utf8.filter { $0 == UInt8(ascii: "/") }.count, "\(raw) against \(b)")
                #expect(url.query == nil)
            }
        }
        #expect(answered > 2000, "the shortcut answered only \(answered) times")
        #expect(answeredRelative > 1000, "the shortcut answered only \(answeredRelative) relative links")
        // A relative link against a directory the canonical rules would change goes to the parser.
        for b in ["http://h.test/%7e/x.html", "http://h.test/a;jsessionid=1/b"] {
            let base = try CrawlURL.parse(b).get()
            var text = "x.html"
            #expect(text.withUTF8 { base.plainPathLink($0, scratch: &scratch) } == nil, "x.html against \(b)")
        }
        // And it declines what needs the parser.
        let base = try CrawlURL.parse(bases[0]).get()
        for raw in ["/a/./b", "/a/../b", "/..", "//h/x", "/a%41", "/a?b", "/a;b", "/a b", "/a\\b", "", "/é", "./p.html",
                    "../p.html", "a:b", "mailto:x", "#f", "?q", "p%41.html"] {
            var text = raw
            #expect(text.withUTF8 { base.plainPathLink($0, scratch: &scratch) } == nil, "\(raw)")
        }
    }
}

