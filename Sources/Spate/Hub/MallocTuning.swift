import CSpate

/// glibc's per-thread cache of freed blocks (its tcache) keeps 7 blocks of each size by
/// default. A hub frees a turn's worth of finished transfers and pages at once — hundreds of
/// blocks of one size — and allocates as many again for the next ones; past the 7, every
/// block goes through the arena (`_int_free`, then `_int_malloc`, with consolidation). With
/// ``keptPerSize`` blocks kept, the 100,000-page crawl takes ~4 % less CPU (0.962×, 10
/// paired runs) at the same peak RSS (BENCHMARKS.md, "glibc's per-thread cache, raised").
///
/// glibc reads its tunables once, in the dynamic loader, so the program must run again to
/// set one: ``runAgainWithTunedCache()`` is the first thing the `spate` command does. The
/// library never does it on its own.
public enum MallocTuning {
    /// glibc's `glibc.malloc.tcache_count` for spate (glibc's default is 7, its limit 65,535).
    public static let keptPerSize = 1000
    public static let tunable = "glibc.malloc.tcache_count"

    /// Runs the program again, the same process with the same arguments, with
    /// `glibc.malloc.tcache_count` added to `GLIBC_TUNABLES` (and `SPATE_RAN_AGAIN=1`, which
    /// the run again removes: it never runs itself a second time). It returns at once, doing
    /// nothing, in the run again, when `GLIBC_TUNABLES` names that tunable already (the
    /// user's own value) or the process is set-id; and it returns, with the environment as it
    /// was, if the program cannot be run again (no /proc): spate then runs with glibc's
    /// default. Call it before anything is read from stdin or written anywhere.
    public static func runAgainWithTunedCache() {
        _ = cspate_reexec_with_tunable(CommandLine.unsafeArgv, tunable, String(keptPerSize))
    }
}
