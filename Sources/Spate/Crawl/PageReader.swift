/// Feeds an HTML response body to the link extractor as it arrives (no whole-body buffer);
/// other content types are not parsed. Hub-confined: curl's write callback calls it.
final class PageReader: BodyConsumer, @unchecked Sendable {
    private let options: LinkExtractionOptions
    /// The body is HTML: it goes to `extractor`.
    private var html = false
    private var extractor: LinkExtractor? = nil
    private var decided = false

    init(options: LinkExtractionOptions) { self.options = options }

    /// A new response, or (the crawler reuses its readers) a new page.
    func begin() {
        if html { extractor?.reset() }
        html = false
        decided = false
    }

    func consume(_ data: UnsafeRawBufferPointer, contentType: String?) {
        if !decided {
            decided = true
            let html: Bool
            if let contentType {
                html = HTMLTitle.isHTML(contentType)
            } else {
                // No Content-Type: sniff, as browsers do, for a leading "<".
                html = data.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D && $0 != 0x0C }) == UInt8(ascii: "<")
            }
            self.html = html
            if html && extractor == nil { extractor = LinkExtractor(options: options) }
        }
        if html { extractor?.feed(data) }
    }

    /// The page's links etc., or nil when the body was not HTML (or empty).
    func finish() -> ExtractedPage? { html ? extractor?.finish() : nil }
}

/// Keeps the first `limit` bytes of a body (robots.txt: at least 500 KiB are parsed).
final class BodyCollector: BodyConsumer, @unchecked Sendable {
    private let limit: Int
    private(set) var bytes: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    func begin() { bytes.removeAll() }

    func consume(_ data: UnsafeRawBufferPointer, contentType: String?) {
        if bytes.count < limit { bytes.append(contentsOf: data.prefix(limit - bytes.count)) }
    }
}
