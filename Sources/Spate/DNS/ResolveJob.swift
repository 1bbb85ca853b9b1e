/// `spate resolve`'s job: one name (or IP) per line, gethostbyname or typed lookups.
public struct ResolveJob: JobKind {
    public let resolver: Resolver
    /// nil = gethostbyname mode.
    public let types: [DNSRecordType]?

    public init(resolver: Resolver, types: [DNSRecordType]?) {
        self.resolver = resolver
        self.types = types
    }

    public func prepare(_ line: InputLine) -> Result<String, RecordException> {
        if let total = line.oversizedBytes {
            return .failure(RecordException(type: DNSError.Code.invalidInput.rawValue,
                                            message: "line is \(total) bytes long (max \(LineReader.maxLineBytes))"))
        }
        let text = line.text
        if IPAddress.isIPv4(text) || (types != nil && IPAddress.isIPv6(text)) { return .success(text) }
        if IPAddress.isIPv6(text) {
            return .failure(RecordException(type: DNSError.Code.invalidInput.rawValue,
                                            message: "IPv6 literal: the default (gethostbyname) mode answers IPv4 only; use --type PTR for a reverse lookup"))
        }
        switch HostName.validate(text) {
        case let .success(name): return .success(name)
        case let .failure(e): return .failure(RecordException(type: e.code.rawValue, message: e.message))
        }
    }

    public func run(_ name: String) async -> JobOutcome {
        let lookup: DNSLookup
        if let types {
            lookup = await resolver.query(name, types: types)
        } else {
            lookup = await resolver.gethostbyname(name)
        }
        var fields: [(String, JSONValue)] = [
            ("resolver", lookup.server.map { .string($0.description) } ?? .null),
            ("source", .string(lookup.source.rawValue)),
            ("attempts", .int(lookup.attempts)),
        ]
        if types == nil, lookup.error == nil {
            fields.append(("addresses", .array(lookup.addresses.map { .string($0) })))
            fields.append(("ttl", lookup.ttl.map { .int($0) } ?? .null))
        }
        switch lookup.result {
        case let .success(value):
            return JobOutcome(value: value, exception: nil, fields: fields)
        case let .failure(error):
            return JobOutcome(value: .null, exception: RecordException(type: error.code.rawValue, message: error.message), fields: fields)
        }
    }

    public var emptyFields: [(String, JSONValue)] { [("resolver", .null)] }

    /// Lookups run on the hub: submit and resume without a thread hop (see HubTaskExecutor).
    public var taskExecutor: (any TaskExecutor)? { resolver.hub.taskExecutor }
}
