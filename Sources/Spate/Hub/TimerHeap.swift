/// A min-heap of deadlines for the hub's own timers. Loop-confined.
///
/// Cancellation is lazy: a cancelled timer's action is dropped from `actions` and its heap
/// entry is skipped when it reaches the top. That keeps `cancel` O(1), which matters because
/// every job with `--job-timeout` cancels its timer when it finishes.
struct TimerHeap {
    private var heap: [(deadline: UInt64, id: UInt64)] = []
    private var actions: [UInt64: () -> Void] = [:]

    var isEmpty: Bool { actions.isEmpty }

    mutating func insert(id: UInt64, deadline: UInt64, action: @escaping () -> Void) {
        actions[id] = action
        heap.append((deadline, id))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if heap[parent].deadline <= heap[i].deadline { break }
            heap.swapAt(parent, i)
            i = parent
        }
    }

    mutating func cancel(id: UInt64) {
        actions[id] = nil
        if actions.isEmpty { heap.removeAll(keepingCapacity: true) }
    }

    /// The earliest live deadline, discarding cancelled entries on top.
    mutating func earliest() -> UInt64? {
        while let top = heap.first {
            if actions[top.id] != nil { return top.deadline }
            popTop()
        }
        return nil
    }

    /// Removes and returns the actions whose deadline is `<= now`, earliest first.
    mutating func popDue(now: UInt64) -> [() -> Void] {
        var due: [() -> Void] = []
        while let top = heap.first, top.deadline <= now {
            popTop()
            if let action = actions.removeValue(forKey: top.id) { due.append(action) }
        }
        return due
    }

    private mutating func popTop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var i = 0
        let n = heap.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && heap[l].deadline < heap[m].deadline { m = l }
            if r < n && heap[r].deadline < heap[m].deadline { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
    }
}
