import CSpate

/// Why a fetch failed: a stable code (the record's `exception.type`), a message, and the
/// curl code and message when curl reported it.
public struct FetchError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case invalidURL = "invalid_url", protocolDenied = "protocol_denied"
        case nxdomain, noData = "no_data", servfail, refused, dnsTimeout = "dns_timeout", dnsError = "dns_error"
        case connectRefused = "connect_refused", connectTimeout = "connect_timeout", tls, timeout, reset
        case protocolError = "protocol_error", tooManyRedirects = "too_many_redirects", redirectLoop = "redirect_loop"
        case bodyTooLarge = "body_too_large", decodeError = "decode_error", writeError = "write_error"
        case jobTimeout = "job_timeout", cancelled, `internal`
    }

    /// The fields, in one immutable object: a fetch's `Result`s and hops hold a failure in
    /// every async frame of the fetch path, and as four fields (56 bytes) it swelled them
    /// past the task allocator's slabs (1 KiB each, a malloc each).
    private final class Fields: Sendable {
        let code: Code
        let message: String
        let curlCode: Int?
        let curlMessage: String?

        init(_ code: Code, _ message: String, _ curlCode: Int?, _ curlMessage: String?) {
            self.code = code
            self.message = message
            self.curlCode = curlCode
            self.curlMessage = curlMessage
        }
    }

    private var fields: Fields

    public var code: Code {
        get { fields.code }
        set { fields = Fields(newValue, message, curlCode, curlMessage) }
    }
    public var message: String {
        get { fields.message }
        set { fields = Fields(code, newValue, curlCode, curlMessage) }
    }
    public var curlCode: Int? {
        get { fields.curlCode }
        set { fields = Fields(code, message, newValue, curlMessage) }
    }
    public var curlMessage: String? {
        get { fields.curlMessage }
        set { fields = Fields(code, message, curlCode, newValue) }
    }

    public init(_ code: Code, _ message: String, curlCode: Int? = nil, curlMessage: String? = nil) {
        fields = Fields(code, message, curlCode, curlMessage)
    }

    public static func == (a: FetchError, b: FetchError) -> Bool {
        a.fields === b.fields
            || (a.code == b.code && a.message == b.message && a.curlCode == b.curlCode && a.curlMessage == b.curlMessage)
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// DNS failures keep part 1's codes, except that a DNS timeout is `dns_timeout` (a
    /// transfer timeout is `timeout`) and the rest are `dns_error`.
    static func dns(_ e: DNSError, host: String) -> FetchError {
        let code: Code
        switch e.code {
        case .nxdomain: code = .nxdomain
        case .noData: code = .noData
        case .servfail: code = .servfail
        case .refused: code = .refused
        case .timeout: code = .dnsTimeout
        case .cancelled: code = .cancelled
        case .invalidInput: code = .invalidURL
        default: code = .dnsError
        }
        return FetchError(code, "\(host): \(e.message)")
    }

    /// Maps a curl result (CURLE_*) to a code; `errorBuffer` is CURLOPT_ERRORBUFFER's text.
    static func curl(_ rc: CURLcode, errorBuffer: String) -> FetchError {
        let text = String(cString: curl_easy_strerror(rc))
        let detail = errorBuffer.isEmpty ? text : errorBuffer
        let code: Code
        switch rc {
        case CURLE_COULDNT_CONNECT:
            code = detail.contains("timed out") || detail.contains("Timeout") ? .connectTimeout : .connectRefused
        case CURLE_OPERATION_TIMEDOUT:
            code = detail.contains("onnect") && !detail.contains("bytes received") ? .connectTimeout : .timeout
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
             CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS,
             CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_CRL_BADFILE, CURLE_SSL_SHUTDOWN_FAILED:
            code = .tls
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_PARTIAL_FILE, CURLE_GOT_NOTHING:
            code = .reset
        case CURLE_UNSUPPORTED_PROTOCOL:
            code = .protocolDenied
        case CURLE_URL_MALFORMAT:
            code = .invalidURL
        case CURLE_BAD_CONTENT_ENCODING:
            code = .decodeError
        case CURLE_WEIRD_SERVER_REPLY, CURLE_HTTP2, CURLE_HTTP2_STREAM, CURLE_HTTP3, CURLE_TOO_MANY_REDIRECTS:
            code = rc == CURLE_TOO_MANY_REDIRECTS ? .tooManyRedirects : .protocolError
        case CURLE_WRITE_ERROR:
            code = .writeError
        case CURLE_FILESIZE_EXCEEDED:
            code = .bodyTooLarge
        case CURLE_ABORTED_BY_CALLBACK:
            code = .cancelled
        default:
            code = .internal
        }
        return FetchError(code, detail, curlCode: Int(rc.rawValue), curlMessage: text)
    }

    /// Worth another try after a back-off.
    var isRetryable: Bool {
        switch code {
        case .connectRefused, .connectTimeout, .timeout, .reset, .dnsTimeout, .servfail: return true
        default: return false
        }
    }
}
