import Testing
@testable import Spate

/// robots.txt per RFC 9309 (and Google's robotstxt where the RFC is silent).
@Suite struct RobotsTests {
    static func parse(_ text: String, _ token: String = "spate") -> RobotsRules {
        RobotsRules(parsing: Array(text.utf8), productToken: token)
    }

    static func allowed(_ rules: RobotsRules, _ path: String) -> Bool {
        rules.decide(path).allowed
    }

    // MARK: Matching

    @Test func longestMatchWins() {
        let r = Self.parse("""
            User-agent: spate
            Allow: /p
            Disallow: /p/private
            Disallow: /folder
            Allow: /folder/page
            """)
        #expect(r.decide("/p/private/x") == RobotsDecision(allowed: false, rule: "Disallow: /p/private", line: 3))
        #expect(r.decide("/p/public") == RobotsDecision(allowed: true, rule: "Allow: /p", line: 2))
        #expect(r.decide("/folder/page.html") == RobotsDecision(allowed: true, rule: "Allow: /folder/page", line: 5))
        #expect(r.decide("/folder/other") == RobotsDecision(allowed: false, rule: "Disallow: /folder", line: 4))
        #expect(r.decide("/elsewhere") == RobotsDecision(allowed: true, rule: nil, line: nil))
    }

    @Test func longestMatchCountsWildcardsAndAnchors() {
        // "/*/x/y" (6 octets) beats "/a/x" (4) even though it is less literal.
        let r = Self.parse("User-agent: *\nAllow: /a/x\nDisallow: /*/x/y\n")
        #expect(r.decide("/a/x/y") == RobotsDecision(allowed: false, rule: "Disallow: /*/x/y", line: 3))
        #expect(r.decide("/a/x/z") == RobotsDecision(allowed: true, rule: "Allow: /a/x", line: 2))
    }

    @Test func allowWinsTies() {
        let same = Self.parse("User-agent: *\nDisallow: /page\nAllow: /page\n")
        #expect(same.decide("/page") == RobotsDecision(allowed: true, rule: "Allow: /page", line: 3))
        // Different patterns of equal length (5 octets each) that both match.
        let equalLength = Self.parse("User-agent: *\nDisallow: /page\nAllow: /pa*e\n")
        #expect(equalLength.decide("/page.html") == RobotsDecision(allowed: true, rule: "Allow: /pa*e", line: 3))
        // One octet longer Disallow wins.
        let longer = Self.parse("User-agent: *\nDisallow: /pages\nAllow: /pa*e\n")
        #expect(!Self.allowed(longer, "/pages"))
    }

    @Test func wildcardInTheMiddle() {
        let r = Self.parse("User-agent: *\nDisallow: /a/*/c\n")
        #expect(!Self.allowed(r, "/a/b/c"))
        #expect(!Self.allowed(r, "/a/bbb/c/d"))      // still a prefix match after the literal
        #expect(!Self.allowed(r, "/a//c"))
        #expect(!Self.allowed(r, "/a/x/y/c"))
        #expect(Self.allowed(r, "/a/c"))
        #expect(Self.allowed(r, "/a/b/d"))
        #expect(Self.allowed(r, "/b/x/c"))
    }

    @Test func dollarAnchorsToTheEnd() {
        let r = Self.parse("User-agent: *\nDisallow: /exact$\nDisallow: /a$b\n")
        #expect(r.decide("/exact") == RobotsDecision(allowed: false, rule: "Disallow: /exact$", line: 2))
        #expect(Self.allowed(r, "/exact/"))
        #expect(Self.allowed(r, "/exactly"))
        #expect(Self.allowed(r, "/exact?x=1"))
        // "$" not at the end is a literal.
        #expect(!Self.allowed(r, "/a$b"))
        #expect(!Self.allowed(r, "/a$bc"))
        #expect(Self.allowed(r, "/a"))
    }

