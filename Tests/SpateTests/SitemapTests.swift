import Foundation
import Testing
@testable import Spate

/// The sitemap reader (`Sitemap.swift`). Gzip'd inputs are made by the gzip(1) tool
/// (`/usr/bin/gzip -c -n`), not by the zlib code under test; concatenated members are
/// separate gzip(1) outputs joined.
@Suite struct SitemapTests {
    typealias Entry = SitemapEntry

    // MARK: - Helpers

    /// Reads `bytes` cut at `cuts` (ascending offsets), each chunk from its own buffer.
    static func read(_ bytes: [UInt8], cuts: [Int] = [], limits: SitemapLimits = SitemapLimits())
        -> (entries: [Entry], summary: SitemapSummary)
    {
        let reader = SitemapReader(limits: limits)
        var entries: [Entry] = []
        var start = 0
        for cut in cuts + [bytes.count] where cut >= start {
            Array(bytes[start..<cut]).withUnsafeBytes { reader.feed($0) { entries.append($0) } }
            start = cut
        }
        let summary = reader.finish { entries.append($0) }
        return (entries, summary)
    }

    static func read(_ text: String, limits: SitemapLimits = SitemapLimits()) -> (entries: [Entry], summary: SitemapSummary) {
        read(Array(text.utf8), limits: limits)
    }

    static func locs(_ text: String) -> [String] { read(text).entries.map(\.loc) }

    /// The UTF-8 offset just after the first `marker` in `text`.
    static func offset(after marker: String, in text: String) -> Int {
        text.utf8.distance(from: text.startIndex, to: text.range(of: marker)!.upperBound)
    }

    /// gzip(1) output for `bytes` (one member).
    static func gzipTool(_ bytes: [UInt8]) throws -> [UInt8] {
        let dir = FileManager.default.temporaryDirectory
        let input = dir.appendingPathComponent("spate-sitemap-\(UUID().uuidString)")
        let output = dir.appendingPathComponent("spate-sitemap-\(UUID().uuidString).gz")
        defer {
            try? FileManager.default.removeItem(at: input)
            try? FileManager.default.removeItem(at: output)
        }
        try Data(bytes).write(to: input)
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/gzip")
        p.arguments = ["-c", "-n", "-9"]
        p.standardInput = try FileHandle(forReadingFrom: input)
        p.standardOutput = try FileHandle(forWritingTo: output)
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        return [UInt8](try Data(contentsOf: output))
    }

    static let ns = "http://www.sitemaps.org/schemas/sitemap/0.9"

