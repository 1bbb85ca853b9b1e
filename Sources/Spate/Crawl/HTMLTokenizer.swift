import Glibc

/// A streaming HTML tokenizer that follows the WHATWG tokenization states closely enough
/// to find the tags a crawler cares about, without building a tree.
///
/// It is fed arbitrary chunks of bytes and keeps only the current token between calls:
/// the tag name, the values of the few attributes the sink asked for (each capped at
/// `maxAttributeValue`), and at most a few bytes of look-ahead (`<!DOCTYPE`, `</script`).
/// Text is never copied: it is handed to the sink as slices of the chunk, and only while
/// the sink says it wants text.
///
/// Differences from the WHATWG tokenizer, all deliberate:
/// - The tokenizer itself switches to RCDATA (`title`, `textarea`), RAWTEXT (`style`,
///   `xmp`, `iframe`, `noembed`, `noframes`, and `script`) and PLAINTEXT after the
///   corresponding start tag, as the tree builder would in HTML content. There is no tree,
///   so foreign content is not modelled: `<svg><style>` is RAWTEXT here and `<![CDATA[`
///   is always a bogus comment (ending at the first `>`).
/// - Script data is treated as RAWTEXT: the script-data escape states (`<!--` … `<script>`
///   nesting inside a script) are not modelled, so `</script>` always ends a script.
/// - The comment less-than-sign states are folded into the comment state: they only change
///   which parse errors are reported, never where a comment ends.
/// - DOCTYPE tokens are skipped to the next `>` (which is where every DOCTYPE state ends).
/// - CR is not normalised to LF; it is whitespace wherever whitespace matters and stays in
///   attribute values as written (URL parsers drop tabs and newlines anyway).
/// - Character references are decoded by the sink, on the complete value (see HTMLEntities).
/// - One tree-builder rule is borrowed: a start tag `image` is reported as `img`.
/// - Only attributes from `HTMLAttributeName` are kept, and only on start tags the sink asks
///   for; "first one wins" for duplicates is applied to those.
struct HTMLTokenizer {
    /// Longest attribute value kept; a longer one is consumed but dropped.
    static let maxAttributeValue = 64 * 1024
    /// Most value-buffer capacity kept once a document is finished.
    static let keptArenaCapacity = 4096

    private(set) var state: HTMLState = .data

    // The tag token being built.
    private var tagIsEnd = false
    private var tagName = HTMLNameBuffer()
    private var tagID: HTMLTagName = .other
    private var storing = false          // keep attribute values for this tag
    private var selfClosing = false
    private var attributeName = HTMLNameBuffer()
    private var currentSlot = -1         // attribute whose value is being kept, or -1
    private var seen: UInt16 = 0         // kept attributes already on the tag (first wins)
    private var present: UInt16 = 0      // kept attributes with a value within the cap
    /// One per `HTMLAttributeName`, made by the first kept attribute (a `present` bit is set
    /// only after that): a new or reset tokenizer allocates nothing.
    private var slots: [HTMLAttributeSlot] = []
    /// The kept values, back to back, in `arena[0..<arenaUsed]`. The array is only ever
    /// grown (with zeros) and overwritten: emptying it per tag and appending (the generic
    /// `removeAll` and `append(contentsOf:)` of Array) cost ~2,500 instructions a page.
    private var arena: [UInt8] = []
    private var arenaUsed = 0

    // Markup declaration open: which keyword is being matched and how far.
    private var declarationKind: UInt8 = 0
    private var declarationMatched = 0

    // RCDATA / RAWTEXT: the element whose end tag ends it, and the bytes after `</` so far.
    private var rawIsRCDATA = false
    private var rawTag: HTMLTagName = .other
    private var rawName = HTMLNameBuffer()
    private var rawTemp = HTMLNameBuffer()

    init() {}