    @Test func starAndDollarCombined() {
        let r = Self.parse("""
            User-agent: *
            Disallow: /*.pdf$
            Allow: /public/*.pdf$
            Disallow: /*.php*$
            """)
        #expect(!Self.allowed(r, "/x/y.pdf"))
        #expect(!Self.allowed(r, "/.pdf"))
        #expect(!Self.allowed(r, "/a.pdf.pdf"))
        #expect(Self.allowed(r, "/y.pdf?x=1"))
        #expect(Self.allowed(r, "/y.pdfs"))
        #expect(Self.allowed(r, "/y.PDF"))          // paths are case-sensitive
        #expect(r.decide("/public/doc.pdf") == RobotsDecision(allowed: true, rule: "Allow: /public/*.pdf$", line: 3))
        // "*$" at the end anchors nothing.
        #expect(!Self.allowed(r, "/index.php"))
        #expect(!Self.allowed(r, "/index.php?q=1"))
        #expect(Self.allowed(r, "/index.ph"))
    }

    @Test func queryStrings() {
        let r = Self.parse("""
            User-agent: *
            Disallow: /search?
            Disallow: /*?sessionid=
            Allow: /*?lang=
            """)
        #expect(!Self.allowed(r, "/search?q=1"))
        #expect(Self.allowed(r, "/search"))
        #expect(Self.allowed(r, "/searches"))
        #expect(!Self.allowed(r, "/a/b?sessionid=42"))
        #expect(Self.allowed(r, "/a/b?x=1&sessionid=42"))
        #expect(r.decide("/search?lang=en") == RobotsDecision(allowed: true, rule: "Allow: /*?lang=", line: 4))
        // A fragment is not part of what is matched.
        #expect(Self.allowed(r, "/search#?x"))
    }

    @Test func patternWithoutLeadingSlashIsLenient() {
        let r = Self.parse("User-agent: *\nDisallow: private\nAllow: *.css\n")
        #expect(r.decide("/private/x") == RobotsDecision(allowed: false, rule: "Disallow: private", line: 2))
        #expect(Self.allowed(r, "/privat"))
        // "/private" (8 octets after the added "/") beats "*.css" (5).
        #expect(!Self.allowed(r, "/private/site.css"))
        #expect(r.decide("/site.css") == RobotsDecision(allowed: true, rule: "Allow: *.css", line: 3))
    }

    // MARK: Groups

    @Test func groupSelectedByExactToken() {
        let r = Self.parse("""
            User-agent: otherbot
            Disallow: /other

            User-agent: spate
            Disallow: /mine

            User-agent: *
            Disallow: /
            """)
        #expect(r.group == "spate")
        #expect(!Self.allowed(r, "/mine"))
        #expect(Self.allowed(r, "/other"))
        #expect(Self.allowed(r, "/"))
    }

    @Test func groupTokenIsCaseInsensitive() {
        let r = Self.parse("User-agent: SPATE\nDisallow: /x\n\nUser-agent: *\nDisallow: /\n", "Spate")
        #expect(r.group == "SPATE")
        #expect(!Self.allowed(r, "/x"))
        #expect(Self.allowed(r, "/y"))
    }

    @Test func groupValueWithVersionMatchesToken() {
        let r = Self.parse("User-agent: Spate/2.1 (+https://example.com)\nDisallow: /v\n\nUser-agent: *\nDisallow: /\n")
        #expect(r.group == "Spate/2.1 (+https://example.com)")
        #expect(!Self.allowed(r, "/v"))
        #expect(Self.allowed(r, "/w"))
    }

    @Test func longerTokensDoNotMatch() {
        // "spatebot" and "spate-bot" are other products; the fallback is "*".
        let r = Self.parse("""
            User-agent: spatebot
            Disallow: /a
            User-agent: spate-bot
            Disallow: /b
            User-agent: *
            Disallow: /c
            """)
        #expect(r.group == "*")
        #expect(Self.allowed(r, "/a"))
        #expect(Self.allowed(r, "/b"))
        #expect(r.decide("/c") == RobotsDecision(allowed: false, rule: "Disallow: /c", line: 6))
    }

