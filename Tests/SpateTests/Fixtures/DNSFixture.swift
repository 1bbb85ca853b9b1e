import Foundation
import Glibc
import Synchronization

/// A scriptable DNS server for tests, on 127.0.0.1 only: UDP and TCP on the same ephemeral port.
///
/// Each name is scripted with a ``Behavior``; unscripted names get NXDOMAIN. One background
/// thread serves both transports with `poll()`; delays are timers in that loop, so a slow
/// answer never holds up the others. Names are matched case-insensitively, trailing dot
/// optional. The class is `Sendable`: all shared state sits behind a `Mutex`.
///
/// Over UDP an answer larger than 512 bytes (or the EDNS payload size the query advertises)
/// is sent truncated (TC bit, no answers), as a real server would; the client retries over TCP.
final class DNSFixture: Sendable {
    /// One received query, as logged. `name` is normalized: lowercased, without the trailing dot.
    struct Query: Sendable, Equatable {
        var name: String
        var type: UInt16
        var transport: Transport
        var id: UInt16
    }

    enum Transport: Sendable, Equatable {
        case udp, tcp
    }

    indirect enum Behavior: Sendable {
        /// Authoritative NOERROR with the RRs whose type is the query type. If the name has a
        /// CNAME and the query type is not CNAME, the answer is the CNAME, followed by the
        /// target's matching RRs when the target is itself scripted with `.records` (chained).
        /// No matching RR: NOERROR with an empty answer (NODATA).
        case records([RR])
        case nxdomain, servfail, refused, formerr, notimp
        /// Reply after a delay, without blocking other queries.
        case delay(milliseconds: Int, Behavior)
        /// Never reply.
        case drop
        /// Over UDP: TC bit set and an empty answer. Over TCP: the full behavior.
        case truncate(Behavior)
        /// Over UDP: first a reply with `id ^ 0xFFFF` (to be ignored by the client), then the
        /// right one. Over TCP: the behavior only.
        case wrongID(Behavior)
        /// The right id, but a garbage body: the header announces one answer, the body stops
        /// short inside it.
        case malformed
        /// Drop the first N queries for this name (any transport), then behave.
        case dropFirst(Int, Behavior)
    }

    enum RR: Sendable {
        case a(String, ttl: UInt32 = 300)
        case aaaa(String, ttl: UInt32 = 300)
        case cname(String, ttl: UInt32 = 300)
        case mx(UInt16, String, ttl: UInt32 = 300)
        case ns(String, ttl: UInt32 = 300)
        case txt([String], ttl: UInt32 = 300)
        case ptr(String, ttl: UInt32 = 300)
        case soa(
            mname: String, rname: String, serial: UInt32, refresh: UInt32, retry: UInt32,
            expire: UInt32, minimum: UInt32, ttl: UInt32 = 300)
        case srv(priority: UInt16, weight: UInt16, port: UInt16, target: String, ttl: UInt32 = 300)
        case caa(flags: UInt8, tag: String, value: String, ttl: UInt32 = 300)
    }

    /// A socket call failed while starting the fixture.
    struct SetupError: Error, CustomStringConvertible {
        var operation: String
        var code: Int32
        var description: String { "DNSFixture: \(operation) failed: \(String(cString: strerror(code)))" }
    }

    let port: UInt16
    var address: String { "127.0.0.1:\(port)" }

    private let shared: Shared
    private let control: Mutex<Control>

    private struct Control {
        var stopped = false
        var thread: pthread_t
        var wakeWrite: Int32
    }

    init() throws {
        let (udp, listener, port) = try Self.bindSockets()
        // The stop signal: one byte written to a socket pair (close-on-exec from creation).
        var wakeFDs: [Int32] = [-1, -1]
        let pairType = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, pairType, 0, &wakeFDs) == 0 else {
            let code = errno
            close(udp)
            close(listener)
            throw SetupError(operation: "socketpair", code: code)
        }