    mutating func feed<Sink: HTMLTokenSink>(_ buf: UnsafeRawBufferPointer, into sink: inout Sink) {
        let n = buf.count
        var i = 0
        while i < n {
            switch state {
            // The common path through a tag (data, tag open, tag name, attribute name,
            // value, after value) falls through from one state to the next instead of going
            // back round the dispatch; the cases are in that order for it.
            case .data:
                let start = i
                i = HTMLByte.index(of: HTMLByte.lt, in: buf, from: i)
                if i > start && sink.wantsText { sink.text(UnsafeRawBufferPointer(rebasing: buf[start..<i])) }
                if i < n {
                    i &+= 1
                    state = .tagOpen
                    if i < n { fallthrough }
                }

            case .tagOpen:
                let c = buf[i]
                if HTMLByte.isAlpha(c) {
                    beginTag(end: false); state = .tagName               // reconsume
                    fallthrough
                } else if c == UInt8(ascii: "!") {
                    i &+= 1; declarationKind = 0; declarationMatched = 0; state = .markupDeclarationOpen
                } else if c == UInt8(ascii: "/") {
                    i &+= 1; state = .endTagOpen
                } else if c == UInt8(ascii: "?") {
                    state = .bogusComment                                // reconsume
                } else {
                    emitLiteral(HTMLByte.lessThanText, to: &sink); state = .data   // reconsume
                }

            case .tagName:
                // The name is built in a local (registers), not in `self` byte by byte.
                var name = tagName
                while i < n {
                    let c = buf[i]
                    if c > HTMLByte.gt {
                        name.append(HTMLByte.lower(c))
                    } else if c == HTMLByte.gt || c == HTMLByte.slash || HTMLByte.isSpace(c) {
                        break
                    } else if c == 0 {
                        name.appendReplacementCharacter()
                    } else {
                        name.append(c)
                    }
                    i &+= 1
                }
                tagName = name
                if i < n {
                    let c = buf[i]
                    i &+= 1
                    finishTagName(&sink)
                    if c == HTMLByte.gt { emitTag(&sink) }
                    else if c == HTMLByte.slash { state = .selfClosingStartTag }
                    else {
                        state = .beforeAttributeName
                        if i < n { fallthrough }
                    }
                }

            case .beforeAttributeName:
                while i < n && HTMLByte.isSpace(buf[i]) { i &+= 1 }
                guard i < n else { break }
                let c = buf[i]
                if c == HTMLByte.slash {
                    i &+= 1; state = .selfClosingStartTag
                } else if c == HTMLByte.gt {
                    i &+= 1; emitTag(&sink)
                } else if c == HTMLByte.equals {
                    // `<a =x>`: an attribute whose name starts with `=`.
                    i &+= 1; attributeName.reset(); attributeName.append(c); state = .attributeName
                    fallthrough
                } else {
                    attributeName.reset(); state = .attributeName          // reconsume
                    fallthrough
                }

            case .attributeName:
                var name = attributeName
                while i < n {
                    let c = buf[i]
                    if c > HTMLByte.gt {
                        name.append(HTMLByte.lower(c))
                    } else if c == HTMLByte.gt || c == HTMLByte.slash || c == HTMLByte.equals || HTMLByte.isSpace(c) {
                        break
                    } else if c == 0 {
                        name.appendReplacementCharacter()
                    } else {
                        name.append(c)                                  // includes `"`, `'`, `<`
                    }
                    i &+= 1
                }
                attributeName = name
                if i < n {
                    finishAttributeName()
                    if buf[i] == HTMLByte.equals {
                        i &+= 1; state = .beforeAttributeValue
                        if i < n { fallthrough }
                    } else {
                        state = .afterAttributeName                     // reconsume
                    }
                }

            case .beforeAttributeValue:
                while i < n && HTMLByte.isSpace(buf[i]) { i &+= 1 }
                guard i < n else { break }
                let c = buf[i]
                if c == HTMLByte.quote {
                    i &+= 1; state = .attributeValueDoubleQuoted
                    fallthrough
                } else if c == HTMLByte.apostrophe {
                    i &+= 1; state = .attributeValueSingleQuoted
                    fallthrough
                } else if c == HTMLByte.gt {
                    i &+= 1; emitTag(&sink)                             // missing value: stays empty
                } else {
                    state = .attributeValueUnquoted                     // reconsume
                }

            case .attributeValueDoubleQuoted, .attributeValueSingleQuoted:
                let quote = state == .attributeValueDoubleQuoted ? HTMLByte.quote : HTMLByte.apostrophe
                let start = i
                while i < n {
                    let c = buf[i]
                    if c == quote || c == 0 { break }
                    i &+= 1
                }
                if i > start { appendValue(UnsafeRawBufferPointer(rebasing: buf[start..<i])) }
                if i < n {
                    if buf[i] == 0 {
                        appendValue(HTMLByte.replacementCharacter)
                        i &+= 1
                    } else {
                        state = .afterAttributeValueQuoted
                        i &+= 1
                        if i < n { fallthrough }
                    }
                }

            case .afterAttributeValueQuoted:
                let c = buf[i]
                if HTMLByte.isSpace(c) {
                    i &+= 1; state = .beforeAttributeName
                } else if c == HTMLByte.slash {
                    i &+= 1; state = .selfClosingStartTag
                } else if c == HTMLByte.gt {
                    i &+= 1; emitTag(&sink)
                } else {
                    state = .beforeAttributeName                        // `a="x"b`: reconsume
                }

            case .endTagOpen:
                let c = buf[i]
                if HTMLByte.isAlpha(c) {
                    // A sink that ignores end tags' names: the tag ends at the first `>` when
                    // no quote comes before it (only a quoted attribute value, a parse error
                    // in an end tag, could hide a `>`); its name and attributes are dropped.
                    if !Sink.wantsEndTagNames, let end = HTMLByte.endOfPlainTag(buf, from: i) {
                        sink.endTag(.other)
                        i = end &+ 1
                        state = .data
                        continue
                    }
                    beginTag(end: true); state = .tagName                // reconsume
                } else if c == HTMLByte.gt {
                    i &+= 1; state = .data                               // `</>` is nothing
                } else {
                    state = .bogusComment                                // `</ >`, `</1>`: reconsume
                }

            case .afterAttributeName:
                let c = buf[i]
                if HTMLByte.isSpace(c) {
                    i &+= 1
                } else if c == HTMLByte.slash {
                    i &+= 1; state = .selfClosingStartTag
                } else if c == HTMLByte.equals {
                    i &+= 1; state = .beforeAttributeValue
                } else if c == HTMLByte.gt {
                    i &+= 1; emitTag(&sink)
                } else {
                    attributeName.reset(); state = .attributeName          // reconsume
                }

            case .attributeValueUnquoted:
                let start = i
                while i < n {
                    let c = buf[i]
                    if c <= HTMLByte.gt && (c == HTMLByte.gt || c == 0 || HTMLByte.isSpace(c)) { break }
                    i &+= 1                                             // includes `"'<=\``
                }
                if i > start { appendValue(UnsafeRawBufferPointer(rebasing: buf[start..<i])) }
                if i < n {
                    let c = buf[i]
                    i &+= 1
                    if c == HTMLByte.gt { emitTag(&sink) }
                    else if c == 0 { appendValue(HTMLByte.replacementCharacter) }
                    else { state = .beforeAttributeName }
                }

            case .selfClosingStartTag:
                if buf[i] == HTMLByte.gt {
                    i &+= 1; selfClosing = true; emitTag(&sink)
                } else {
                    state = .beforeAttributeName                        // reconsume
                }

            case .markupDeclarationOpen:
                // Matches `--`, `DOCTYPE` (any case) or `[CDATA[` one byte at a time, so a
                // chunk boundary may fall anywhere inside them.
                let c = buf[i]
                if declarationMatched == 0 {
                    if c == HTMLByte.dash { declarationKind = 0 }
                    else if c | 0x20 == UInt8(ascii: "d") { declarationKind = 1 }
                    else if c == UInt8(ascii: "[") { declarationKind = 2 }
                    else { state = .bogusComment; continue }            // `<!x`, `<!>`: reconsume
                } else {
                    let keyword = HTMLByte.declarationKeywords[Int(declarationKind)]
                    let expected = keyword.utf8Start[declarationMatched]
                    let ok = declarationKind == 1 ? HTMLByte.lower(c) == expected : c == expected
                    // A failed match leaves only keyword bytes (never `>`) behind, so the
                    // bogus comment can start at the current byte.
                    if !ok { state = .bogusComment; continue }
                }
                i &+= 1
                declarationMatched += 1
                if declarationMatched == HTMLByte.declarationKeywords[Int(declarationKind)].utf8CodeUnitCount {
                    // A comment; a DOCTYPE (skipped to `>`); CDATA outside foreign content
                    // is a bogus comment.
                    state = declarationKind == 0 ? .commentStart : .bogusComment
                }

            case .bogusComment:
                i = HTMLByte.index(of: HTMLByte.gt, in: buf, from: i)
                if i < n { i &+= 1; state = .data }

            case .commentStart:
                let c = buf[i]
                if c == HTMLByte.dash { i &+= 1; state = .commentStartDash }
                else if c == HTMLByte.gt { i &+= 1; state = .data }     // `<!-->`
                else { state = .comment }

            case .commentStartDash:
                let c = buf[i]
                if c == HTMLByte.dash { i &+= 1; state = .commentEnd }
                else if c == HTMLByte.gt { i &+= 1; state = .data }     // `<!--->`
                else { state = .comment }

            case .comment:
                i = HTMLByte.index(of: HTMLByte.dash, in: buf, from: i)
                if i < n { i &+= 1; state = .commentEndDash }

            case .commentEndDash:
                if buf[i] == HTMLByte.dash { i &+= 1; state = .commentEnd }
                else { state = .comment }

            case .commentEnd:
                let c = buf[i]
                if c == HTMLByte.gt { i &+= 1; state = .data }
                else if c == UInt8(ascii: "!") { i &+= 1; state = .commentEndBang }
                else if c == HTMLByte.dash { i &+= 1 }                  // `--->`
                else { state = .comment }

            case .commentEndBang:
                let c = buf[i]
                if c == HTMLByte.dash { i &+= 1; state = .commentEndDash }
                else if c == HTMLByte.gt { i &+= 1; state = .data }     // `--!>`
                else { state = .comment }

            case .rawText:
                let start = i
                i = HTMLByte.index(of: HTMLByte.lt, in: buf, from: i)
                if rawIsRCDATA && i > start && sink.wantsText {
                    sink.text(UnsafeRawBufferPointer(rebasing: buf[start..<i]))
                }
                if i < n { i &+= 1; state = .rawTextLessThan }

            case .rawTextLessThan:
                if buf[i] == HTMLByte.slash {
                    i &+= 1; rawTemp.reset(); state = .rawTextEndTagOpen
                } else {
                    emitRawLiteral(HTMLByte.lessThanText, to: &sink); state = .rawText
                }

            case .rawTextEndTagOpen:
                if HTMLByte.isAlpha(buf[i]) {
                    state = .rawTextEndTagName                          // reconsume
                } else {
                    emitRawLiteral(HTMLByte.endTagOpenText, to: &sink); state = .rawText
                }

            case .rawTextEndTagName:
                // Only the name of the element that started the raw text ends it. Bytes are
                // compared as they come: once they stop spelling that name the spec would
                // emit them as text anyway, so the look-ahead never exceeds the name.
                let c = buf[i]
                let matched = rawTemp.count
                if HTMLByte.isAlpha(c) && matched < rawName.count && HTMLByte.lower(c) == rawName.byte(at: matched) {
                    rawTemp.append(c)
                    i &+= 1
                } else if matched == rawName.count && (c == HTMLByte.gt || c == HTMLByte.slash || HTMLByte.isSpace(c)) {
                    // An appropriate end tag: it may still carry (ignored) attributes.
                    i &+= 1
                    beginTag(end: true)
                    tagName = rawName
                    tagID = rawTag
                    if c == HTMLByte.gt { emitTag(&sink) }
                    else if c == HTMLByte.slash { state = .selfClosingStartTag }
                    else { state = .beforeAttributeName }
                } else {
                    emitRawTemp(to: &sink); state = .rawText            // reconsume
                }

            case .plaintext:
                i = n
            }
        }
    }

