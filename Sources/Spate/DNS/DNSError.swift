import CSpate

/// Why a DNS job failed: a stable code (the record's `exception.type`) and a message.
///
/// Modelled on async-http-client's `HTTPClientError`: a struct around a closed code enum, so
/// that new codes are an API decision and every code is documented in README and docs/.
public struct DNSError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case nxdomain, noData = "no_data", servfail, refused, timeout
        case connectionRefused = "connection_refused", badResponse = "bad_response"
        case formerr, notimp, invalidInput = "invalid_input", jobTimeout = "job_timeout"
        case cancelled, `internal`
    }

    public var code: Code
    public var message: String
    /// The c-ares status when c-ares reported the failure.
    public var aresStatus: Int32?

    public init(_ code: Code, _ message: String, aresStatus: Int32? = nil) {
        self.code = code
        self.message = message
        self.aresStatus = aresStatus
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// Maps a c-ares status to a code. `ARES_SUCCESS` is not an error and is not mapped.
    static func ares(_ status: Int32) -> DNSError {
        let message = String(cString: ares_strerror(status))
        let code: Code
        switch status {
        case ARES_ENOTFOUND: code = .nxdomain
        case ARES_ENODATA: code = .noData
        case ARES_ESERVFAIL: code = .servfail
        case ARES_EREFUSED: code = .refused
        case ARES_ETIMEOUT: code = .timeout
        case ARES_ECONNREFUSED: code = .connectionRefused
        case ARES_EBADRESP: code = .badResponse
        case ARES_EFORMERR: code = .formerr
        case ARES_ENOTIMP: code = .notimp
        case ARES_ECANCELLED, ARES_EDESTRUCTION: code = .cancelled
        case ARES_EBADNAME: code = .invalidInput
        default: code = .internal
        }
        return DNSError(code, message, aresStatus: status)
    }

    /// Worth asking the next resolver: the server did not give a usable authoritative answer.
    var isRetryable: Bool {
        switch code {
        case .timeout, .servfail, .refused, .connectionRefused, .badResponse: return true
        default: return false
        }
    }
}
