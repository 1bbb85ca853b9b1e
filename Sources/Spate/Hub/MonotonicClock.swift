import Glibc

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC), the one clock the hub, its timers and
/// the job records use: wall-clock jumps must not fire or stall timers.
@inline(__always)
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// `seconds` as nanoseconds, for timers, sleeps and deadlines: saturating, never trapping.
/// Negative or NaN → 0; more than 2^62 ns (~146 years; an infinite or absurd option, a
/// server's Retry-After) → 2^62, so that `now &+` it cannot wrap either.
@inline(__always)
public func nanoseconds(seconds: Double) -> UInt64 {
    let ns = seconds * 1e9
    guard ns > 0 else { return 0 }
    return ns >= 0x1p62 ? 1 << 62 : UInt64(ns)
}

/// `seconds` as whole milliseconds for C APIs (curl, c-ares), saturating at `limit`
/// (default `Int32.max`, ~24.8 days); negative or NaN → 0.
@inline(__always)
public func milliseconds(seconds: Double, limit: Int = Int(Int32.max)) -> Int {
    let ms = (seconds * 1000).rounded()
    guard ms > 0 else { return 0 }
    return ms >= Double(limit) ? limit : Int(ms)
}