    /// Back to the start of a new document, keeping the attribute buffers' memory. (The
    /// buffers are moved out first: emptied while `self` still held them, each would be
    /// copied — an allocation a page.)
    mutating func reset() {
        var slots: [HTMLAttributeSlot] = [], arena: [UInt8] = []
        swap(&slots, &self.slots)
        swap(&arena, &self.arena)
        if arena.count > Self.keptArenaCapacity { arena = [] }   // as `finish` keeps
        self = HTMLTokenizer()
        swap(&self.slots, &slots)
        swap(&self.arena, &arena)
    }

    /// End of input: per the EOF rules a pending tag is dropped, a pending `<` or `</` is text.
    mutating func finish<Sink: HTMLTokenSink>(into sink: inout Sink) {
        switch state {
        case .tagOpen: emitLiteral(HTMLByte.lessThanText, to: &sink)
        case .endTagOpen: emitLiteral(HTMLByte.endTagOpenText, to: &sink)
        case .rawTextLessThan: emitRawLiteral(HTMLByte.lessThanText, to: &sink)
        case .rawTextEndTagOpen: emitRawLiteral(HTMLByte.endTagOpenText, to: &sink)
        case .rawTextEndTagName: emitRawTemp(to: &sink)
        default: break
        }
        beginTag(end: false)
        // A reused tokenizer keeps a page's worth of value bytes for the next page.
        if arena.count > Self.keptArenaCapacity { arena = [] }
        state = .data
    }