        let shared = Shared()
        let loop = Loop(shared: shared, udp: udp, listener: listener, wake: wakeFDs[0])
        let context = Unmanaged.passRetained(loop).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                let loop = Unmanaged<Loop>.fromOpaque(raw!).takeRetainedValue()
                loop.run()
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<Loop>.fromOpaque(context).release()
            for fd in [udp, listener, wakeFDs[0], wakeFDs[1]] { close(fd) }
            throw SetupError(operation: "pthread_create", code: rc)
        }
        self.port = port
        self.shared = shared
        self.control = Mutex(Control(thread: thread, wakeWrite: wakeFDs[1]))
    }

    deinit {
        stop()
    }

    /// Scripts `name` (case-insensitive, trailing dot optional); resets its `dropFirst` count.
    func set(_ name: String, _ behavior: Behavior) {
        Self.validate(behavior)
        let key = Self.normalize(name)
        shared.state.withLock { state in
            state.behaviors[key] = behavior
            state.dropCounts[key] = nil
        }
    }

    /// The queries received for `name` so far, in arrival order.
    func queries(for name: String) -> [Query] {
        let key = Self.normalize(name)
        return shared.state.withLock { state in state.log.filter { $0.name == key } }
    }

    var totalQueries: Int {
        shared.state.withLock { $0.log.count }
    }

    /// Stops serving and closes the sockets. Idempotent; also called on deinit.
    func stop() {
        let pending = control.withLock { control -> (pthread_t, Int32)? in
            if control.stopped { return nil }
            control.stopped = true
            return (control.thread, control.wakeWrite)
        }
        guard let (thread, wakeWrite) = pending else { return }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        pthread_join(thread, nil)
        close(wakeWrite)
    }
}

// MARK: - Shared state

extension DNSFixture {
    fileprivate final class Shared: Sendable {
        struct State {
            var behaviors: [String: Behavior] = [:]
            var dropCounts: [String: Int] = [:]
            var log: [Query] = []
        }

        let state = Mutex(State())
    }

    fileprivate static func normalize(_ name: String) -> String {
        var key = name.lowercased()
        while key.hasSuffix(".") { key.removeLast() }
        return key
    }

    /// Traps on a script that could not be encoded, on the caller's thread rather than the server's.
    private static func validate(_ behavior: Behavior) {
        switch behavior {
        case .records(let rrs):
            for rr in rrs {
                switch rr {
                case .a(let address, _):
                    precondition(Wire.ipv4(address) != nil, "DNSFixture: invalid IPv4 address \(address)")
                case .aaaa(let address, _):
                    precondition(Wire.ipv6(address) != nil, "DNSFixture: invalid IPv6 address \(address)")
                case .caa(_, let tag, _, _):
                    precondition(tag.utf8.count <= 255, "DNSFixture: CAA tag too long")
                default:
                    break
                }
                for name in Wire.names(in: rr) {
                    for label in name.split(separator: ".", omittingEmptySubsequences: true) {
                        precondition(label.utf8.count <= 63, "DNSFixture: label too long in \(name)")
                    }
                }
            }
        case .delay(let milliseconds, let inner):
            precondition(milliseconds >= 0, "DNSFixture: negative delay")
            validate(inner)
        case .truncate(let inner), .wrongID(let inner), .dropFirst(_, let inner):
            validate(inner)
        case .nxdomain, .servfail, .refused, .formerr, .notimp, .drop, .malformed:
            break
        }
    }
}

// MARK: - Sockets