    static func urlset(_ locs: [String]) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"\(ns)\">\n"
            + locs.map { "  <url><loc>\($0)</loc></url>\n" }.joined() + "</urlset>\n"
    }

    /// A small document with most of what the scanner knows, for the chunking tests.
    static let tricky = """
        \u{FEFF}<?xml version="1.0" encoding="UTF-8"?>
        <!DOCTYPE urlset [ <!ENTITY x "never expanded"> <!-- a '>' in here --> ]>
        <!-- a comment with <url><loc>http://no/</loc></url> inside -->
        <sm:urlset xmlns:sm="\(ns)" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
          <?pi a > b ?>
          <sm:url note="a > b" other='it&apos;s'>
            <sm:loc>
              https://example.com/a?x=1&amp;y=2&#38;z=&#x33;&lt;&gt;&quot;&apos;
            </sm:loc>
            <sm:lastmod>2024-05-06T07:08:09+00:00</sm:lastmod>
            <sm:changefreq>weekly</sm:changefreq>
          </sm:url>
          <sm:url><sm:loc><![CDATA[https://example.com/b?q=&amp;]]x]]></sm:loc>
            <image:image><image:loc>https://example.com/img.png</image:loc></image:image></sm:url>
          <sm:url><sm:loc>https://example.com/<!-- split -->c/é&#xE9;&#233;&unknown;&bare&</sm:loc></sm:url>
          <sm:url/>
          <sm:url><sm:lastmod>2020</sm:lastmod></sm:url>
          <sm:url><sm:loc>https://example.com/d</sm:loc></sm:url>
        </sm:urlset>
        <!-- trailing comment -->

        """

    static let trickyEntries = [
        Entry(loc: "https://example.com/a?x=1&y=2&z=3<>\"'", lastmod: "2024-05-06T07:08:09+00:00"),
        Entry(loc: "https://example.com/b?q=&amp;]]x"),
        Entry(loc: "https://example.com/c/ééé&unknown;&bare&"),
        Entry(loc: "https://example.com/d"),
    ]

    static func expectTricky(_ r: (entries: [Entry], summary: SitemapSummary), gzip: Bool, _ comment: Comment? = nil) {
        #expect(r.entries == trickyEntries, comment)
        #expect(r.summary.kind == .urlset && r.summary.error == nil && r.summary.truncated == nil, comment)
        #expect(r.summary.entries == 4 && r.summary.skipped == 2 && r.summary.gzip == gzip, comment)
        #expect(r.summary.bytes == Array(tricky.utf8).count, comment)
    }

    // MARK: - XML

    @Test func urlsetEntriesInDocumentOrder() {
        let r = Self.read("""
            <?xml version="1.0" encoding="UTF-8"?>
            <urlset xmlns="\(Self.ns)">
              <url>
                <loc>https://example.com/</loc>
                <lastmod>2024-01-02</lastmod>
                <changefreq>daily</changefreq>
                <priority>0.8</priority>
              </url>
              <url><loc>https://example.com/about</loc></url>
              <url><priority>1.0</priority><loc>https://example.com/last</loc><lastmod> 2023-12-31 </lastmod></url>
            </urlset>
            """)
        #expect(r.entries == [
            Entry(loc: "https://example.com/", lastmod: "2024-01-02"),
            Entry(loc: "https://example.com/about"),
            Entry(loc: "https://example.com/last", lastmod: "2023-12-31"),
        ])
        #expect(r.summary.kind == .urlset)
        #expect(r.summary.entries == 3 && r.summary.skipped == 0)
        #expect(r.summary.error == nil && r.summary.truncated == nil && !r.summary.gzip)
    }

    @Test func sitemapIndexListsSitemaps() {
        let r = Self.read("""
            <?xml version="1.0" encoding="UTF-8"?>
            <sitemapindex xmlns="\(Self.ns)">
              <sitemap><loc>https://example.com/s1.xml</loc><lastmod>2024-03-04</lastmod></sitemap>
              <sitemap><loc>https://example.com/s2.xml.gz</loc></sitemap>
              <url><loc>https://example.com/not-in-an-index</loc></url>
            </sitemapindex>
            """)
        #expect(r.entries == [Entry(loc: "https://example.com/s1.xml", lastmod: "2024-03-04"), Entry(loc: "https://example.com/s2.xml.gz")])
        #expect(r.summary.kind == .sitemapindex && r.summary.error == nil)
    }

    @Test func locCountsOnlyAsAChildOfAnEntry() {
        let locs = Self.locs("""
            <urlset>
              <loc>https://example.com/root-level</loc>
              <sitemap><loc>https://example.com/sitemap-in-a-urlset</loc></sitemap>
              <url>
                <image:image xmlns:image="x"><image:loc>https://example.com/img.jpg</image:loc></image:image>
                <video:video xmlns:video="y"><video:content_loc>https://example.com/v.mp4</video:content_loc></video:video>
                <loc>https://example.com/page</loc>
                <loc>https://example.com/second-loc-ignored</loc>
              </url>
              <other><url><loc>https://example.com/nested-url</loc></url></other>
            </urlset>
            """)
        #expect(locs == ["https://example.com/page"])
    }

    @Test func namespacesAndPrefixes() {
        #expect(Self.locs("<s:urlset xmlns:s=\"\(Self.ns)\"><s:url><s:loc>http://a/1</s:loc></s:url></s:urlset>") == ["http://a/1"])
        #expect(Self.locs("<urlset xmlns=\"\(Self.ns)\"><url><loc>http://a/2</loc></url></urlset>") == ["http://a/2"])
        #expect(Self.locs("<urlset><url><loc>http://a/3</loc></url></urlset>") == ["http://a/3"])
        #expect(Self.read("<x:sitemapindex><x:sitemap><x:loc>http://a/4</x:loc></x:sitemap></x:sitemapindex>").summary.kind == .sitemapindex)
        // Attributes are skipped, quotes hide '>' and '/'.
        #expect(Self.locs("<urlset a='>' b=\"/>\"><url c = 'x' ><loc d=\"/\">http://a/5</loc ></url></urlset >") == ["http://a/5"])
    }

    @Test func referencesCDATACommentsAndWhitespaceInLoc() {
        func loc(_ inner: String) -> String? { Self.locs("<urlset><url><loc>\(inner)</loc></url></urlset>").first }
        #expect(loc("http://a/?x=1&amp;y=2") == "http://a/?x=1&y=2")
        #expect(loc("&lt;&gt;&quot;&apos;&amp;amp;") == "<>\"'&amp;")
        #expect(loc("http://a/&#65;&#x42;&#X43;&#x1F600;") == "http://a/ABC😀")
        #expect(loc("http://a/&#0;&#xD800;&#x110000;") == "http://a/\u{FFFD}\u{FFFD}\u{FFFD}")
        // Unknown or unterminated references stay as written; a raw '&' too.
        #expect(loc("http://a/?x=1&y=2&nbsp;&#x;&#12a;&") == "http://a/?x=1&y=2&nbsp;&#x;&#12a;&")
        #expect(loc("http://a/&thisnameistoolongtobeareferenceatallreally;") == "http://a/&thisnameistoolongtobeareferenceatallreally;")
        // CDATA is taken literally, and may sit next to text.
        #expect(loc("<![CDATA[http://a/?x=1&amp;y=<2>]]>") == "http://a/?x=1&amp;y=<2>")
        #expect(loc("http://a/<![CDATA[b]]]]>c") == "http://a/b]]c")
        #expect(loc("http://a/<!-- c -->b<?pi?>c") == "http://a/bc")
        #expect(loc("\n\t  http://a/trimmed \r\n ") == "http://a/trimmed")
        #expect(loc("  http://a/inner space  x ") == "http://a/inner space  x")
        // UTF-8 passes through.
        #expect(loc("http://a/日本") == "http://a/日本")
    }

    @Test func entriesWithoutAUsableLocAreSkipped() {
        var limits = SitemapLimits()
        limits.maxLocBytes = 20
        let r = Self.read("""
            <urlset>
              <url/>
              <url><loc/></url>
              <url><loc>   </loc></url>
              <url><lastmod>2020</lastmod></url>
              <url><loc>http://a/this-one-is-far-too-long</loc></url>
              <url><loc>http://a/exactly-20b</loc></url>
            </urlset>
            """, limits: limits)
        #expect(r.entries.map(\.loc) == ["http://a/exactly-20b"])
        #expect(r.summary.entries == 1 && r.summary.skipped == 5 && r.summary.error == nil)
    }

    @Test func trickyDocumentWhole() {
        Self.expectTricky(Self.read(Array(Self.tricky.utf8)), gzip: false)
    }

    // MARK: - Chunk boundaries

    @Test func everySplitPositionGivesTheSameResult() {
        let bytes = Array(Self.tricky.utf8)
        for cut in 0...bytes.count {
            Self.expectTricky(Self.read(bytes, cuts: [cut]), gzip: false, "cut at \(cut)")
        }
        for a in stride(from: 0, through: bytes.count, by: 7) {
            for b in stride(from: a, through: bytes.count, by: 13) {
                Self.expectTricky(Self.read(bytes, cuts: [a, b]), gzip: false, "cuts at \(a), \(b)")
            }
        }
    }

    @Test func byteByByteAndRandomSplits() {
        let bytes = Array(Self.tricky.utf8)
        Self.expectTricky(Self.read(bytes, cuts: Array(1..<bytes.count)), gzip: false, "byte by byte")
        var random = LinkExtractorTests.LinkTestRandom(state: 0x5173_4D41)
        for round in 0..<300 {
            var cuts: [Int] = []
            var at = 0
            while true {
                at += 1 + random.below(40)
                if at >= bytes.count { break }
                cuts.append(at)
            }
            Self.expectTricky(Self.read(bytes, cuts: cuts), gzip: false, "round \(round): \(cuts)")
        }
    }

    // MARK: - Gzip

    @Test func gzipIsRecognisedByItsMagicNumber() throws {
        let gz = try Self.gzipTool(Array(Self.tricky.utf8))
        #expect(gz.count > 2 && gz[0] == 0x1F && gz[1] == 0x8B)
        Self.expectTricky(Self.read(gz), gzip: true)
        // Split anywhere in the compressed bytes, the magic number included.
        for cut in 0...gz.count {
            Self.expectTricky(Self.read(gz, cuts: [cut]), gzip: true, "cut at \(cut)")
        }
        Self.expectTricky(Self.read(gz, cuts: Array(1..<gz.count)), gzip: true, "byte by byte")
    }

    @Test func concatenatedGzipMembersAreOneDocument() throws {
        let bytes = Array(Self.tricky.utf8)
        // Members split mid-tag and mid-reference.
        let cut1 = Self.offset(after: "<sm:lo", in: Self.tricky)
        let cut2 = Self.offset(after: "&am", in: Self.tricky)
        let members = try Self.gzipTool(Array(bytes[..<cut1])) + Self.gzipTool(Array(bytes[cut1..<cut2]))
            + Self.gzipTool(Array(bytes[cut2...]))
        Self.expectTricky(Self.read(members), gzip: true)
        for cut in stride(from: 0, through: members.count, by: 3) {
            Self.expectTricky(Self.read(members, cuts: [cut]), gzip: true, "cut at \(cut)")
        }
    }

    @Test func corruptOrTruncatedGzip() throws {
        let gz = try Self.gzipTool(Array(Self.urlset((0..<200).map { "http://a/\($0)" }).utf8))
        // Garbage after the magic number.
        let bad = Self.read([0x1F, 0x8B] + Array("this is not a gzip stream at all".utf8))
        #expect(bad.summary.error?.code == .gzipCorrupt && bad.summary.gzip && bad.entries.isEmpty, "\(bad.summary)")
        // Cut in the middle: the entries before the cut are kept, and the end is reported.
        let half = Self.read(Array(gz[..<(gz.count / 2)]))
        #expect(half.summary.error == SitemapError(.gzipCorrupt, "the gzip stream ends early"), "\(half.summary)")
        #expect(half.entries.count > 10 && half.entries.count < 200)
        #expect(half.entries.map(\.loc) == (0..<half.entries.count).map { "http://a/\($0)" })
        // Only the magic number.
        #expect(Self.read([0x1F, 0x8B]).summary.error?.code == .gzipCorrupt)
        // A bad CRC in the trailer.
        var crc = gz
        crc[crc.count - 6] ^= 0xFF
        let r = Self.read(crc)
        #expect(r.summary.error?.code == .gzipCorrupt && r.entries.count == 200, "\(r.summary)")
    }

    // MARK: - Text sitemaps

    @Test func textSitemapOneURLPerLine() {
        let r = Self.read("\u{FEFF}\n  https://example.com/a  \r\nhttp://example.com/b\r\n\r\n\n\tHTTPS://example.com/c\rnot a url\nftp://example.com/d\nhttp://example.com/last")
        #expect(r.entries.map(\.loc) == ["https://example.com/a", "http://example.com/b", "HTTPS://example.com/c", "http://example.com/last"])
        #expect(r.entries.allSatisfy { $0.lastmod == nil })
        #expect(r.summary.kind == .text && r.summary.entries == 4 && r.summary.skipped == 2 && r.summary.error == nil)
    }

    @Test func textSitemapInEveryChunking() {
        let text = Array("http://a/1\r\n\r\nhttp://a/2\n  \nhttp://a/3 \nhttp://a/4".utf8)
        let want = ["http://a/1", "http://a/2", "http://a/3", "http://a/4"]
        for cut in 0...text.count {
            #expect(Self.read(text, cuts: [cut]).entries.map(\.loc) == want, "cut at \(cut)")
        }
        #expect(Self.read(text, cuts: Array(1..<text.count)).entries.map(\.loc) == want)
    }

    @Test func textLinesOverTheLengthLimitAreSkipped() {
        var limits = SitemapLimits()
        limits.maxLocBytes = 16
        let r = Self.read("http://a/short\nhttp://a/far-too-long-for-it\nhttp://a/ok\n", limits: limits)
        #expect(r.entries.map(\.loc) == ["http://a/short", "http://a/ok"] && r.summary.skipped == 1)
    }

    // MARK: - Limits

    @Test func moreThanFiftyThousandURLs() {
        let doc = Self.urlset((0..<50_003).map { "http://example.com/p/\($0)" })
        let r = Self.read(doc)
        #expect(r.entries.count == 50_000)
        #expect(r.entries.last?.loc == "http://example.com/p/49999")
        #expect(r.summary.entries == 50_000 && r.summary.truncated == .maxEntries && r.summary.error == nil)
        #expect(r.summary.bytes < Array(doc.utf8).count)
        // Exactly 50,000 is within the limit.
        let exact = Self.read(Self.urlset((0..<50_000).map { "http://example.com/p/\($0)" }))
        #expect(exact.entries.count == 50_000 && exact.summary.truncated == nil && exact.summary.error == nil)
        // Text sitemaps and indexes have the same limit.
        let text = (0..<50_001).map { "http://example.com/t/\($0)\n" }.joined()
        let t = Self.read(text)
        #expect(t.entries.count == 50_000 && t.summary.truncated == .maxEntries && t.summary.kind == .text)
        var small = SitemapLimits()
        small.maxEntries = 2
        let index = Self.read("<sitemapindex>" + (0..<5).map { "<sitemap><loc>http://a/\($0).xml</loc></sitemap>" }.joined() + "</sitemapindex>", limits: small)
        #expect(index.entries.map(\.loc) == ["http://a/0.xml", "http://a/1.xml"] && index.summary.truncated == .maxEntries)
    }

    @Test func moreThanFiftyMiBStopsAtTheLimit() throws {
        // A compression bomb: gzip(1) members, one of 1 MiB of spaces repeated 60 times —
        // 60 MiB inflated from a few tens of KiB — between entries.
        let head = try Self.gzipTool(Array("<urlset>\n<url><loc>http://a/1</loc></url><url><loc>http://a/2</loc></url>\n".utf8))
        let filler = try Self.gzipTool([UInt8](repeating: 0x20, count: 1 << 20))
        let tail = try Self.gzipTool(Array("<url><loc>http://a/after</loc></url></urlset>\n".utf8))
        var bomb = head
        for _ in 0..<60 { bomb += filler }
        bomb += tail
        #expect(bomb.count < 200_000)
        let reader = SitemapReader()
        var entries: [Entry] = []
        var fedWhenStopped: Int? = nil
        for start in stride(from: 0, to: bomb.count, by: 4096) {
            bomb[start..<min(start + 4096, bomb.count)].withUnsafeBytes { reader.feed($0) { entries.append($0) } }
            if reader.isStopped && fedWhenStopped == nil { fedWhenStopped = start }
        }
        let s = reader.finish { entries.append($0) }
        #expect(entries.map(\.loc) == ["http://a/1", "http://a/2"])
        #expect(s.truncated == .maxBytes && s.bytes == 52_428_800 && s.error == nil && s.gzip, "\(s)")
        // It stopped around the 50 MiB point of the input, not at its end.
        let stopped = try #require(fedWhenStopped)
        #expect(stopped < head.count + 51 * filler.count && stopped > head.count + 45 * filler.count, "\(stopped)")
    }

    @Test func sizeLimitKeepsCompleteEntriesOnly() {
        let text = "<urlset><url><loc>http://a/1</loc></url><url><loc>http://a/2</loc><lastmod>x</lastmod></url><url><loc>http://a/3</loc></url></urlset>"
        let doc = Array(text.utf8)
        func upTo(_ marker: String) -> Int { Self.offset(after: marker, in: text) }
        var limits = SitemapLimits()
        // Cut just after the second </loc>: its entry is complete enough to keep.
        limits.maxBytes = upTo("http://a/2</loc>")
        var r = Self.read(doc, limits: limits)
        #expect(r.entries == [Entry(loc: "http://a/1"), Entry(loc: "http://a/2")] && r.summary.truncated == .maxBytes)
        // Cut inside the second <loc>: it is not handed out cut short.
        limits.maxBytes = upTo("<url><loc>http://a/2") - 3
        r = Self.read(doc, limits: limits)
        #expect(r.entries == [Entry(loc: "http://a/1")] && r.summary.truncated == .maxBytes && r.summary.bytes == limits.maxBytes)
        // Exactly the whole document: within the limit.
        limits.maxBytes = doc.count
        r = Self.read(doc, limits: limits)
        #expect(r.entries.count == 3 && r.summary.truncated == nil && r.summary.error == nil)
        // A text line cut by the limit is not handed out either.
        limits.maxBytes = 18
        let t = Self.read("http://a/1\nhttp://a/22\n", limits: limits)
        #expect(t.entries.map(\.loc) == ["http://a/1"] && t.summary.truncated == .maxBytes)
    }

    // MARK: - Not sitemaps, malformed

    @Test func garbageIsNotASitemap() {
        var random = LinkExtractorTests.LinkTestRandom(state: 7)
        var noise = (0..<4096).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        noise[0] = 0x01   // not '<', not the gzip magic, not a BOM
        for (name, body) in [
            ("noise", noise),
            ("empty", []),
            ("whitespace", Array(" \n\t\r\n".utf8)),
            ("html", Array("<!DOCTYPE html><html><head><title>Not found</title></head><body><a href=\"http://a/\">x</a></body></html>".utf8)),
            ("rss", Array("<?xml version=\"1.0\"?><rss><channel><item><link>http://a/</link></item></channel></rss>".utf8)),
            ("json", Array("{\"urls\": [\"http://a/\"]}".utf8)),
            ("prose", Array("Sitemap\nhttp://a/1\n".utf8)),
            ("prolog only", Array("<?xml version=\"1.0\"?>\n<!-- nothing -->\n".utf8)),
            ("utf-16", [0xFF, 0xFE] + Array("h\0t\0t\0p\0".utf8)),
            ("partial bom", [0xEF, 0xBB] + Array("http://a/\n".utf8)),
        ] as [(String, [UInt8])] {
            let r = Self.read(body)
            #expect(r.summary.error?.code == .notSitemap, "\(name): \(r.summary)")
            #expect(r.entries.isEmpty && r.summary.kind == nil, "\(name)")
        }
    }

    @Test func malformedXMLStopsAtTheBreak() {
        func check(_ doc: String, _ want: [String], _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let r = Self.read(doc)
            #expect(r.entries.map(\.loc) == want, sourceLocation: sourceLocation)
            #expect(r.summary.error == SitemapError(.malformed, message), "\(r.summary)", sourceLocation: sourceLocation)
        }
        let ok = "<urlset><url><loc>http://a/1</loc></url>"
        check(ok + "<url><loc>http://a/2</loc></urll></url><url><loc>http://a/3</loc></url></urlset>", ["http://a/1"], "</urll> closes <url>")
        check(ok + "<url><loc>http://a/2</loc></url\n<<x>></urlset>", ["http://a/1"], "a malformed end tag")
        check(ok + "< url><loc>http://a/2</loc></url></urlset>", ["http://a/1"], "'<' not followed by a name")
        check(ok + "<url <loc>http://a/2</loc></url></urlset>", ["http://a/1"], "'<' inside a tag")
        check(ok + "</urlset></url>", ["http://a/1"], "</url> closes nothing")
        check(ok + "</urlset>text", ["http://a/1"], "content after the root element")
        check(ok + "</urlset><urlset></urlset>", ["http://a/1"], "a second root element")
        check("<?xml version=\"1.0\"?>x<urlset/>", [], "text before the root element")
        check("<urlset>" + String(repeating: "<a>", count: 70), [], "elements nested deeper than 64")
        // A document that breaks off: complete entries stand, even one whose </url> is missing.
        check(ok + "<url><loc>http://a/2</loc>", ["http://a/1", "http://a/2"], "the document ends with <url> open")
        check(ok + "<url><loc>http://a/2", ["http://a/1"], "the document ends with <loc> open")
        check(ok + "<url><loc>http://a/2</loc></url><!-- open", ["http://a/1", "http://a/2"], "the document ends inside markup")
        // Well-formed enough: nothing to report.
        let fine = Self.read(ok + "</urlset>\n<!-- after --><?pi?>\n")
        #expect(fine.summary.error == nil && fine.entries.count == 1)
        #expect(Self.read("<urlset/>").summary == {
            var s = SitemapSummary()
            s.kind = .urlset
            s.bytes = 9
            return s
        }())
    }

    // MARK: - The body consumer

    @Test func consumerBuffersUntilDrainedAndStartsOverOnBegin() {
        let doc = Array(Self.urlset((0..<10).map { "http://a/\($0)" }).utf8)
        let consumer = SitemapConsumer()
        consumer.begin()
        doc[..<(doc.count / 2)].withUnsafeBytes { consumer.consume($0, contentType: "application/xml") }
        let first = consumer.drain()
        #expect(!first.isEmpty && first.count < 10)
        // A retry: the reader starts over, nothing of the first try remains.
        consumer.begin()
        doc.withUnsafeBytes { consumer.consume($0, contentType: nil) }
        let summary = consumer.finish()
        #expect(consumer.drain().map(\.loc) == (0..<10).map { "http://a/\($0)" })
        #expect(consumer.drain().isEmpty)
        #expect(summary.entries == 10 && summary.kind == .urlset && summary.error == nil)
    }

    @Test func consumerHandsOutBatches() {
        let doc = Array(Self.urlset((0..<25).map { "http://a/\($0)" }).utf8)
        final class Box: @unchecked Sendable { var batches: [[SitemapEntry]] = [] }
        let box = Box()
        let consumer = SitemapConsumer(batchSize: 10) { box.batches.append($0) }
        consumer.begin()
        for i in doc.indices {
            doc[i...i].withUnsafeBytes { consumer.consume($0, contentType: nil) }
        }
        #expect(box.batches.map(\.count) == [10, 10])
        _ = consumer.finish()
        #expect(box.batches.map(\.count) == [10, 10, 5])
        #expect(box.batches.flatMap { $0 }.map(\.loc) == (0..<25).map { "http://a/\($0)" })
        #expect(consumer.drain().isEmpty)
    }
}