    // MARK: - Tags

    @inline(__always)
    private mutating func beginTag(end: Bool) {
        tagIsEnd = end
        tagName.reset()
        tagID = .other
        storing = false
        selfClosing = false
        currentSlot = -1
        seen = 0
        present = 0
        if arenaUsed > 0 {
            if arena.count > 4 * Self.maxAttributeValue { arena = [] }
            arenaUsed = 0
        }
    }

    @inline(__always)
    private mutating func finishTagName<Sink: HTMLTokenSink>(_ sink: inout Sink) {
        tagID = HTMLTagName(tagName)
        storing = !tagIsEnd && sink.wantsAttributes(of: tagID)
    }

    /// Leaving the attribute-name state: decide whether this attribute's value is kept.
    @inline(__always)
    private mutating func finishAttributeName() {
        currentSlot = -1
        guard storing, let name = HTMLAttributeName(attributeName) else { return }
        let bit: UInt16 = 1 << name.rawValue
        guard seen & bit == 0 else { return }                           // duplicate: first wins
        seen |= bit
        present |= bit
        let slot = Int(name.rawValue)
        if slots.isEmpty { slots = [HTMLAttributeSlot](repeating: HTMLAttributeSlot(), count: HTMLAttributeName.allCases.count) }
        slots[slot] = HTMLAttributeSlot(start: Int32(arenaUsed), length: 0)
        currentSlot = slot
    }

