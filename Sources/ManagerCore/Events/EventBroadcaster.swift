import Foundation
import Logging
import Prometheus
import NIOCore
import ServiceLifecycle
import Synchronization

/// The one reader of the event logs on this replica, and the fan-out to its streams.
///
/// After each wake-up (`EventSignal`: a NOTIFY at the commit of any event row, on any replica) it reads the new rows
/// of both logs once — one query per log, whatever the number of streams — and hands each event to the bounded
/// buffer of every subscription on its topic. A stream whose client falls behind by more than its buffer is closed
/// and resumes from the log by `Last-Event-ID`, so a stuck client costs a fixed amount of memory. Streams catch up
/// from the log themselves when they open (after subscribing, so nothing falls between).
///
/// Events are handed out in id order. Ids are taken at insert, not at commit, so a row may become visible after a
/// higher one: a missing id holds delivery back until it appears or `gapGrace` has passed (a rolled-back insert
/// leaves a gap forever).
public final class EventBroadcaster: Service, Sendable {
    public struct Configuration: Sendable {
        /// Signals buffered per stream before it is closed.
        public var bufferSize = 1024
        public var pingInterval: Duration = .seconds(15)
        /// How long the reader waits for a wake-up before looking anyway (a lost notification costs this much).
        public var pollInterval: Duration = .seconds(1)
        public var batchSize = 1000
        public var gapGrace: Duration = .seconds(1)

        public init() {}
    }

    /// What a stream follows.
    public enum Topic: Hashable, Sendable {
        /// One session's events.
        case session(UUID)
        /// Every session event of one access key.
        case owner(String)
        /// Every session event (an admin's `owner_access_key=*`: the web view's queues).
        case everyone
        /// One background task's events.
        case task(UUID)
    }

    enum Signal: Sendable {
        case session(SessionEventRecord, frame: ByteBuffer)
        case task(BackgroundTaskEvent)
        case tick
    }

    /// One stream's subscription: a bounded queue its stream drains a batch at a time.
    final class Subscription: Sendable {
        let number: Int
        let topic: Topic
        private let queue: SignalQueue<Signal>
        private let overflowFlag = Atomic<Bool>(false)
        private let shutdownFlag = Atomic<Bool>(false)

        /// True when the buffer overflowed and the stream must end for the client to resume.
        var overflowed: Bool { self.overflowFlag.load(ordering: .relaxed) }
        /// True when the replica is stopping: the stream says `server_close` and the client resumes elsewhere.
        var endedByShutdown: Bool { self.shutdownFlag.load(ordering: .relaxed) }

        fileprivate init(number: Int, topic: Topic, bufferSize: Int) {
            self.number = number
            self.topic = topic
            self.queue = SignalQueue(capacity: bufferSize)
        }

        /// What arrived since the last call (waiting when nothing did); nil when the subscription has ended.
        func next() async -> [Signal]? { await self.queue.next() }

        fileprivate func send(_ signal: Signal) {
            if !self.queue.send(signal), !self.shutdownFlag.load(ordering: .relaxed) {
                self.overflowFlag.store(true, ordering: .relaxed)
            }
        }

        fileprivate func close() {
            self.shutdownFlag.store(true, ordering: .relaxed)
            self.queue.finish()
        }

        fileprivate func end() { self.queue.finish() }
    }

    let log: PostgresEventLog
    private let signal: EventSignal
    private let configuration: Configuration
    private let logger: Logger
    private let state = Mutex<(next: Int, topics: [Topic: [Int: Subscription]])>((0, [:]))
    private let reads: Prometheus.Counter
    private let closing = Atomic<Bool>(false)
    private let readTally = Atomic<Int>(0)

    /// Queries run over the event logs since start (the benchmark and tests compare it with the streams' number).
    public var readCount: Int { self.readTally.load(ordering: .relaxed) }

    public init(log: PostgresEventLog, signal: EventSignal, configuration: Configuration = .init(),
                registry: PrometheusCollectorRegistry, logger: Logger) {
        self.log = log
        self.signal = signal
        self.configuration = configuration
        self.logger = logger
        self.reads = registry.makeCounter(descriptor: .init(
            namespace: "manager", subsystem: "events", metricName: "log_reads", unitName: "total",
            helpText: "Queries the event broadcaster ran over the event logs (independent of the number of streams)"))
    }

    /// Streams subscribed on this replica.
    public var subscriptionCount: Int { self.state.withLock { $0.topics.values.reduce(0) { $0 + $1.count } } }

