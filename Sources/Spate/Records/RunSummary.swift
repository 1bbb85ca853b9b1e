/// A fixed-size latency histogram: 2^k buckets of microseconds with 32 linear sub-buckets
/// each (≈3 % resolution), so percentiles cost constant memory for any number of jobs.
public struct LatencyHistogram: Sendable {
    private static let sub = 32
    private var counts = [UInt64](repeating: 0, count: 40 * 32)
    public private(set) var count: UInt64 = 0
    public private(set) var maxMicros: UInt64 = 0

    public init() {}

    public mutating func record(micros: UInt64) {
        count += 1
        maxMicros = max(maxMicros, micros)
        counts[Self.bucket(micros)] += 1
    }

    static func bucket(_ v: UInt64) -> Int {
        if v < UInt64(sub) { return Int(v) }
        let exp = 63 - v.leadingZeroBitCount          // v >= 32 → exp >= 5
        let shift = exp - 5
        let mantissa = Int((v >> UInt64(shift)) & UInt64(sub - 1))
        return min((shift + 1) * sub + mantissa, 40 * sub - 1)
    }

    static func lowerBound(_ b: Int) -> UInt64 {
        if b < sub { return UInt64(b) }
        let shift = b / sub - 1
        let mantissa = UInt64(b % sub)
        return (UInt64(sub) + mantissa) << UInt64(shift)
    }

    /// The value at quantile `q` (0…1) in microseconds (bucket lower bound; the max is exact).
    public func quantile(_ q: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = UInt64((Double(count) * q).rounded(.up))
        var seen: UInt64 = 0
        for (i, c) in counts.enumerated() where c > 0 {
            seen += c
            if seen >= max(rank, 1) { return min(Self.lowerBound(i), maxMicros) }
        }
        return maxMicros
    }
}

/// Counts per outcome for the end-of-run summary on stderr.
public struct RunStatistics: Sendable {
    public var jobs = 0
    public var successful = 0
    /// Failed jobs per exception type.
    public var failures: [String: Int] = [:]
    /// Unfinished jobs that were running / never started when the run stopped.
    public var unfinishedRunning = 0
    public var unfinishedNotStarted = 0
    public var latency = LatencyHistogram()
    /// Counts per class the job kind reports (fetch: "2xx", "4xx", …).
    public var tallies: [String: Int] = [:]
    /// Payload bytes (fetch: decoded body bytes).
    public var bytes = 0
    /// Finished jobs an output filter kept off stdout.
    public var filtered = 0
    /// Failed jobs whose exception is a policy decision, not a failure (crawl:
    /// `robots_denied`, `duplicate`): they do not make the exit status 1.
    public var declined = 0
    /// Things counted but not jobs (crawl: links dropped by scope, dedupe, trap guards).
    public var drops: [String: Int] = [:]
    /// Things that happened along the way (crawl: "retried", "hosts_abandoned").
    public var events: [String: Int] = [:]
    /// Distinct hosts seen (crawl).
    public var hosts = 0

    public init() {}

    public var failed: Int { failures.values.reduce(0, +) }
    public var unfinished: Int { unfinishedRunning + unfinishedNotStarted }
    public var finished: Int { successful + failed }
}