    @inline(__always)
    private mutating func appendValue(_ bytes: UnsafeRawBufferPointer) {
        guard currentSlot >= 0 else { return }
        let length = Int(slots[currentSlot].length) + bytes.count
        if length > Self.maxAttributeValue {
            // Too long to be a link worth keeping: drop it, keep consuming.
            arenaUsed = Int(slots[currentSlot].start)
            present &= ~(1 << UInt16(currentSlot))
            currentSlot = -1
        } else {
            let at = arenaUsed, n = bytes.count
            if at + n > arena.count {
                arena.append(contentsOf: repeatElement(0, count: Swift.max(at + n - arena.count, arena.count, 256)))
            }
            if let from = bytes.baseAddress {
                arena.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: at).copyMemory(from: from, byteCount: n) }
            }
            arenaUsed = at + n
            slots[currentSlot].length = Int32(length)
        }
    }

    @inline(__always)
    private mutating func emitTag<Sink: HTMLTokenSink>(_ sink: inout Sink) {
        currentSlot = -1
        if tagIsEnd {
            sink.endTag(tagID)
            state = .data
            return
        }
        if storing && present != 0 {
            let tag = tagID, closing = selfClosing, kept = present
            let used = arenaUsed
            arena.withUnsafeBytes { all in
                let values = UnsafeRawBufferPointer(rebasing: all[0..<used])
                slots.withUnsafeBufferPointer { slots in
                    sink.startTag(tag, attributes: HTMLAttributes(values: values, slots: slots, present: kept), selfClosing: closing)
                }
            }
        } else {
            sink.startTag(tagID, attributes: HTMLAttributes(), selfClosing: selfClosing)
        }
        switch tagID {
        case .title, .textarea:
            enterRawText(rcdata: true)
        case .script, .style, .xmp, .iframe, .noembed, .noframes:
            enterRawText(rcdata: false)
        case .plaintext:
            state = .plaintext
        default:
            state = .data
        }
    }

    private mutating func enterRawText(rcdata: Bool) {
        rawIsRCDATA = rcdata
        rawTag = tagID
        rawName = tagName
        state = .rawText
    }

    // MARK: - Text that the state machine produces itself

    private func emitLiteral<Sink: HTMLTokenSink>(_ text: StaticString, to sink: inout Sink) {
        guard sink.wantsText else { return }
        sink.text(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    private func emitRawLiteral<Sink: HTMLTokenSink>(_ text: StaticString, to sink: inout Sink) {
        if rawIsRCDATA { emitLiteral(text, to: &sink) }
    }

    /// `</` plus the bytes that looked like the start of the closing tag name.
    private func emitRawTemp<Sink: HTMLTokenSink>(to sink: inout Sink) {
        guard rawIsRCDATA && sink.wantsText else { return }
        var bytes: [UInt8] = [HTMLByte.lt, HTMLByte.slash]
        for k in 0..<rawTemp.count { bytes.append(rawTemp.byte(at: k)) }
        bytes.withUnsafeBytes { sink.text($0) }
    }
}

/// What the tokenizer reports to. Methods are called synchronously from `feed`/`finish`.
protocol HTMLTokenSink {
    /// Whether `text` should be called for character data (data and RCDATA states).
    var wantsText: Bool { get }
    /// Asked once per start tag, when its name is complete: keep its attribute values?
    mutating func wantsAttributes(of tag: HTMLTagName) -> Bool
    /// A start tag; `attributes` is only valid during the call.
    mutating func startTag(_ tag: HTMLTagName, attributes: HTMLAttributes, selfClosing: Bool)
    mutating func endTag(_ tag: HTMLTagName)
    /// Whether `endTag` needs the tag's name: when false the tokenizer may pass `.other`.
    static var wantsEndTagNames: Bool { get }
    /// Raw character data, references not decoded; valid only during the call.
    mutating func text(_ bytes: UnsafeRawBufferPointer)
}

enum HTMLState: UInt8 {
    case data, tagOpen, endTagOpen, tagName
    case beforeAttributeName, attributeName, afterAttributeName, beforeAttributeValue
    case attributeValueDoubleQuoted, attributeValueSingleQuoted, attributeValueUnquoted
    case afterAttributeValueQuoted, selfClosingStartTag
    case markupDeclarationOpen, bogusComment
    case commentStart, commentStartDash, comment, commentEndDash, commentEnd, commentEndBang
    /// RCDATA or RAWTEXT (script data included), as `rawIsRCDATA` says.
    case rawText, rawTextLessThan, rawTextEndTagOpen, rawTextEndTagName
    case plaintext
}

/// Element names the tokenizer or the link extractor act on.
enum HTMLTagName: UInt8, CaseIterable, Sendable {
    case other
    case a, area, link, frame, iframe, base, meta, form
    case img, script, source, video, audio, embed, input
    case title, textarea, style, xmp, noembed, noframes, plaintext

    /// Identifies a lowercased name. Names of up to 8 bytes are compared as one word
    /// (bytes little-endian), which makes this a switch on integer constants.
    init(_ name: HTMLNameBuffer) {
        if name.count > 8 {
            self = name.count == 9 && name.w0 == 0x7865_746E_6961_6C70 && name.w1 == 0x74 ? .plaintext : .other
            return
        }
        switch name.w0 {
        case 0x61: self = .a
        case 0x6165_7261: self = .area
        case 0x6B6E_696C: self = .link
        case 0x65_6D61_7266: self = .frame
        case 0x656D_6172_6669: self = .iframe
        case 0x6573_6162: self = .base
        case 0x6174_656D: self = .meta
        case 0x6D72_6F66: self = .form
        case 0x67_6D69: self = .img
        case 0x65_6761_6D69: self = .img                       // "image": the tree builder renames it
        case 0x7470_6972_6373: self = .script
        case 0x6563_7275_6F73: self = .source
        case 0x6F_6564_6976: self = .video
        case 0x6F_6964_7561: self = .audio
        case 0x64_6562_6D65: self = .embed
        case 0x74_7570_6E69: self = .input
        case 0x65_6C74_6974: self = .title
        case 0x6165_7261_7478_6574: self = .textarea
        case 0x65_6C79_7473: self = .style
        case 0x70_6D78: self = .xmp
        case 0x64_6562_6D65_6F6E: self = .noembed
        case 0x7365_6D61_7266_6F6E: self = .noframes
        default: self = .other
        }
    }

    /// The lowercase name ("" for `other`).
    var name: String {
        switch self {
        case .other: ""
        case .a: "a"
        case .area: "area"
        case .link: "link"
        case .frame: "frame"
        case .iframe: "iframe"
        case .base: "base"
        case .meta: "meta"
        case .form: "form"
        case .img: "img"
        case .script: "script"
        case .source: "source"
        case .video: "video"
        case .audio: "audio"
        case .embed: "embed"
        case .input: "input"
        case .title: "title"
        case .textarea: "textarea"
        case .style: "style"
        case .xmp: "xmp"
        case .noembed: "noembed"
        case .noframes: "noframes"
        case .plaintext: "plaintext"
        }
    }
}

/// The attributes whose values the tokenizer can keep.
enum HTMLAttributeName: UInt8, CaseIterable, Sendable {
    case href, src, srcset, rel, content, httpEquiv, name, action, method, type

    init?(_ n: HTMLNameBuffer) {
        if n.count > 8 {
            guard n.count == 10 && n.w0 == 0x7571_652D_7074_7468 && n.w1 == 0x7669 else { return nil }
            self = .httpEquiv
            return
        }
        switch n.w0 {
        case 0x6665_7268: self = .href
        case 0x63_7273: self = .src
        case 0x7465_7363_7273: self = .srcset
        case 0x6C_6572: self = .rel
        case 0x74_6E65_746E_6F63: self = .content
        case 0x656D_616E: self = .name
        case 0x6E6F_6974_6361: self = .action
        case 0x646F_6874_656D: self = .method
        case 0x6570_7974: self = .type
        default: return nil
        }
    }

    var name: String {
        switch self {
        case .href: "href"
        case .src: "src"
        case .srcset: "srcset"
        case .rel: "rel"
        case .content: "content"
        case .httpEquiv: "http-equiv"
        case .name: "name"
        case .action: "action"
        case .method: "method"
        case .type: "type"
        }
    }
}

/// A short name packed into two words, little-endian; `count` goes on past 16 (the bytes
/// beyond are not kept, and no name we look for is that long).
struct HTMLNameBuffer: Equatable {
    var w0: UInt64 = 0
    var w1: UInt64 = 0
    var count = 0

    init() {}

    init(_ name: String) {
        for b in name.utf8 { append(b) }
    }

    @inline(__always)
    mutating func append(_ b: UInt8) {
        // Wrapping arithmetic: `count` is never negative, and no trap checks per byte.
        let k = UInt64(truncatingIfNeeded: count)
        if k < 8 { w0 |= UInt64(b) &<< (k &* 8) }
        else if k < 16 { w1 |= UInt64(b) &<< ((k &- 8) &* 8) }
        count &+= 1
    }

    mutating func appendReplacementCharacter() {
        append(0xEF); append(0xBF); append(0xBD)
    }

    /// Byte `i` (< 16).
    func byte(at i: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: i < 8 ? w0 >> (8 * UInt64(i)) : w1 >> (8 * UInt64(i - 8)))
    }

    mutating func reset() { self = HTMLNameBuffer() }
}

