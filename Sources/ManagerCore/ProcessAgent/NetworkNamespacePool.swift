import CProcess
import Foundation
import Glibc
import Logging
import Synchronization

/// Network namespaces for `outbound` sessions, made before the sessions that will use them, so that a start does
/// not wait for slirp4netns (about 4 ms of a start here; BENCHMARKS.md "The session sandbox").
///
/// Each namespace is held by a small process (`unshare --net cat`, reading a lifetime pipe) with slirp4netns
/// attached and ready. A session takes one and enters it (`nsenter --net`) before it drops to the sandbox's user
/// and bubblewrap makes its other namespaces; bubblewrap then holds the pipe's only writing end (`--sync-fd`), so
/// both helpers end with the sandbox, even when no agent is left. The namespace belongs to the host's user
/// namespace, so nothing in the session (whose capabilities are only those of its own user namespace) can
/// reconfigure it. One namespace serves one session and is never reused.
///
/// Blocking (`make`, `fill`, `check`): call them from the blocking executor. `take`, `release`, `reap` and `shutDown` do not block.
final class NetworkNamespacePool: Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// A namespace ready for one session.
    struct Namespace: Sendable {
        /// The process that holds the namespace: `/proc/<holder>/ns/net` is the namespace while it is our child.
        var holder: pid_t
        var slirp: pid_t
        /// The pipe's writing end: whoever holds it keeps the helpers alive.
        var lifetime: Int32

        /// What enters the namespace for the command that follows.
        func enter(nsenter: String) -> [String] {
            [nsenter, "--net=/proc/\(self.holder)/ns/net", "--"]
        }
    }

    private struct State {
        var ready: [Namespace] = []
        /// A `fill` is running (one at a time: it makes namespaces one after the other).
        var filling = false
        /// After a failed make, no fill before this (a host that cannot make one now is not asked in a loop).
        var retryAfter: ContinuousClock.Instant?
        /// Helpers whose namespace was handed out and entered, or given up: reaped when they end.
        var ended: [pid_t] = []
        var closed = false
    }

    let capacity: Int
    private let unshare: String
    private let nsenterPath: String
    private let slirp4netns: String
    private let cat: String
    private let logPath: String
    private let logger: Logger
    private let state = Mutex(State())

    init(capacity: Int, unshare: String, nsenter: String, slirp4netns: String, cat: String, logPath: String, logger: Logger) {
        self.cat = cat
        self.logger = logger
        self.capacity = capacity
        self.unshare = unshare
        self.nsenterPath = nsenter
        self.slirp4netns = slirp4netns
        self.logPath = logPath
    }

    var nsenter: String { self.nsenterPath }

    /// A ready namespace whose helpers still run, or nil when none is (the caller makes one with `make`). One whose
    /// holder or slirp4netns has ended (killed by an operator, say) is given up, not handed out.
    func take() -> Namespace? {
        while let namespace = self.state.withLock({ state in state.ready.isEmpty ? nil : state.ready.removeFirst() }) {
            if ProcessLauncher.reap(child: namespace.holder) == nil, ProcessLauncher.reap(child: namespace.slirp) == nil {
                return namespace
            }
            self.logger.warning("a prepared network namespace lost its helpers; given up", metadata: [
                "holder": "\(namespace.holder)", "slirp4netns": "\(namespace.slirp)",
            ])
            self.release(namespace)
        }
        return nil
    }

    /// Whether a `fill` should be started: none runs, the pool is not full, and no failure asks to wait.
    var wantsFill: Bool {
        self.state.withLock { state in
            !state.closed && !state.filling && state.ready.count < self.capacity
                && (state.retryAfter.map { ContinuousClock.now >= $0 } ?? true)
        }
    }

    /// Makes namespaces one after the other until the pool is full; one fill at a time. A failure is logged and
    /// holds further fills back for `retryDelay` (a start with none ready makes its own and says why). Blocking.
    func fill() {
        let go = self.state.withLock { state -> Bool in
            guard !state.filling else { return false }
            state.filling = true
            return true
        }
        guard go else { return }
        defer { self.state.withLock { $0.filling = false } }
        while self.state.withLock({ !$0.closed && $0.ready.count < self.capacity }) {
            let made: Namespace
            do {
                made = try self.make()
            } catch {
                self.logger.warning("cannot prepare a network namespace", metadata: ["error": "\(error)"])
                self.state.withLock { $0.retryAfter = .now + Self.retryDelay }
                return
            }
            let extra: Namespace? = self.state.withLock { state in
                if state.closed { return made }
                state.ready.append(made)
                state.retryAfter = nil
                return nil
            }
            if let extra { self.release(extra) }
        }
    }

    static let retryDelay: Duration = .seconds(5)

    /// The session's start is over (it entered the namespace, or gave up): the agent's end of the pipe is closed
    /// and the helpers are reaped once they end.
    func release(_ namespace: Namespace) {
        Glibc.close(namespace.lifetime)
        self.state.withLock { $0.ended += [namespace.holder, namespace.slirp] }
    }

    /// Makes the first namespace now, so an agent that cannot give sessions their network refuses to start and says
    /// why. Blocking.
    func check() throws {
        let made = try self.make()
        if self.capacity == 0 {
            self.release(made)
        } else {
            self.state.withLock { $0.ready.append(made) }
        }
    }

    /// Reaps the helpers that ended. Never blocks.
    func reap() {
        self.state.withLock { state in
            state.ended.removeAll { ProcessLauncher.reap(child: $0) != nil }
        }
    }

    /// No more namespaces; the ready ones are given up (their helpers end as their pipes close).
    func shutDown() {
        let ready = self.state.withLock { state -> [Namespace] in
            state.closed = true
            defer { state.ready.removeAll() }
            return state.ready
        }
        for namespace in ready { self.release(namespace) }
    }

    /// Makes one namespace: the holder enters a new network namespace (seen through its `/proc` link), slirp4netns
    /// attaches to it and says it is ready. Both are spawned directly (no launcher shell: two execs fewer).
    /// Blocking; about as long as slirp4netns takes to start.
    func make() throws -> Namespace {
        // slirp4netns says a few lines at each start: the log keeps the recent ones.
        var info = cproc_stat()
        if cproc_stat_path(self.logPath, 1, &info) == 0, info.size > 1 << 20 { truncate(self.logPath, 0) }
        let lifetime = try SessionSandbox.pipe()
        var keepWriter = false
        defer {
            Glibc.close(lifetime.read)
            if !keepWriter { Glibc.close(lifetime.write) }
        }
        let environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        let holder = try ProcessLauncher.spawnDirectly(
            [self.unshare, "--net", "--", self.cat], descriptors: [.inherit(lifetime.read), .null, .append(self.logPath)],
            environment: environment)
        var helpers = [holder]
        do {
            // Never the host's own namespace: slirp4netns would configure the host's network. The holder's is
            // the host's until unshare has made the new one; nil once the holder is gone.
            guard let own = Self.namespace(of: "self") else { throw Failure(description: "cannot read this process's network namespace") }
            let deadline = ContinuousClock.now + .seconds(10)
            while true {
                guard let current = Self.namespace(of: String(holder)) else {
                    throw Failure(description: "unshare could not make a network namespace: \(self.logTail())")
                }
                if current != own { break }
                guard ContinuousClock.now < deadline else { throw Failure(description: "unshare did not make a network namespace within 10 s") }
                usleep(200)
            }
            let ready = try SessionSandbox.pipe()
            defer { Glibc.close(ready.read) }
            let slirp: pid_t
            do {
                defer { Glibc.close(ready.write) }
                slirp = try ProcessLauncher.spawnDirectly(
                    [self.slirp4netns, "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox",
                     "--netns-type=path", "--ready-fd=3", "--exit-fd=4", "/proc/\(holder)/ns/net", "tap0"],
                    descriptors: [.null, .append(self.logPath), .same(1), .inherit(ready.write), .inherit(lifetime.read)],
                    environment: environment)
            }
            helpers.append(slirp)
            guard try SessionSandbox.readAll(ready.read, timeout: 10, until: 1) == "1" else {
                throw Failure(description: "slirp4netns could not attach a network namespace: \(self.logTail())")
            }
            keepWriter = true
            return Namespace(holder: holder, slirp: slirp, lifetime: lifetime.write)
        } catch {
            for pid in helpers {
                kill(pid, SIGKILL)
                // One that does not end at once is reaped later.
                if ProcessLauncher.reapBlocking(pid) == nil { self.state.withLock { $0.ended.append(pid) } }
            }
            throw error
        }
    }

    /// `net:[inode]` of a process's network namespace.
    static func namespace(of process: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 64)
        let count = readlink("/proc/\(process)/ns/net", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func logTail() -> String {
        let text = (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
        return String(text.suffix(300)).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
