import CSpate
import Foundation

/// A thread with its name set for the kernel too (`top -H`, /proc/PID/task/TID/comm; the
/// kernel keeps 15 bytes, so keep names that short). Foundation's `Thread.name` does not
/// reach the kernel here, and a thread otherwise carries the name of the thread that
/// started it — a hub's, for the record writer. (It inherits that thread's nice value
/// too: see ``Hub/runNicer(by:)``.)
func makeNamedThread(_ name: String, stackSize: Int = 0, _ body: @escaping @Sendable () -> Void) -> Thread {
    let thread = Thread {
        _ = cspate_set_thread_name(name)
        body()
    }
    thread.name = name
    if stackSize > 0 { thread.stackSize = stackSize }
    return thread
}