struct HTMLAttributeSlot {
    var start: Int32 = 0
    var length: Int32 = 0
}

/// The kept attribute values of a start tag, valid only during `startTag`. Values are raw:
/// character references not decoded, NUL already replaced by U+FFFD.
struct HTMLAttributes {
    let values: UnsafeRawBufferPointer
    let slots: UnsafeBufferPointer<HTMLAttributeSlot>
    let present: UInt16

    init() {
        values = UnsafeRawBufferPointer(start: nil, count: 0)
        slots = UnsafeBufferPointer(start: nil, count: 0)
        present = 0
    }

    init(values: UnsafeRawBufferPointer, slots: UnsafeBufferPointer<HTMLAttributeSlot>, present: UInt16) {
        self.values = values
        self.slots = slots
        self.present = present
    }

    func has(_ name: HTMLAttributeName) -> Bool { present & (1 << name.rawValue) != 0 }

    /// The value as written (empty for an attribute without a value); nil when absent or
    /// over the size cap.
    func value(_ name: HTMLAttributeName) -> UnsafeRawBufferPointer? {
        guard has(name) else { return nil }
        let s = slots[Int(name.rawValue)]
        return UnsafeRawBufferPointer(rebasing: values[Int(s.start)..<Int(s.start + s.length)])
    }