extension DNSFixture {
    private static func setNonblockingCloexec(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    private static func bind(_ fd: Int32, port: UInt16) -> Bool {
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    private static func setOption(_ fd: Int32, _ option: Int32, _ value: Int32) {
        var value = value
        _ = setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Binds UDP to 127.0.0.1:0, then TCP to the same port; retries with a new port when the
    /// TCP bind fails (the port may be taken for TCP).
    private static func bindSockets() throws -> (udp: Int32, listener: Int32, port: UInt16) {
        let flags = Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        var lastError: Int32 = EADDRINUSE
        for _ in 0..<64 {
            let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | flags, 0)
            guard udp >= 0 else { throw SetupError(operation: "socket(UDP)", code: errno) }
            setOption(udp, SO_RCVBUF, 4 << 20)
            setOption(udp, SO_SNDBUF, 4 << 20)
            guard bind(udp, port: 0) else {
                let code = errno
                close(udp)
                throw SetupError(operation: "bind(UDP 127.0.0.1:0)", code: code)
            }
            var bound = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &bound) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(udp, $0, &length) }
            }
            guard named == 0 else {
                let code = errno
                close(udp)
                throw SetupError(operation: "getsockname", code: code)
            }
            let port = UInt16(bigEndian: bound.sin_port)

            let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | flags, 0)
            guard listener >= 0 else {
                let code = errno
                close(udp)
                throw SetupError(operation: "socket(TCP)", code: code)
            }
            setOption(listener, SO_REUSEADDR, 1)
            if bind(listener, port: port), listen(listener, 128) == 0 {
                return (udp, listener, port)
            }
            lastError = errno
            close(listener)
            close(udp)
        }
        throw SetupError(operation: "bind(TCP 127.0.0.1)", code: lastError)
    }
}

// MARK: - Server loop (owned by its thread)

extension DNSFixture {
    /// A reply to send `delay` milliseconds after the query arrived.
    fileprivate struct Send: Sendable {
        var delay: Int
        var bytes: [UInt8]
    }

    /// The poll loop. Confined to the server thread; its sockets are closed when `run` returns.
    fileprivate final class Loop {
        private enum Target {
            case udp(sockaddr_in)
            case tcp(Int)
        }

        private struct Timer {
            var deadline: UInt64
            var sequence: Int
            var target: Target
            var bytes: [UInt8]
        }

        private struct Connection {
            var fd: Int32
            var input: [UInt8] = []
            var output: [UInt8] = []
        }

        private let shared: Shared
        private let udp: Int32
        private let listener: Int32
        private let wake: Int32
        private var connections: [Int: Connection] = [:]
        private var nextConnection = 0
        private var timers: [Timer] = []
        private var nextSequence = 0
        private var buffer = [UInt8](repeating: 0, count: 65_536)

        init(shared: Shared, udp: Int32, listener: Int32, wake: Int32) {
            self.shared = shared
            self.udp = udp
            self.listener = listener
            self.wake = wake
        }

        func run() {
            defer {
                for connection in connections.values { close(connection.fd) }
                connections = [:]
                close(udp)
                close(listener)
                close(wake)
            }
            while true {
                let readable = Int16(POLLIN)
                var fds = [
                    pollfd(fd: wake, events: readable, revents: 0),
                    pollfd(fd: udp, events: readable, revents: 0),
                    pollfd(fd: listener, events: readable, revents: 0),
                ]
                let ids = Array(connections.keys)
                for id in ids {
                    let connection = connections[id]!
                    let events = readable | (connection.output.isEmpty ? 0 : Int16(POLLOUT))
                    fds.append(pollfd(fd: connection.fd, events: events, revents: 0))
                }
                let ready = poll(&fds, nfds_t(fds.count), pollTimeout())
                if ready < 0 {
                    if errno == EINTR { continue }
                    return
                }
                if fds[0].revents != 0 { return }
                if fds[1].revents != 0 { readUDP() }
                if fds[2].revents != 0 { acceptConnections() }
                for (index, id) in ids.enumerated() {
                    let events = fds[3 + index].revents
                    if events == 0 { continue }
                    if events & Int16(POLLOUT) != 0 { flush(id) }
                    if events & Int16(POLLIN | POLLHUP | POLLERR | POLLNVAL) != 0 { readTCP(id) }
                }
                fireTimers()
            }
        }

        private static func now() -> UInt64 {
            var time = timespec()
            clock_gettime(CLOCK_MONOTONIC, &time)
            return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
        }

        private func pollTimeout() -> Int32 {
            guard let first = timers.map(\.deadline).min() else { return -1 }
            let now = Self.now()
            if first <= now { return 0 }
            return Int32(min((first - now + 999_999) / 1_000_000, 60_000))
        }

        private func fireTimers() {
            guard !timers.isEmpty else { return }
            let now = Self.now()
            let due = timers.filter { $0.deadline <= now }
            guard !due.isEmpty else { return }
            timers.removeAll { $0.deadline <= now }
            for timer in due.sorted(by: { ($0.deadline, $0.sequence) < ($1.deadline, $1.sequence) }) {
                deliver(timer.bytes, to: timer.target)
            }
        }

        private func schedule(_ sends: [Send], to target: Target) {
            let now = Self.now()
            for send in sends {
                if send.delay <= 0 && timers.isEmpty {
                    deliver(send.bytes, to: target)
                } else {
                    // Keep order with earlier replies still waiting in the timer list.
                    timers.append(
                        Timer(
                            deadline: now + UInt64(max(send.delay, 0)) * 1_000_000,
                            sequence: nextSequence, target: target, bytes: send.bytes))
                    nextSequence += 1
                }
            }
        }

        private func deliver(_ bytes: [UInt8], to target: Target) {
            switch target {
            case .udp(var peer):
                _ = withUnsafePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(udp, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            case .tcp(let id):
                guard connections[id] != nil, bytes.count <= 65_535 else { return }
                connections[id]!.output += [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes
                flush(id)
            }
        }

        private func readUDP() {
            while true {
                var peer = sockaddr_in()
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                let count = buffer.withUnsafeMutableBytes { raw in
                    withUnsafeMutablePointer(to: &peer) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            recvfrom(udp, raw.baseAddress, raw.count, 0, $0, &length)
                        }
                    }
                }
                if count < 0 {
                    if errno == EINTR { continue }
                    return  // EAGAIN, or an ICMP error from an earlier send
                }
                let packet = Array(buffer[0..<count])
                schedule(Responder.respond(to: packet, transport: .udp, shared: shared), to: .udp(peer))
            }
        }

        private func acceptConnections() {
            while true {
                let fd = accept(listener, nil, nil)
                if fd < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    return
                }
                DNSFixture.setNonblockingCloexec(fd)
                connections[nextConnection] = Connection(fd: fd)
                nextConnection += 1
            }
        }

