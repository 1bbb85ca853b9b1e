/// Feeds an HTML response body to the link extractor as it arrives (no whole-body buffer);
/// other content types are not parsed. Hub-confined: curl's write callback calls it.
final class PageReader: BodyConsumer, @unchecked Sendable {
    private let options: LinkExtractionOptions
    private var extractor: LinkExtractor? = nil
    private var decided = false

    init(options: LinkExtractionOptions) { self.options = options }

    func begin() {
        extractor = nil
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
            if html { extractor = LinkExtractor(options: options) }
        }
        extractor?.feed(data)
    }

    /// The page's links etc., or nil when the body was not HTML (or empty).
    func finish() -> ExtractedPage? { extractor?.finish() }
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
