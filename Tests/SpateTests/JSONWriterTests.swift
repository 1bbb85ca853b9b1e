import Foundation
import Testing
@testable import Spate
import CSpate

/// The record writer's numbers and strings, against independent formatting (printf) and
/// Foundation's JSON parser.
@Suite struct JSONWriterTests {
    /// printf's "%.3f" with trailing zeros (and a bare ".") dropped: the documented form.
    static func expected(_ d: Double) -> String {
        var s = String(format: "%.3f", d)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s == "-0" ? "0" : s
    }

    static func written(_ body: (inout JSONWriter) -> Void) -> String {
        var w = JSONWriter()
        body(&w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    @Test func integers() {
        var samples: [Int] = [0, 1, 9, 10, 11, 99, 100, 1234, -1, -9, -10, -12345, Int.max, Int.min + 1, Int.min]
        var g = SystemRandomNumberGenerator()
        for _ in 0..<2000 { samples.append(Int.random(in: -1_000_000_000_000...1_000_000_000_000, using: &g)) }
        for i in samples {
            #expect(Self.written { $0.int(i) } == String(i))
        }
    }

    @Test func millisecondDoubles() {
        var samples: [Double] = [0, 0.001, 0.05, 0.5, 0.1, 0.12, 0.123, 0.1234, 0.9995, 1, 1.5, 10.25, 999.999, 1000, 12.3456,
                                 -0.5, -1.25, -1234.5678, 86_400_000.125, 1e12 + 0.5]
        var g = SystemRandomNumberGenerator()
        for _ in 0..<3000 { samples.append(Double.random(in: -100_000...100_000, using: &g)) }
        for _ in 0..<1000 { samples.append(Double(Int.random(in: 0...5_000_000, using: &g)) / 1000) }
        for d in samples {
            let got = Self.written { $0.double(d) }
            // printf rounds half to even on the binary value; ours rounds d × 1000 half away
            // from zero: they may differ only when d × 1000 sits on a .5.
            let onTie = abs((d * 1000).truncatingRemainder(dividingBy: 1)) == 0.5
            if !onTie { #expect(got == Self.expected(d), "\(d)") }
            #expect(abs((Double(got) ?? .nan) - d) <= 0.0005 + 1e-9, "\(d) → \(got)")
        }
        #expect(Self.written { $0.double(.nan) } == "null")
        #expect(Self.written { $0.double(.infinity) } == "null")
    }

    @Test func stringsRoundTripThroughJSONSerialization() throws {
        let samples = ["", "plain", "quote \" backslash \\ slash /", "tab\tnl\ncr\r", "\u{01}\u{1F}\u{7F}", "é ü 中文 🙂",
                       String(repeating: "x", count: 10_000) + "\""]
        for s in samples {
            let text = Self.written { $0.string(s) }
            let parsed = try JSONSerialization.jsonObject(with: Data(("[" + text + "]").utf8)) as? [String]
            #expect(parsed == [s], "\(text.prefix(80))")
        }
    }

    /// The word-at-a-time scan agrees with escaping byte by byte, wherever the special
    /// bytes sit (every offset within and across 8-byte words, every length up to 40).
    @Test func escapingAgreesWithAByteByByteReference() {
        func reference(_ s: String) -> String {
            var out: [UInt8] = [0x22]
            for b in s.utf8 {
                switch b {
                case 0x22: out += Array("\\\"".utf8)
                case 0x5C: out += Array("\\\\".utf8)
                case 0x0A: out += Array("\\n".utf8)
                case 0x0D: out += Array("\\r".utf8)
                case 0x09: out += Array("\\t".utf8)
                case 0..<0x20: out += Array(String(format: "\\u%04x", Int(b)).utf8)
                default: out.append(b)
                }
            }
            out.append(0x22)
            return String(decoding: out, as: UTF8.self)
        }
        let specials: [Character] = ["\"", "\\", "\n", "\r", "\t", "\u{01}", "\u{1F}", "\u{7F}", " ", "!", "#", "[", "]", "é", "🙂", "a", "~"]
        var g = SystemRandomNumberGenerator()
        var checked = 0
        for length in 0...40 {
            for _ in 0..<60 {
                let s = String((0..<length).map { _ in Int.random(in: 0..<4, using: &g) == 0 ? specials.randomElement(using: &g)! : "x" })
                let got = Self.written { $0.string(s) }
                #expect(got == reference(s), "\(Array(s.utf8))")
                checked += 1
            }
        }
        // One special byte at every offset of a 24-byte string.
        for offset in 0..<24 {
            for special in ["\"", "\\", "\u{1F}", "\n"] {
                let s = String(repeating: "y", count: offset) + special + String(repeating: "z", count: 23 - offset)
                #expect(Self.written { $0.string(s) } == reference(s), "offset \(offset)")
            }
        }
        #expect(checked == 41 * 60)
    }
}

/// The fetch record's `title`: the first `<title>` element's text, entities decoded,
/// whitespace collapsed.
@Suite struct HTMLTitleTests {
    static func title(_ html: String) -> String? { HTMLTitle.extract(Array(html.utf8)) }

    @Test func titles() {
        #expect(Self.title("<html><head><title>Page 000001</title></head>") == "Page 000001")
        #expect(Self.title("<TITLE lang=en>Mixed Case</TiTlE>") == "Mixed Case")
        #expect(Self.title("<title>\n  Spread \t over\r\n lines  </title>") == "Spread over lines")
        #expect(Self.title("<title>Tom &amp; Jerry &#169; &#x2014; &bogus; &lt;b&gt;</title>") == "Tom & Jerry © — &bogus; <b>")
        #expect(Self.title("<title>No end") == "No end")
        #expect(Self.title("<titlex>not a title</titlex><title>real</title>") == "real", "<titlex> is another element")
        #expect(Self.title("<p>no title here</p>") == nil)
        #expect(Self.title("<title></title>") == "")
        #expect(Self.title("<title>  </title>") == "")
        #expect(Self.title("<title>é ü 中文</title>") == "é ü 中文")
        #expect(HTMLTitle.collapse("a  b") == "a b")
        #expect(HTMLTitle.collapse(" a b ") == "a b")
        #expect(HTMLTitle.collapse("a b") == "a b")
    }

    /// A fetch takes the title from the body's first chunk when the whole element is in it
    /// (``HTMLTitle/scan(_:final:)`` without `final`), and keeps the body's start otherwise.
    /// For every prefix of many generated bodies, a title found in the prefix is the title of
    /// the whole body (more bytes cannot change it); and a page's usual first chunk gives it.
    @Test func aTitleFoundInAPrefixIsTheWholeBodysTitle() {
        let pieces = ["<title>", "</title>", "<TITLE lang=x>", "</TiTlE>", "<titlex>", "<title", "</title", "<", ">", "/",
                      "t", "itle", " ", "\n", "&amp;", "&#169;", "&lt;", "a", "Page 1", "é", "<p>", "<head>", "x y"]
        var rng = SystemRandomNumberGenerator()
        var found = 0, incomplete = 0
        for _ in 0..<3_000 {
            let body = Array((0..<Int.random(in: 0...9, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined().utf8)
            let whole = HTMLTitle.extract(body)
            body.withUnsafeBytes { all in
                for cut in 0...all.count {
                    let prefix = UnsafeRawBufferPointer(rebasing: all[0..<cut])
                    switch HTMLTitle.scan(prefix, final: false) {
                    case let .title(t):
                        found += 1
                        #expect(t == whole, "prefix \(cut) of \(String(decoding: body, as: UTF8.self).debugDescription)")
                    case .incomplete:
                        incomplete += 1
                    case .none:
                        Issue.record("a prefix is never known to have no title")
                    }
                }
            }
        }
        #expect(found > 1_000 && incomplete > 1_000, "found \(found), incomplete \(incomplete)")
        let page = Array("<html><head><title>Page 000001</title></head><body>".utf8)
        page.withUnsafeBytes { #expect(HTMLTitle.scan($0, final: false) == .title("Page 000001")) }
    }

    /// The writer's raw buffer: it grows past its first capacity without losing bytes, the
    /// bytes it lends (`withBytes`) are those it copies (`bytes`), and a thread's spare
    /// buffer, taken by the next writer, starts it empty — also with writers nested.
    @Test func theBufferGrowsAndIsReusedEmpty() {
        var expected: [UInt8] = []
        var w = JSONWriter(capacity: 8)
        for i in 0..<5_000 {
            w.int(i); w.byte(UInt8(ascii: ","))
            expected += Array(String(i).utf8) + [UInt8(ascii: ",")]
        }
        w.string(String(repeating: "é\"", count: 3_000))
        expected += Array(("\"" + String(repeating: "é\\\"", count: 3_000) + "\"").utf8)
        #expect(w.bytes == expected)
        #expect(w.withBytes { Array($0) } == expected)
        _ = consume w
        for round in 0..<3 {
            var outer = JSONWriter(capacity: 16)
            #expect(outer.bytes.isEmpty)
            outer.raw("{\"a\":")
            do {
                var inner = JSONWriter()
                #expect(inner.bytes.isEmpty, "round \(round)")
                inner.int(round)
                #expect(inner.bytes == Array(String(round).utf8))
            }
            outer.int(round); outer.byte(UInt8(ascii: "}"))
            #expect(String(decoding: outer.bytes, as: UTF8.self) == "{\"a\":\(round)}")
        }
    }

    /// A thread that ends holding a spare buffer frees it (a dispatch worker thread may end
    /// while a run goes on: its spare must not be left behind).
    @Test func aThreadsSpareIsFreedWhenItEnds() {
        let before = cspate_scratch_released_count()
        let threads = 4
        for _ in 0..<threads {
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { _ in
                var w = JSONWriter(capacity: 512)
                w.raw("{}")
                _ = consume w   // its buffer becomes this thread's spare
                return nil
            }, nil)
            #expect(rc == 0)
            pthread_join(thread, nil)
        }
        #expect(cspate_scratch_released_count() - before >= threads)   // other tests' threads may end meanwhile
    }
}