    @Test func fallbackToStarGroup() {
        let r = Self.parse("User-agent: googlebot\nDisallow: /g\n\nUser-agent: *\nDisallow: /star\nCrawl-delay: 3\n")
        #expect(r.group == "*")
        #expect(!Self.allowed(r, "/star/x"))
        #expect(Self.allowed(r, "/g"))
        #expect(r.crawlDelay == 3)
    }

    @Test func groupsForTheSameTokenAreMerged() {
        let r = Self.parse("""
            User-agent: spate
            Disallow: /one

            User-agent: *
            Disallow: /star

            user-agent: Spate
            Disallow: /two
            Allow: /one/ok
            """)
        #expect(r.group == "spate")
        #expect(!Self.allowed(r, "/one"))
        #expect(!Self.allowed(r, "/two"))
        #expect(r.decide("/one/ok") == RobotsDecision(allowed: true, rule: "Allow: /one/ok", line: 9))
        #expect(Self.allowed(r, "/star"))
    }

    @Test func consecutiveUserAgentLinesShareAGroup() {
        let r = Self.parse("User-agent: a\nUser-agent: spate\nUser-agent: b\nDisallow: /shared\n")
        #expect(!Self.allowed(r, "/shared"))
        let star = Self.parse("User-agent: spate\nUser-agent: *\nDisallow: /both\n", "other")
        #expect(star.group == "*")
        #expect(!Self.allowed(star, "/both"))
    }

    @Test func noMatchingGroupAllowsEverything() {
        let r = Self.parse("User-agent: googlebot\nDisallow: /\n")
        #expect(r.group == nil)
        #expect(r.decide("/anything") == RobotsDecision(allowed: true, rule: nil, line: nil))
        #expect(r.crawlDelay == nil)
        let empty = Self.parse("")
        #expect(empty.group == nil)
        #expect(Self.allowed(empty, "/"))
    }

    @Test func matchingGroupWithoutRulesAllowsEverything() {
        // A group for the token exists, so "*" is not used even though it has rules.
        let r = Self.parse("User-agent: *\nDisallow: /\n\nUser-agent: spate\n")
        #expect(r.group == "spate")
        #expect(Self.allowed(r, "/x"))
    }

    @Test func rulesBeforeAnyUserAgentAreIgnored() {
        let r = Self.parse("""
            Disallow: /early
            Crawl-delay: 9
            User-agent: *
            Disallow: /late
            """)
        #expect(Self.allowed(r, "/early"))
        #expect(!Self.allowed(r, "/late"))
        #expect(r.crawlDelay == nil)
    }

    @Test func ruleLineEndsTheUserAgentRun() {
        // The empty Disallow is still a group member: "other" starts a new group.
        let r = Self.parse("User-agent: spate\nDisallow:\n\nUser-agent: other\nDisallow: /\n")
        #expect(r.group == "spate")
        #expect(Self.allowed(r, "/x"))
        // Sitemap and unknown lines do not end it.
        let s = Self.parse("User-agent: other\nSitemap: https://e.com/s.xml\nFoo: bar\nUser-agent: spate\nDisallow: /\n")
        #expect(!Self.allowed(s, "/x"))
        // A user-agent after rules starts a new group.
        let t = Self.parse("User-agent: spate\nDisallow: /a\nUser-agent: other\nDisallow: /b\n")
        #expect(!Self.allowed(t, "/a"))
        #expect(Self.allowed(t, "/b"))
    }

    // MARK: Syntax

    @Test func commentsAreStripped() {
        let r = Self.parse("""
            # robots for example.com
            User-agent: spate # our bot
            Disallow: /a # hidden
            # Disallow: /b
            Disallow: /c#d
            """)
        #expect(r.group == "spate")
        #expect(r.decide("/a") == RobotsDecision(allowed: false, rule: "Disallow: /a", line: 3))
        #expect(Self.allowed(r, "/b"))
        #expect(r.decide("/cx") == RobotsDecision(allowed: false, rule: "Disallow: /c", line: 5))
    }