        private func closeConnection(_ id: Int) {
            guard let connection = connections.removeValue(forKey: id) else { return }
            close(connection.fd)
            timers.removeAll {
                if case .tcp(id) = $0.target { return true }
                return false
            }
        }

        private func readTCP(_ id: Int) {
            guard let fd = connections[id]?.fd else { return }
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count > 0 {
                    connections[id]!.input += buffer[0..<count]
                    continue
                }
                if count < 0 && errno == EINTR { continue }
                if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
                closeConnection(id)  // EOF or error: pending replies are dropped with it
                return
            }
            while let input = connections[id]?.input, input.count >= 2 {
                let length = Int(input[0]) << 8 | Int(input[1])
                guard input.count >= 2 + length else { break }
                let message = Array(input[2..<(2 + length)])
                connections[id]!.input.removeFirst(2 + length)
                schedule(Responder.respond(to: message, transport: .tcp, shared: shared), to: .tcp(id))
            }
        }

        private func flush(_ id: Int) {
            while let connection = connections[id], !connection.output.isEmpty {
                let sent = connection.output.withUnsafeBytes {
                    send(connection.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                if sent > 0 {
                    connections[id]!.output.removeFirst(sent)
                } else if sent < 0 && errno == EINTR {
                    continue
                } else if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    return
                } else {
                    closeConnection(id)
                    return
                }
            }
        }
    }
}

@available(*, unavailable)
extension DNSFixture.Loop: Sendable {}

// MARK: - Answers

