import Synchronization

/// A one-shot gate tasks can wait on.
final class AsyncGate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
}

final class Flag: Sendable {
    private let v = Mutex(false)
    func set() { v.withLock { $0 = true } }
    var isSet: Bool { v.withLock { $0 } }
}

final class ConcurrencyMeter: Sendable {
    private let s = Mutex<(now: Int, peak: Int)>((0, 0))
    func enter() { s.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) } }
    func leave() { s.withLock { $0.now -= 1 } }
    var peak: Int { s.withLock { $0.peak } }
}