    @Test func whitespaceAndFieldNameCase() {
        let r = Self.parse("  USER-AGENT  :   spate  \n\tdisALLOW:\t/tab\t\nALLOW : /tab/ok\n")
        #expect(r.decide("/tab/x") == RobotsDecision(allowed: false, rule: "Disallow: /tab", line: 2))
        #expect(r.decide("/tab/ok") == RobotsDecision(allowed: true, rule: "Allow: /tab/ok", line: 3))
    }

    @Test func commonMisspellingsAndMissingColon() {
        let r = Self.parse("Useragent: spate\nDissallow: /one\nDisalow: /two\nDisallow /three\nuser agent: x\n")
        #expect(r.group == "spate")
        #expect(r.decide("/one") == RobotsDecision(allowed: false, rule: "Disallow: /one", line: 2))
        #expect(!Self.allowed(r, "/two"))
        #expect(r.decide("/three") == RobotsDecision(allowed: false, rule: "Disallow: /three", line: 4))
        // Without a colon only two words are accepted.
        let three = Self.parse("User-agent: spate\nDisallow /a /b\n")
        #expect(Self.allowed(three, "/a"))
        let spaced = Self.parse("User agent: spate\nDisallow: /s\n")
        #expect(!Self.allowed(spaced, "/s"))
    }

    @Test func crlfAndCrLineEnds() {
        let crlf = Self.parse("User-agent: *\r\nDisallow: /a\r\n\r\nAllow: /a/b\r\n")
        #expect(crlf.decide("/a/x") == RobotsDecision(allowed: false, rule: "Disallow: /a", line: 2))
        #expect(crlf.decide("/a/b") == RobotsDecision(allowed: true, rule: "Allow: /a/b", line: 4))
        let cr = Self.parse("User-agent: *\rDisallow: /a\r\rAllow: /a/b\r")
        #expect(cr.decide("/a/x") == RobotsDecision(allowed: false, rule: "Disallow: /a", line: 2))
        #expect(cr.decide("/a/b") == RobotsDecision(allowed: true, rule: "Allow: /a/b", line: 4))
        let mixed = Self.parse("User-agent: *\nDisallow: /a\r\n\rDisallow: /b")
        #expect(mixed.decide("/b") == RobotsDecision(allowed: false, rule: "Disallow: /b", line: 4))
    }

    @Test func byteOrderMarkIsTolerated() {
        let body: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("User-agent: spate\nDisallow: /bom\n".utf8)
        let r = RobotsRules(parsing: body, productToken: "spate")
        #expect(r.group == "spate")
        #expect(r.decide("/bom") == RobotsDecision(allowed: false, rule: "Disallow: /bom", line: 2))
    }

    @Test func emptyDisallowIsNoRule() {
        let r = Self.parse("User-agent: *\nDisallow:\n")
        #expect(r.group == "*")
        #expect(r.decide("/") == RobotsDecision(allowed: true, rule: nil, line: nil))
        #expect(r.decide("/anything") == RobotsDecision(allowed: true, rule: nil, line: nil))
        let emptyAllow = Self.parse("User-agent: *\nAllow:\nDisallow: /x\n")
        #expect(!Self.allowed(emptyAllow, "/x"))
    }

    // MARK: Percent-encoding

    @Test func percentEncodingEquivalence() {
        let r = Self.parse("""
            User-agent: *
            Disallow: /a%3cd
            Disallow: /%7Efoo
            Disallow: /~bar
            Disallow: /foo/ツ
            Disallow: /foo/bar/%62%61%7A
            Disallow: /x%2Fy
            """)
        #expect(!Self.allowed(r, "/a%3Cd"))
        #expect(!Self.allowed(r, "/a%3cd"))
        #expect(!Self.allowed(r, "/~foo"))
        #expect(!Self.allowed(r, "/%7efoo"))
        #expect(!Self.allowed(r, "/%7Ebar"))
        #expect(!Self.allowed(r, "/foo/%E3%83%84"))
        #expect(!Self.allowed(r, "/foo/%e3%83%84"))
        #expect(!Self.allowed(r, "/foo/ツ"))
        #expect(!Self.allowed(r, "/foo/bar/baz"))
        #expect(!Self.allowed(r, "/foo/bar/%62az"))
        // Reserved characters stay encoded: "%2F" is not "/".
        #expect(!Self.allowed(r, "/x%2fy"))
        #expect(Self.allowed(r, "/x/y"))
        #expect(r.decide("/%7Efoo/x").rule == "Disallow: /%7Efoo")
    }