extension DNSFixture {
    fileprivate enum Responder {
        static func respond(to packet: [UInt8], transport: Transport, shared: Shared) -> [Send] {
            switch Wire.parse(packet) {
            case .ignore:
                return []
            case .error(let id, let flags, let rcode):
                return [Send(delay: 0, bytes: Wire.headerOnly(id: id, flags: flags, rcode: rcode))]
            case .query(let query):
                return shared.state.withLock { state -> [Send] in
                    state.log.append(
                        Query(name: query.name, type: query.type, transport: transport, id: query.id))
                    guard let behavior = state.behaviors[query.name] else {
                        return [Send(delay: 0, bytes: Wire.response(query, rcode: 3, transport: transport))]
                    }
                    return plan(behavior, query, transport, &state)
                }
            }
        }

        private static func plan(
            _ behavior: Behavior, _ query: Wire.Question, _ transport: Transport, _ state: inout Shared.State
        ) -> [Send] {
            func reply(_ rcode: UInt8) -> [Send] {
                [Send(delay: 0, bytes: Wire.response(query, rcode: rcode, transport: transport))]
            }
            switch behavior {
            case .records(let rrs):
                let answers = records(
                    owner: Wire.name(labels: query.labels), rrs: rrs, type: query.type, state: state, depth: 0)
                return [Send(delay: 0, bytes: Wire.response(query, rcode: 0, answers: answers, transport: transport))]
            case .nxdomain: return reply(3)
            case .servfail: return reply(2)
            case .refused: return reply(5)
            case .formerr: return reply(1)
            case .notimp: return reply(4)
            case .drop: return []
            case .delay(let milliseconds, let inner):
                return plan(inner, query, transport, &state).map {
                    Send(delay: $0.delay + milliseconds, bytes: $0.bytes)
                }
            case .truncate(let inner):
                guard transport == .udp else { return plan(inner, query, transport, &state) }
                return [Send(delay: 0, bytes: Wire.response(query, rcode: 0, truncated: true, transport: transport))]
            case .wrongID(let inner):
                let sends = plan(inner, query, transport, &state)
                guard transport == .udp else { return sends }
                return sends.flatMap { send -> [Send] in
                    var wrong = send.bytes
                    if wrong.count >= 2 {
                        wrong[0] ^= 0xFF
                        wrong[1] ^= 0xFF
                    }
                    return [Send(delay: send.delay, bytes: wrong), send]
                }
            case .malformed:
                return [Send(delay: 0, bytes: Wire.malformed(query))]
            case .dropFirst(let count, let inner):
                let seen = state.dropCounts[query.name, default: 0]
                state.dropCounts[query.name] = seen + 1
                return seen < count ? [] : plan(inner, query, transport, &state)
            }
        }

        /// The answer RRs for `type` at `owner`, following CNAMEs into names scripted with `.records`.
        private static func records(
            owner: [UInt8], rrs: [RR], type: UInt16, state: Shared.State, depth: Int
        ) -> [[UInt8]] {
            if type != Wire.cname, type != Wire.any {
                for rr in rrs {
                    guard case .cname(let target, _) = rr else { continue }
                    var answers = [Wire.encode(rr, owner: owner)]
                    if depth < 16, case .records(let next)? = state.behaviors[DNSFixture.normalize(target)] {
                        answers += records(
                            owner: Wire.name(target), rrs: next, type: type, state: state, depth: depth + 1)
                    }
                    return answers
                }
            }
            return rrs.filter { type == Wire.any || Wire.type(of: $0) == type }.map { Wire.encode($0, owner: owner) }
        }
    }
}

// MARK: - Wire format

extension DNSFixture {
    fileprivate enum Wire {
        static let cname: UInt16 = 5
        static let any: UInt16 = 255

        struct Question {
            var id: UInt16
            var flags: UInt8  // first flags byte of the query: opcode and RD
            var labels: [[UInt8]]
            var name: String  // normalized
            var type: UInt16
            var qclass: UInt16
            var udpLimit: Int
        }

        enum Parsed {
            case ignore
            case error(id: UInt16, flags: UInt8, rcode: UInt8)
            case query(Question)
        }

        // MARK: Parsing

        static func parse(_ packet: [UInt8]) -> Parsed {
            guard packet.count >= 12 else { return .ignore }
            let id = u16(packet, 0)
            let flags = packet[2]
            if flags & 0x80 != 0 { return .ignore }  // a response, not a query
            let opcode = (flags >> 3) & 0x0F
            let qdcount = u16(packet, 4)
            guard opcode == 0 else { return .error(id: id, flags: flags, rcode: 4) }
            guard qdcount == 1, let (labels, end) = readName(packet, at: 12), end + 4 <= packet.count else {
                return .error(id: id, flags: flags, rcode: 1)
            }
            let name = DNSFixture.normalize(
                labels.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "."))
            let question = Question(
                id: id, flags: flags, labels: labels, name: name, type: u16(packet, end),
                qclass: u16(packet, end + 2), udpLimit: udpLimit(packet, after: end + 4))
            return .query(question)
        }

