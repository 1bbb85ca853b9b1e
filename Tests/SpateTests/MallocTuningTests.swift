import Foundation
import Spate
import Testing

/// The `spate` command runs itself again, once, with glibc's per-thread cache raised
/// (``MallocTuning``): the same process, the same arguments and the same stdin, with
/// `glibc.malloc.tcache_count` added to `GLIBC_TUNABLES` — unless the user named it.
@Suite struct MallocTuningTests {
    /// Launches `spate fetch` on an open stdin with one invalid line, waits for its record (by
    /// then the program has run again if it was going to), and returns the environment and
    /// the arguments of the process it launched (run again, it is the same process), with the
    /// record.
    private func runningProgram(environment: [String: String]) async throws
        -> (environment: [String], arguments: [String], record: String)
    {
        let process = try SpateProcess(["fetch", "--timeout", "2"], input: .openPipe(Data("not a url\n".utf8)),
                                       collectStdout: false, environment: environment)
        let first = process.readFirstLine(timeout: 10)
        let pid = process.pid
        func nulSeparated(_ path: String) -> [String] {
            guard let data = FileManager.default.contents(atPath: path) else { return [] }
            return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        }
        let env = nulSeparated("/proc/\(pid)/environ")
        let args = nulSeparated("/proc/\(pid)/cmdline")
        process.interrupt()
        _ = await process.finish(timeLimit: 20)
        return (env, args, String(decoding: first, as: UTF8.self))
    }

    /// The value of GLIBC_TUNABLES the program started with. glibc's loader writes a NUL
    /// after each tunable's value in the variable where it lies (the program's own `getenv`
    /// sees a copy made before), so in /proc/PID/environ the tunables after the first come
    /// back as entries of their own: they are joined again here.
    private func tunables(_ env: [String]) -> String? {
        guard let i = env.firstIndex(where: { $0.hasPrefix("GLIBC_TUNABLES=") }) else { return nil }
        var value = String(env[i].dropFirst("GLIBC_TUNABLES=".count))
        for piece in env[(i + 1)...] {
            guard piece.hasPrefix("glibc.") else { break }
            value += ":" + piece
        }
        return value
    }

    @Test func theCommandRunsAgainWithTheCacheRaised() async throws {
        // An empty GLIBC_TUNABLES: whatever the test runner's environment has.
        let run = try await runningProgram(environment: ["GLIBC_TUNABLES": ""])
        #expect(tunables(run.environment) == "glibc.malloc.tcache_count=\(MallocTuning.keptPerSize)",
                "environment: \(run.environment.filter { $0.hasPrefix("GLIBC") })")
        // The same arguments (argv[0] included), and the job still got its record from stdin.
        #expect(run.arguments.dropFirst() == ["fetch", "--timeout", "2"], "\(run.arguments)")
        #expect(run.arguments.first?.hasSuffix("spate") == true, "\(run.arguments)")
        #expect(run.record.contains("\"input\":\"not a url\"") && run.record.contains("\"successful\":false"),
                "record: \(run.record)")
        #expect(MallocTuning.keptPerSize > 7, "glibc's default is 7: raising it is the point")
    }

    @Test func otherTunablesAreKeptAndTheCacheAdded() async throws {
        let run = try await runningProgram(environment: ["GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1048576"])
        #expect(tunables(run.environment)
                == "glibc.malloc.trim_threshold=1048576:glibc.malloc.tcache_count=\(MallocTuning.keptPerSize)",
                "environment: \(run.environment.filter { $0.hasPrefix("GLIBC") })")
    }

    /// At most one run again: in the run again (SPATE_RAN_AGAIN set), nothing is added,
    /// whatever GLIBC_TUNABLES holds.
    @Test func itNeverRunsItselfASecondTime() async throws {
        let run = try await runningProgram(environment: ["GLIBC_TUNABLES": "", "SPATE_RAN_AGAIN": "1"])
        #expect(tunables(run.environment) == "", "environment: \(run.environment.filter { $0.hasPrefix("GLIBC") })")
        #expect(run.record.contains("\"input\":\"not a url\""), "record: \(run.record)")
    }

    @Test func theUsersOwnCacheSizeIsKept() async throws {
        let run = try await runningProgram(environment: ["GLIBC_TUNABLES": "glibc.malloc.tcache_count=7"])
        #expect(tunables(run.environment) == "glibc.malloc.tcache_count=7",
                "environment: \(run.environment.filter { $0.hasPrefix("GLIBC") })")
        #expect(run.record.contains("\"input\":\"not a url\""), "record: \(run.record)")
    }
}
