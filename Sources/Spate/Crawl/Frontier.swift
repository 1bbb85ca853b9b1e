/// How a URL was found: the `discovered_via` field.
public struct Discovery: Sendable {
    public enum Kind: String, Sendable {
        case seed, link, redirect, sitemap, robots
    }

    public var kind: Kind
    public var tag: String? = nil
    public var attribute: String? = nil

    public init(_ kind: Kind, tag: String? = nil, attribute: String? = nil) {
        self.kind = kind
        self.tag = tag
        self.attribute = attribute
    }
}

/// One admitted URL waiting for (or being given) its fetch. It already has its job number:
/// it will get exactly one record.
///
/// A class: an entry moves through the frontier's queues, the running set and the record
/// code, and as a struct (~200 bytes, nine references) each move copied and retained all
/// of it. One owner at a time: the crawler changes an entry only while it holds it alone
/// (a new one, or a finished one it queues again).
final class FrontierEntry {
    var job: Int
    var url: CrawlURL
    var depth: Int
    /// The page the link was found on (display URL), nil for seeds.
    var parent: String?
    var via: Discovery
    var canonical: String
    /// The record's `input`: the seed line as read, or the URL.
    var input: String
    /// Where a seed came from (file and line), for `--ordered`-free multi-file runs.
    var source: InputLine? = nil
    /// 1 for the first try; retries go back to the front of their host's queue.
    var attempt = 1
    var isRobots = false
    /// A sitemap (from robots.txt, `--sitemap`, or a sitemap index): its entries are
    /// admitted like links when it arrives.
    var isSitemap = false

    init(job: Int, url: CrawlURL, depth: Int, parent: String?, via: Discovery, canonical: String, input: String,
         source: InputLine? = nil) {
        self.job = job
        self.url = url
        self.depth = depth
        self.parent = parent
        self.via = via
        self.canonical = canonical
        self.input = input
        self.source = source
    }
}

/// What the crawler knows about a host's robots.txt.
enum RobotsState {
    /// Not asked yet: the first URL for the host schedules the robots.txt fetch.
    case unknown
    case fetching
    case known(KnownRobots)
    /// `--ignore-robots`.
    case ignored
}

/// A host's robots.txt as fetched: its rules (allow all for a 4xx, disallow all when it
/// could not be fetched), when, and what the record says about it.
struct KnownRobots {
    var rules: RobotsRules
    var fetchedAt: UInt64
    var note: String
    /// 5xx, timeout or network error: pages are not fetched (RFC 9309 fails closed), and
    /// their records say `robots_unreachable` — a failure, not a policy decision.
    var unreachable: Bool
    /// The records' `robots` field for decisions no rule made (most pages), made once.
    private let noRuleAllowed: JSONValue
    private let noRuleDenied: JSONValue

    init(rules: RobotsRules, fetchedAt: UInt64, note: String, unreachable: Bool) {
        self.rules = rules
        self.fetchedAt = fetchedAt
        self.note = note
        self.unreachable = unreachable
        noRuleAllowed = Crawler.robotsJSON(RobotsDecision(allowed: true, rule: nil, line: nil), note: note)
        noRuleDenied = Crawler.robotsJSON(RobotsDecision(allowed: false, rule: nil, line: nil), note: note)
    }

    /// The record's `robots` field for decision `d`.
    func json(_ d: RobotsDecision) -> JSONValue {
        if d.rule == nil && d.line == nil { return d.allowed ? noRuleAllowed : noRuleDenied }
        return Crawler.robotsJSON(d, note: note)
    }
}