        /// The UDP payload size from an EDNS OPT record in the query, at least 512; 512 without one.
        private static func udpLimit(_ packet: [UInt8], after start: Int) -> Int {
            let count = Int(u16(packet, 6)) + Int(u16(packet, 8)) + Int(u16(packet, 10))
            var position = start
            for _ in 0..<count {
                guard let (_, end) = readName(packet, at: position), end + 10 <= packet.count else { return 512 }
                let type = u16(packet, end)
                let rdlength = Int(u16(packet, end + 8))
                if type == 41 { return max(512, Int(u16(packet, end + 2))) }
                position = end + 10 + rdlength
            }
            return 512
        }

        /// Reads a possibly compressed name; returns its labels and the offset after it.
        static func readName(_ packet: [UInt8], at start: Int) -> ([[UInt8]], Int)? {
            var labels: [[UInt8]] = []
            var position = start
            var end: Int?
            var jumps = 0
            var length = 0
            while true {
                guard position < packet.count else { return nil }
                let byte = Int(packet[position])
                switch byte & 0xC0 {
                case 0x00:
                    if byte == 0 {
                        return (labels, end ?? position + 1)
                    }
                    guard position + 1 + byte <= packet.count else { return nil }
                    labels.append(Array(packet[(position + 1)..<(position + 1 + byte)]))
                    length += byte + 1
                    guard length <= 255 else { return nil }
                    position += 1 + byte
                case 0xC0:
                    guard position + 1 < packet.count else { return nil }
                    if end == nil { end = position + 2 }
                    jumps += 1
                    guard jumps <= 64 else { return nil }
                    position = (byte & 0x3F) << 8 | Int(packet[position + 1])
                default:
                    return nil  // 0x40 / 0x80: extended label types
                }
            }
        }

        private static func u16(_ packet: [UInt8], _ offset: Int) -> UInt16 {
            UInt16(packet[offset]) << 8 | UInt16(packet[offset + 1])
        }

        // MARK: Building

        private static func append(_ value: UInt16, to bytes: inout [UInt8]) {
            bytes += [UInt8(value >> 8), UInt8(value & 0xFF)]
        }

        private static func append(_ value: UInt32, to bytes: inout [UInt8]) {
            bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
        }

        private static func header(
            id: UInt16, queryFlags: UInt8, truncated: Bool, rcode: UInt8, counts: [Int]
        ) -> [UInt8] {
            // QR, the query's opcode, AA, TC, the query's RD; then RA and the rcode.
            let first = 0x80 | (queryFlags & 0x78) | 0x04 | (truncated ? 0x02 : 0) | (queryFlags & 0x01)
            var bytes: [UInt8] = []
            append(id, to: &bytes)
            bytes += [first, 0x80 | (rcode & 0x0F)]
            for count in counts { append(UInt16(count), to: &bytes) }
            return bytes
        }

        static func headerOnly(id: UInt16, flags: UInt8, rcode: UInt8) -> [UInt8] {
            header(id: id, queryFlags: flags, truncated: false, rcode: rcode, counts: [0, 0, 0, 0])
        }

        private static func question(_ query: Question) -> [UInt8] {
            var bytes = name(labels: query.labels)
            append(query.type, to: &bytes)
            append(query.qclass, to: &bytes)
            return bytes
        }

        /// An answer echoing the question. Over UDP, an answer above the client's limit is sent
        /// truncated instead.
        static func response(
            _ query: Question, rcode: UInt8, answers: [[UInt8]] = [], truncated: Bool = false,
            transport: Transport
        ) -> [UInt8] {
            var bytes = header(
                id: query.id, queryFlags: query.flags, truncated: truncated, rcode: rcode,
                counts: [1, answers.count, 0, 0])
            bytes += question(query)
            for answer in answers { bytes += answer }
            let limit = transport == .udp ? query.udpLimit : 65_535
            if bytes.count > limit && !answers.isEmpty {
                return response(query, rcode: rcode, truncated: true, transport: transport)
            }
            return bytes
        }