    @Test func percentNormalisationDeterminesLength() {
        // "/%7Ea" normalises to "/~a" (3 octets), shorter than "/~ab" (4).
        let r = Self.parse("User-agent: *\nDisallow: /%7Ea\nAllow: /~ab\n")
        #expect(Self.allowed(r, "/~abc"))
        #expect(!Self.allowed(r, "/~ac"))
        #expect(RobotsRules.normalisedPath("/%7e%2f%e3x") == Array("/~%2F%E3x".utf8))
        #expect(RobotsRules.normalisedPath("/a b%zz#frag") == Array("/a%20b%zz".utf8))
    }

    // MARK: Crawl-delay and sitemaps

    @Test func crawlDelayOfTheApplicableGroup() {
        let text = """
            User-agent: *
            Crawl-delay: 10

            User-agent: spate
            Crawl-delay: 2.5
            Disallow: /x
            """
        #expect(Self.parse(text).crawlDelay == 2.5)
        #expect(Self.parse(text, "other").crawlDelay == 10)
    }

    @Test func crawlDelayTakesLargestAndIgnoresInvalid() {
        let r = Self.parse("""
            User-agent: spate
            Crawl-delay: 1
            Crawl-delay: -5
            Crawl-delay: abc
            Crawl-delay: 1e9
            User-agent: *
            Crawl-delay: 100
            User-agent: spate
            crawl-delay: 4
            Crawl-delay: 3
            """)
        #expect(r.crawlDelay == 4)
        let invalid = Self.parse("User-agent: spate\nCrawl-delay: soon\nCrawl-delay: -1\n")
        #expect(invalid.crawlDelay == nil)
        #expect(invalid.group == "spate")
        #expect(Self.parse("User-agent: spate\nCrawl-delay: .5\n").crawlDelay == 0.5)
    }