/// Politeness state of one scheme+host+port, and its queue (breadth-first by depth).
final class HostState {
    let key: String
    /// Pending entries per depth; `lowest` is the smallest depth that may be non-empty.
    fileprivate var levels: [EntryQueue] = []
    fileprivate var lowest = 0
    /// Tries to run again, ahead of everything else.
    fileprivate var retries: [FrontierEntry] = []
    /// The robots.txt fetch, which runs before any page of the host.
    var robotsEntry: FrontierEntry? = nil
    private(set) var pending = 0
    var active = 0
    /// Transfers running per fetcher hub (the crawler's choice of hub, ``FetcherGroup``).
    var hubActive: [Int] = []
    /// The origin's home hub (``FetcherPeers/home(of:)``), worked out with `hubActive`.
    var hubHome = 0
    /// Earliest start of the next request (monotonic ns): `--delay`, Crawl-delay,
    /// Retry-After and the error back-off move it.
    var nextAllowed: UInt64 = 0
    /// Seconds between request starts.
    var delay: Double
    var robots = RobotsState.unknown
    var consecutiveErrors = 0
    /// The circuit breaker tripped: URLs of this host are given up with a record each.
    var dead = false
    var deadReason = ""
    /// URLs admitted for this host (the `--max-pages-per-host` guard).
    var admitted = 0
    fileprivate var inReady = false
    fileprivate var inDelayed = false

    init(key: String, delay: Double) {
        self.key = key
        self.delay = delay
    }

    var robotsKnown: Bool {
        switch robots {
        case .known, .ignored: return true
        case .unknown, .fetching: return false
        }
    }

    fileprivate func push(_ e: FrontierEntry) {
        while levels.count <= e.depth { levels.append(EntryQueue()) }
        levels[e.depth].push(e)
        if e.depth < lowest { lowest = e.depth }
        pending += 1
    }

    fileprivate func pushRetry(_ e: FrontierEntry) {
        retries.append(e)
        pending += 1
    }

    fileprivate func pop() -> FrontierEntry? {
        if let r = retries.popLast() { pending -= 1; return r }
        while lowest < levels.count {
            if let e = levels[lowest].pop() { pending -= 1; return e }
            lowest += 1
        }
        return nil
    }

    fileprivate func takeAll() -> [FrontierEntry] {
        var all: [FrontierEntry] = []
        if let r = robotsEntry { all.append(r); robotsEntry = nil }
        while let e = pop() { all.append(e) }
        return all
    }
}

/// A FIFO of entries without `removeFirst` costs.
struct EntryQueue {
    private var items: [FrontierEntry] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }

    mutating func push(_ e: FrontierEntry) { items.append(e) }

    mutating func pop() -> FrontierEntry? {
        guard head < items.count else { return nil }
        let e = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: items.count <= 1024)
            head = 0
        } else if head >= 1024 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return e
    }
}

/// The frontier: admitted URLs waiting for their fetch, scheduled per host.
///
/// The crawler asks it for the next URL whose host may start a request now; hosts that are
/// busy (all `--per-host` slots taken), delayed (`--delay`, Crawl-delay, Retry-After,
/// back-off) or waiting for their robots.txt are skipped, so a slow or delayed host never
/// holds a slot another host could use (no head-of-line blocking). Ready hosts are served
/// round-robin. This is the small interface a shared, multi-process store would implement.
protocol CrawlFrontier: AnyObject {
    /// The state of `key`'s host, created on first use.
    func host(_ key: String) -> HostState
    /// Queues `entry` on its host (a retry goes to the front).
    func push(_ entry: FrontierEntry, host: HostState, retry: Bool)
    /// The next entry that may start at `now`, its host's slot taken. `admit` has the last
    /// word on each candidate (robots.txt): a consumed entry frees nothing, a put-back
    /// one returns to the front of its host's queue.
    func next(now: UInt64, admit: (FrontierEntry, HostState) -> DispatchDecision) -> (FrontierEntry, HostState)?
    /// A request of `host` ended (or an entry taken by ``next(now:)`` was not started).
    func release(_ host: HostState, now: UInt64)
    /// Re-examines `host` after its state changed (robots known, delay moved, …).
    func update(_ host: HostState, now: UInt64)
    /// When a delayed host next becomes ready, if any is waiting.
    func nextWake() -> UInt64?
    /// Removes and returns every entry of `host` (the circuit breaker gave up on it).
    func drain(_ host: HostState) -> [FrontierEntry]
    /// Removes and returns every queued entry (the run stopped).
    func drainAll() -> [FrontierEntry]
    /// Entries queued, in all hosts.
    var pending: Int { get }
    var hostCount: Int { get }
}