        /// The right id and question, then one announced answer cut short after its owner name.
        static func malformed(_ query: Question) -> [UInt8] {
            var bytes = header(
                id: query.id, queryFlags: query.flags, truncated: false, rcode: 0, counts: [1, 1, 0, 0])
            bytes += question(query)
            bytes += [0xC0, 0x0C, 0x00, 0x01, 0x00]
            return bytes
        }

        static func name(labels: [[UInt8]]) -> [UInt8] {
            var bytes: [UInt8] = []
            for label in labels {
                bytes.append(UInt8(label.count))
                bytes += label
            }
            bytes.append(0)
            return bytes
        }

        static func name(_ text: String) -> [UInt8] {
            name(labels: text.split(separator: ".", omittingEmptySubsequences: true).map { Array($0.utf8) })
        }

        static func ipv4(_ text: String) -> [UInt8]? {
            var address = in_addr()
            guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
            return withUnsafeBytes(of: &address) { Array($0) }
        }

        static func ipv6(_ text: String) -> [UInt8]? {
            var address = in6_addr()
            guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
            return withUnsafeBytes(of: &address) { Array($0) }
        }

        static func names(in rr: RR) -> [String] {
            switch rr {
            case .cname(let name, _), .ns(let name, _), .ptr(let name, _), .mx(_, let name, _): return [name]
            case .soa(let mname, let rname, _, _, _, _, _, _): return [mname, rname]
            case .srv(_, _, _, let target, _): return [target]
            case .a, .aaaa, .txt, .caa: return []
            }
        }

        static func type(of rr: RR) -> UInt16 {
            switch rr {
            case .a: return 1
            case .ns: return 2
            case .cname: return 5
            case .soa: return 6
            case .ptr: return 12
            case .mx: return 15
            case .txt: return 16
            case .aaaa: return 28
            case .srv: return 33
            case .caa: return 257
            }
        }

        static func encode(_ rr: RR, owner: [UInt8]) -> [UInt8] {
            let ttl: UInt32
            var data: [UInt8] = []
            switch rr {
            case .a(let address, let t):
                ttl = t
                data = ipv4(address) ?? [0, 0, 0, 0]
            case .aaaa(let address, let t):
                ttl = t
                data = ipv6(address) ?? [UInt8](repeating: 0, count: 16)
            case .cname(let target, let t), .ns(let target, let t), .ptr(let target, let t):
                ttl = t
                data = name(target)
            case .mx(let preference, let exchange, let t):
                ttl = t
                append(preference, to: &data)
                data += name(exchange)
            case .txt(let strings, let t):
                ttl = t
                for string in strings.isEmpty ? [""] : strings {
                    var bytes = Array(string.utf8)
                    repeat {
                        let chunk = bytes.prefix(255)
                        data.append(UInt8(chunk.count))
                        data += chunk
                        bytes.removeFirst(chunk.count)
                    } while !bytes.isEmpty
                }
            case .soa(let mname, let rname, let serial, let refresh, let retry, let expire, let minimum, let t):
                ttl = t
                data = name(mname) + name(rname)
                for value in [serial, refresh, retry, expire, minimum] { append(value, to: &data) }
            case .srv(let priority, let weight, let port, let target, let t):
                ttl = t
                append(priority, to: &data)
                append(weight, to: &data)
                append(port, to: &data)
                data += name(target)
            case .caa(let flags, let tag, let value, let t):
                ttl = t
                data = [flags, UInt8(tag.utf8.count)] + Array(tag.utf8) + Array(value.utf8)
            }
            var bytes = owner
            append(type(of: rr), to: &bytes)
            append(UInt16(1), to: &bytes)  // IN
            append(ttl, to: &bytes)
            append(UInt16(data.count), to: &bytes)
            return bytes + data
        }
    }
}
