import Glibc

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC), the one clock the hub, its timers and
/// the job records use: wall-clock jumps must not fire or stall timers.
@inline(__always)
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