    @Test func sitemapsCollectedAcrossGroups() {
        let r = Self.parse("""
            Sitemap: https://example.com/first.xml
            User-agent: googlebot
            Sitemap: https://example.com/second.xml
            Disallow: /
            User-agent: spate
            sitemap:   https://example.com/third.xml?x=1  # trailing comment
            Disallow: /s
            Sitemap:
            """)
        #expect(r.sitemaps == [
            "https://example.com/first.xml",
            "https://example.com/second.xml",
            "https://example.com/third.xml?x=1",
        ])
        #expect(r.group == "spate")
        #expect(!Self.allowed(r, "/s"))
        #expect(Self.parse("User-agent: *\nDisallow: /\n").sitemaps.isEmpty)
    }

    // MARK: Special cases

    @Test func robotsTxtIsAlwaysAllowed() {
        let r = Self.parse("User-agent: *\nDisallow: /\nDisallow: /robots.txt$\n")
        #expect(r.decide("/robots.txt") == RobotsDecision(allowed: true, rule: nil, line: nil))
        #expect(r.decide("/robots%2etxt") == RobotsDecision(allowed: true, rule: nil, line: nil))
        #expect(r.decide("/robots.txt?x=1") == RobotsDecision(allowed: false, rule: "Disallow: /", line: 2))
        #expect(RobotsRules.disallowAll.decide("/robots.txt") == RobotsDecision(allowed: true, rule: nil, line: nil))
    }

    @Test func allowAllAndDisallowAll() {
        for path in ["/", "/a/b?c=d", "/robots.txt"] {
            #expect(RobotsRules.allowAll.decide(path) == RobotsDecision(allowed: true, rule: nil, line: nil))
        }
        for path in ["/", "/a/b?c=d", "/robots.txt.bak"] {
            #expect(RobotsRules.disallowAll.decide(path) == RobotsDecision(allowed: false, rule: nil, line: nil))
        }
        #expect(RobotsRules.allowAll.group == nil)
        #expect(RobotsRules.disallowAll.group == nil)
        #expect(RobotsRules.allowAll.crawlDelay == nil)
        #expect(RobotsRules.disallowAll.sitemaps.isEmpty)
    }

    @Test func largeFileParsesFirst512KiB() {
        var text = "User-agent: *\n"
        let filler = "# " + String(repeating: "x", count: 97) + "\n"   // 100 bytes
        var lines = 1
        while text.utf8.count < 490 * 1024 { text += filler; lines += 1 }
        text += "Disallow: /deep/\n"
        let deepLine = lines + 1
        lines += 1
        while text.utf8.count < 600 * 1024 { text += filler; lines += 1 }
        text += "Disallow: /beyond/\nAllow: /deep/\n"
        #expect(text.utf8.count > 600 * 1024)
        let r = Self.parse(text)
        #expect(r.decide("/deep/x") == RobotsDecision(allowed: false, rule: "Disallow: /deep/", line: deepLine))
        #expect(r.decide("/beyond/x") == RobotsDecision(allowed: true, rule: nil, line: nil))
    }

    @Test func lineCutByTheLimitIsDropped() {
        // "Disallow: /abcdef" straddles byte 512 Ki: it must not become "Disallow: /abc".
        var body = Array("User-agent: *\n".utf8)
        let rule = Array("Disallow: /abcdef\n".utf8)
        let pad = RobotsRules.maxParsedBytes - body.count - 14
        body += [UInt8(ascii: "#")] + [UInt8](repeating: UInt8(ascii: " "), count: pad - 2) + [UInt8(ascii: "\n")]
        body += rule
        #expect(body.count > RobotsRules.maxParsedBytes)
        let r = RobotsRules(parsing: body, productToken: "spate")
        #expect(Self.allowed(r, "/abc"))
        #expect(Self.allowed(r, "/abcdef"))
        // Ending exactly at the limit with its newline just beyond still counts.
        var exact = Array("User-agent: *\n".utf8)
        exact += [UInt8(ascii: "#")] + [UInt8](repeating: UInt8(ascii: " "), count: RobotsRules.maxParsedBytes - exact.count - rule.count - 1)
        exact += [UInt8(ascii: "\n")] + rule
        #expect(exact.count == RobotsRules.maxParsedBytes + 1)
        #expect(!Self.allowed(RobotsRules(parsing: exact, productToken: "spate"), "/abcdef"))
    }

    @Test func pathologicalPatternTerminates() {
        let r = Self.parse("""
            User-agent: *
            Disallow: /*a*a*a*a*a*a*a*a*a*b
            Allow: /*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c$
            """)
        let many = String(repeating: "a", count: 50_000)
        #expect(Self.allowed(r, "/" + many))
        #expect(r.decide("/" + many + "b") == RobotsDecision(allowed: false, rule: "Disallow: /*a*a*a*a*a*a*a*a*a*b", line: 2))
        #expect(r.decide("/" + many + "c").rule == "Allow: /*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c$")
        #expect(r.decide("/" + many + "cx") == RobotsDecision(allowed: true, rule: nil, line: nil))
        let stars = Self.parse("User-agent: *\nDisallow: /" + String(repeating: "*", count: 10_000) + "z$\n")
        #expect(!Self.allowed(stars, "/" + many + "z"))
        #expect(Self.allowed(stars, "/" + many))
    }

    @Test func lineNumbersOfDecidingRules() {
        let r = Self.parse("""
            # header

            User-agent: *
            Disallow: /a

            # between
            Allow: /a/b
            Disallow: /a/b/c
            Disallow: /a
            """)
        #expect(r.decide("/a/x").line == 4)    // first of two identical rules
        #expect(r.decide("/a/b").line == 7)
        #expect(r.decide("/a/b/c/d").line == 8)
        #expect(r.decide("/z").line == nil)
    }

    // MARK: RFC 9309 §5

    static let rfcSimpleExample = """
        User-Agent: *
        Disallow: *.gif$
        Disallow: /example/
        Allow: /publications/

        User-Agent: foobot
        Disallow:/
        Allow:/example/page.html
        Allow:/example/allowed.gif

        User-Agent: barbot
        User-Agent: bazbot
        Disallow: /example/page.html

        User-Agent: quxbot

        EOF
        """

    @Test func rfcSimpleExample() {
        let foobot = Self.parse(Self.rfcSimpleExample, "foobot")
        #expect(foobot.group == "foobot")
        #expect(foobot.decide("/example/page.html") == RobotsDecision(allowed: true, rule: "Allow: /example/page.html", line: 8))
        #expect(Self.allowed(foobot, "/example/allowed.gif"))
        #expect(foobot.decide("/example/other.html") == RobotsDecision(allowed: false, rule: "Disallow: /", line: 7))
        #expect(!Self.allowed(foobot, "/"))

        for bot in ["barbot", "bazbot", "BazBot"] {
            let r = Self.parse(Self.rfcSimpleExample, bot)
            #expect(!Self.allowed(r, "/example/page.html"))
            #expect(!Self.allowed(r, "/example/page.html.bak"))
            #expect(Self.allowed(r, "/example/other.gif"))
            #expect(Self.allowed(r, "/example/"))
        }

        let quxbot = Self.parse(Self.rfcSimpleExample, "quxbot")
        #expect(quxbot.group == "quxbot")
        #expect(Self.allowed(quxbot, "/example/page.html"))
        #expect(Self.allowed(quxbot, "/a.gif"))

        let other = Self.parse(Self.rfcSimpleExample)
        #expect(other.group == "*")
        #expect(other.decide("/images/cat.gif") == RobotsDecision(allowed: false, rule: "Disallow: *.gif$", line: 2))
        #expect(!Self.allowed(other, "/example/page.html"))
        #expect(other.decide("/publications/paper.gif") == RobotsDecision(allowed: true, rule: "Allow: /publications/", line: 4))
        #expect(Self.allowed(other, "/cat.gif?size=2"))
        #expect(Self.allowed(other, "/"))
    }

    @Test func rfcLongestMatchExample() {
        let r = Self.parse("""
            User-Agent: foobot
            Allow: /example/page/
            Disallow: /example/page/disallowed.gif
            """, "foobot")
        #expect(r.decide("/example/page/disallowed.gif") == RobotsDecision(allowed: false, rule: "Disallow: /example/page/disallowed.gif", line: 3))
        #expect(r.decide("/example/page/allowed.gif") == RobotsDecision(allowed: true, rule: "Allow: /example/page/", line: 2))
    }

    @Test func rfcSpecialCharacterExamples() {
        let dollar = Self.parse("User-agent: *\nDisallow: /\nAllow: /this/path/exactly$ # only this\n")
        #expect(dollar.decide("/this/path/exactly") == RobotsDecision(allowed: true, rule: "Allow: /this/path/exactly$", line: 3))
        #expect(!Self.allowed(dollar, "/this/path/exactly2"))
        #expect(!Self.allowed(dollar, "/this/path/exactly?x=1"))
        #expect(!Self.allowed(dollar, "/this/path/"))
        let star = Self.parse("User-agent: *\nDisallow: /\nAllow: /this/*/exactly\n")
        #expect(Self.allowed(star, "/this/path/exactly"))
        #expect(Self.allowed(star, "/this/other/path/exactly"))
        #expect(Self.allowed(star, "/this/x/exactly/and/more"))
        #expect(!Self.allowed(star, "/this/exactly"))
        #expect(!Self.allowed(star, "/that"))
    }
}