/// The in-memory frontier.
final class MemoryFrontier: CrawlFrontier {
    private var hosts: [String: HostState] = [:]
    private var ready: [HostState] = []
    private var readyHead = 0
    private var delayed = DelayHeap()
    private let perHost: Int
    private let defaultDelay: Double
    private(set) var pending = 0

    init(perHost: Int, delay: Double) {
        self.perHost = perHost
        self.defaultDelay = delay
    }

    var hostCount: Int { hosts.count }

    func host(_ key: String) -> HostState {
        if let h = hosts[key] { return h }
        let h = HostState(key: key, delay: defaultDelay)
        hosts[key] = h
        return h
    }

    func push(_ entry: FrontierEntry, host h: HostState, retry: Bool) {
        if entry.isRobots {
            h.robotsEntry = entry
        } else if retry {
            h.pushRetry(entry)
        } else {
            h.push(entry)
        }
        pending += 1
        update(h, now: monotonicNanos())
    }

    private func eligible(_ h: HostState) -> Bool {
        guard !h.dead, h.active < perHost else { return false }
        if h.robotsEntry != nil { return true }
        return h.pending > 0 && h.robotsKnown
    }

    func update(_ h: HostState, now: UInt64) {
        guard eligible(h), !h.inReady else { return }
        if h.nextAllowed > now {
            if !h.inDelayed {
                h.inDelayed = true
                delayed.push(h.nextAllowed, h)
            }
            return
        }
        h.inReady = true
        ready.append(h)
    }

    func next(now: UInt64, admit: (FrontierEntry, HostState) -> DispatchDecision) -> (FrontierEntry, HostState)? {
        // Delayed hosts whose time has come join the ready queue.
        while let (t, h) = delayed.peek(), t <= now {
            delayed.pop()
            h.inDelayed = false
            update(h, now: now)
        }
        while readyHead < ready.count {
            let h = ready[readyHead]
            readyHead += 1
            if readyHead >= 1024 && readyHead * 2 >= ready.count {
                ready.removeFirst(readyHead)
                readyHead = 0
            }
            h.inReady = false
            while eligible(h) && h.nextAllowed <= now {
                let entry: FrontierEntry
                if let r = h.robotsEntry {
                    entry = r
                    h.robotsEntry = nil
                } else {
                    guard let e = h.pop() else { break }
                    entry = e
                }
                pending -= 1
                switch admit(entry, h) {
                case .start:
                    h.active += 1
                    if h.delay > 0 { h.nextAllowed = now &+ nanoseconds(seconds: h.delay) }
                    update(h, now: now)   // round-robin: back to the end while it has slots
                    return (entry, h)
                case .consumed:
                    continue
                case .putBack:
                    h.pushRetry(entry)
                    pending += 1
                }
            }
            update(h, now: now)
        }
        if readyHead > 0 && readyHead == ready.count {
            ready.removeAll(keepingCapacity: true)
            readyHead = 0
        }
        return nil
    }

    func release(_ h: HostState, now: UInt64) {
        h.active -= 1
        update(h, now: now)
    }

    func nextWake() -> UInt64? { delayed.peek()?.0 }

    func drain(_ h: HostState) -> [FrontierEntry] {
        let all = h.takeAll()
        pending -= all.count
        return all
    }

    func drainAll() -> [FrontierEntry] {
        var all: [FrontierEntry] = []
        for h in hosts.values.sorted(by: { $0.key < $1.key }) { all += drain(h) }
        return all
    }
}


/// A binary min-heap of (time, host).
struct DelayHeap {
    private var items: [(UInt64, HostState)] = []

    func peek() -> (UInt64, HostState)? { items.first }

    mutating func push(_ t: UInt64, _ h: HostState) {
        items.append((t, h))
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if items[p].0 <= items[i].0 { break }
            items.swapAt(p, i)
            i = p
        }
    }

    mutating func pop() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && items[l].0 < items[m].0 { m = l }
            if r < items.count && items[r].0 < items[m].0 { m = r }
            if m == i { break }
            items.swapAt(m, i)
            i = m
        }
    }
}