    /// A subscription with the configured buffer, or `bufferSize` signals.
    func subscribe(_ topic: Topic, bufferSize: Int? = nil) -> Subscription {
        self.state.withLock { state in
            state.next += 1
            let subscription = Subscription(
                number: state.next, topic: topic, bufferSize: max(1, bufferSize ?? self.configuration.bufferSize))
            state.topics[topic, default: [:]][state.next] = subscription
            if self.closing.load(ordering: .relaxed) { subscription.close() }
            return subscription
        }
    }

    func unsubscribe(_ subscription: Subscription) {
        self.state.withLock { state in
            state.topics[subscription.topic]?.removeValue(forKey: subscription.number)
            if state.topics[subscription.topic]?.isEmpty == true { state.topics.removeValue(forKey: subscription.topic) }
        }
        subscription.end()
    }

    private func subscriptions(_ topics: [Topic]) -> [Subscription] {
        self.state.withLock { state in topics.flatMap { state.topics[$0].map { Array($0.values) } ?? [] } }
    }

    private func everyone() -> [Subscription] {
        self.state.withLock { state in state.topics.values.flatMap(\.values) }
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    try? await cancelWhenGracefulShutdown {
                        while !Task.isCancelled {
                            try await Task.sleep(for: self.configuration.pingInterval)
                            for subscription in self.everyone() { subscription.send(.tick) }
                        }
                    }
                }
                try? await cancelWhenGracefulShutdown { await self.follow() }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            // This service is stopped before the HTTP server (it comes after it in the service group), so the
            // streams end here, each once, and the server's drain finds them done.
            self.closing.store(true, ordering: .relaxed)
            for subscription in self.everyone() { subscription.close() }
        }
    }

    /// The read loop: wait for news, read both logs from their cursors, hand out what is in order.
    private func follow() async {
        var sessions = Cursor(name: "events"), tasks = Cursor(name: "background_task_events")
        while !Task.isCancelled {
            do {
                let heads = try await self.log.heads()
                sessions.position = heads.sessions
                tasks.position = heads.tasks
                break
            } catch {
                self.logger.warning("cannot read the event logs' heads; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
        while !Task.isCancelled {
            let version = await self.signal.version()
            var holding = false
            do {
                holding = try await self.drainSessions(&sessions) || holding
                holding = try await self.drainTasks(&tasks) || holding
            } catch {
                self.logger.warning("reading the event logs failed; retrying", metadata: ["error": "\(error)"])
            }
            await self.signal.wait(after: version, timeout: holding ? .milliseconds(50) : self.configuration.pollInterval)
        }
    }

    /// Where the reader is in one log, and since when it has been waiting for a missing id.
    struct Cursor {
        let name: String
        var position = 0
        var gapSince: ContinuousClock.Instant?

        /// Whether a row with `id` may be handed out now: the next id, or one after a gap that outlived its grace.
        mutating func admits(_ id: Int, grace: Duration, logger: Logger) -> Bool {
            if id == self.position + 1 {
                self.gapSince = nil
                return true
            }
            let now = ContinuousClock.now
            guard let since = self.gapSince else {
                self.gapSince = now
                return false
            }
            guard now - since >= grace else { return false }
            logger.debug("skipping ids no transaction committed", metadata: [
                "log": "\(self.name)", "from": "\(self.position + 1)", "to": "\(id - 1)"])
            self.gapSince = nil
            return true
        }
    }

    private func countRead() {
        self.reads.increment()
        self.readTally.add(1, ordering: .relaxed)
    }

    /// True when a gap holds delivery back.
    private func drainSessions(_ cursor: inout Cursor) async throws -> Bool {
        while true {
            self.countRead()
            let events = try await self.log.sessionEvents(after: cursor.position, limit: self.configuration.batchSize)
            for event in events {
                guard cursor.admits(event.id, grace: self.configuration.gapGrace, logger: self.logger) else { return true }
                cursor.position = event.id
                var topics: [Topic] = []
                if let id = event.sessionID { topics.append(.session(id)) }
                if let owner = event.accessKey { topics.append(.owner(owner)) }
                topics.append(.everyone)
                let receivers = self.subscriptions(topics)
                guard !receivers.isEmpty else { continue }
                let frame = ByteBuffer(string: SessionEventFrame.text(event))
                for receiver in receivers { receiver.send(.session(event, frame: frame)) }
            }
            if events.count < self.configuration.batchSize { return false }
        }
    }

    private func drainTasks(_ cursor: inout Cursor) async throws -> Bool {
        while true {
            self.countRead()
            let events = try await self.log.taskEvents(after: cursor.position, limit: self.configuration.batchSize)
            for (id, event) in events {
                guard cursor.admits(id, grace: self.configuration.gapGrace, logger: self.logger) else { return true }
                cursor.position = id
                for receiver in self.subscriptions([.task(event.taskID)]) { receiver.send(.task(event)) }
            }
            if events.count < self.configuration.batchSize { return false }
        }
    }
}
