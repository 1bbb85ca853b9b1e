import CSpate

/// Registrable domains (eTLD+1) from the Public Suffix List that Debian ships
/// (`publicsuffix`, read through libpsl) — `--scope domain` must not guess that
/// `example.co.uk` and `other.co.uk` are one site.
public enum PublicSuffix {
    /// The registrable domain of a lowercase ASCII (punycode) host: "www.example.co.uk" →
    /// "example.co.uk". An IP address, a public suffix itself ("co.uk") or a single label
    /// is its own domain.
    public static func registrableDomain(_ host: String) -> String {
        if IPAddress.isIPv4(host) || IPAddress.isIPv6(host) { return host }
        return host.withCString { p in
            guard let r = cspate_psl_registrable_domain(p) else { return host }
            return String(cString: r)
        }
    }

    /// Which list is in use (a file path, or libpsl's built-in list).
    public static var source: String { String(cString: cspate_psl_source()) }
}