    /// Where the value sits among the tag's kept values: smaller means earlier in the tag.
    func position(_ name: HTMLAttributeName) -> Int {
        has(name) ? Int(slots[Int(name.rawValue)].start) : Int.max
    }
}

/// Byte classes and constants.
enum HTMLByte {
    static let lt = UInt8(ascii: "<")
    static let gt = UInt8(ascii: ">")
    static let slash = UInt8(ascii: "/")
    static let equals = UInt8(ascii: "=")
    static let quote = UInt8(ascii: "\"")
    static let apostrophe = UInt8(ascii: "'")
    static let dash = UInt8(ascii: "-")
    static let amp = UInt8(ascii: "&")

    static let lessThanText: StaticString = "<"

    /// The index of the `>` that ends a tag whose name starts at `from`, when no quote
    /// comes before it in `buf`; nil otherwise (a quote, or no `>` in this chunk).
    @inline(__always)
    static func endOfPlainTag(_ buf: UnsafeRawBufferPointer, from: Int) -> Int? {
        let end = index(of: gt, in: buf, from: from)
        guard end < buf.count else { return nil }
        var k = from
        while k < end {
            let c = buf[k]
            if c == quote || c == apostrophe { return nil }
            k &+= 1
        }
        return end
    }

    /// The index of the first `byte` in `buf[from...]`, or `buf.count`: long runs of text
    /// and comments are scanned by memchr, many bytes at a time.
    @inline(__always)
    static func index(of byte: UInt8, in buf: UnsafeRawBufferPointer, from i: Int) -> Int {
        let n = buf.count
        guard i < n, let base = buf.baseAddress, let p = memchr(base + i, Int32(byte), n - i) else { return n }
        return base.distance(to: UnsafeRawPointer(p))
    }
    static let endTagOpenText: StaticString = "</"
    static let declarationKeywords: [StaticString] = ["--", "doctype", "[CDATA["]
    static var replacementCharacter: UnsafeRawBufferPointer {
        let s: StaticString = "\u{FFFD}"
        return UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)
    }

    /// ASCII whitespace as the tokenizer sees it: tab, LF, FF, CR (normalised to LF by
    /// the input stream), space.
    @inline(__always)
    static func isSpace(_ c: UInt8) -> Bool {
        c == 0x20 || (c &- 0x09 < 5 && c != 0x0B)
    }

    @inline(__always)
    static func isAlpha(_ c: UInt8) -> Bool { (c | 0x20) &- 0x61 < 26 }

    @inline(__always)
    static func isAlphanumeric(_ c: UInt8) -> Bool { isAlpha(c) || c &- 0x30 < 10 }

    @inline(__always)
    static func lower(_ c: UInt8) -> UInt8 { c &- 0x41 < 26 ? c | 0x20 : c }
}
