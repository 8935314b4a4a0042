import Foundation
import Logging
import ServiceLifecycle

/// Turns PostgreSQL notifications into wake-ups, on any replica.
///
/// - `manager_events` (every committed event row) bumps the log version SSE streams wait on.
/// - `agent_commands` (payload: an agent id) bumps that agent's version; its long-poll waits on it.
/// - `scheduler_wakeup` (payload: a scaling group) yields on `schedulerWakeups`, coalesced.
/// - `webhook_deliveries` (the outbox trigger) bumps the version webhook dispatchers wait on.
/// - `task_cancel` (payload: a task id) yields on `taskCancellations`: the replica running it stops it.
/// - `session_file_results` (payload: a file request's id) wakes the call waiting for that answer, on whichever
///   replica it is; ids nobody here waits for are ignored (so the versions stay bounded).
/// Waiters also time out, so a lost notification costs at most one poll interval. After a reconnect every key
/// is bumped, because notifications may have been missed.
public final class EventSignal: Service, Sendable {
    public static let channels = [
        "manager_events", "agent_commands", "scheduler_wakeup", "webhook_deliveries", "task_cancel", "session_file_results",
    ]
    private static let logKey = ""
    private static let webhookKey = "webhooks"

    private let listener: PostgresListener
    private let state = State()
    /// One element means "run a pass soon"; newer wake-ups replace older ones.
    public let schedulerWakeups: AsyncStream<Void>
    private let wakeupContinuation: AsyncStream<Void>.Continuation
    /// Tasks some replica was asked to cancel (read by `BackgroundTaskService`).
    let taskCancellations: AsyncStream<UUID>
    private let cancelContinuation: AsyncStream<UUID>.Continuation

    public init(conninfo: String, logger: Logger) {
        self.listener = PostgresListener(conninfo: conninfo, channels: Self.channels, logger: logger)
        (self.schedulerWakeups, self.wakeupContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        (self.taskCancellations, self.cancelContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(256))
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.listener.run() }
            for await event in self.listener.events {
                switch event {
                case .notification(let notification):
                    switch notification.channel {
                    case "agent_commands": await self.state.bump("agent:" + notification.payload)
                    case "scheduler_wakeup": self.wakeupContinuation.yield()
                    case "webhook_deliveries": await self.state.bump(Self.webhookKey)
                    case "session_file_results": await self.state.bumpIfKnown("file:" + notification.payload)
                    case "task_cancel":
                        if let id = UUID(uuidString: notification.payload) { self.cancelContinuation.yield(id) }
                    default: await self.state.bump(Self.logKey)
                    }
                case .reconnected:
                    await self.state.bumpAll()
                    self.wakeupContinuation.yield()
                }
            }
            self.wakeupContinuation.finish()
            self.cancelContinuation.finish()
        }
    }

    /// The current event-log version; pass it to `wait(after:timeout:)`.
    func version() async -> Int { await self.state.version(of: Self.logKey) }

    /// Returns when the event log moves past `version` or after `timeout`.
    func wait(after version: Int, timeout: Duration) async {
        await self.wait(key: Self.logKey, after: version, timeout: timeout)
    }

    /// The version of an agent's command queue.
    func commandVersion(agent: String) async -> Int { await self.state.version(of: "agent:" + agent) }

    /// Returns when new commands were queued for `agent` (after `version`) or after `timeout`.
    func waitForCommands(agent: String, after version: Int, timeout: Duration) async {
        await self.wait(key: "agent:" + agent, after: version, timeout: timeout)
    }

    /// Starts listening for the answer to file request `id` (before looking for it, so none is missed).
    func expectFileResult(_ id: Int64) async { await self.state.register("file:\(id)") }

    /// Returns when file request `id` was answered (on any replica) or after `timeout`.
    func waitForFileResult(_ id: Int64, timeout: Duration) async {
        await self.wait(key: "file:\(id)", after: 0, timeout: timeout)
    }

    /// Stops listening for file request `id`.
    func forgetFileResult(_ id: Int64) async { await self.state.forget("file:\(id)") }

    /// The version of the webhook outbox (bumped when deliveries are queued).
    func webhookVersion() async -> Int { await self.state.version(of: Self.webhookKey) }

    /// Returns when deliveries were queued (after `version`) or after `timeout`.
    /// Wakes this replica's webhook dispatcher (a delivery slot came free); other replicas are not told.
    func wakeWebhooks() async { await self.state.bump(Self.webhookKey) }

    func waitForWebhooks(after version: Int, timeout: Duration) async {
        await self.wait(key: Self.webhookKey, after: version, timeout: timeout)
    }

    private func wait(key: String, after version: Int, timeout: Duration) async {
        let ticket = await self.state.ticket()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.state.wait(key: key, after: version, ticket: ticket) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                await self.state.release(ticket)
            }
            await group.next()
            group.cancelAll()
        }
        // Both children are done here, so nothing can mark the ticket again.
        await self.state.finish(ticket)
    }

    /// Versions per key and the parked waiters; a timeout releases only its own waiter.
    actor State {
        private var versions: [String: Int] = [:]
        private var nextTicket = 0
        private var waiters: [Int: (key: String, continuation: CheckedContinuation<Void, Never>)] = [:]
        private var released: Set<Int> = []

        func version(of key: String) -> Int { self.versions[key] ?? 0 }

        func ticket() -> Int {
            self.nextTicket += 1
            return self.nextTicket
        }

        func bump(_ key: String) {
            self.versions[key, default: 0] += 1
            for (ticket, waiter) in self.waiters where waiter.key == key {
                self.waiters.removeValue(forKey: ticket)
                waiter.continuation.resume()
            }
        }

        /// Bumps `key` only when someone registered it.
        func bumpIfKnown(_ key: String) {
            guard self.versions[key] != nil else { return }
            self.bump(key)
        }

        func register(_ key: String) { self.versions[key] = 0 }

        func forget(_ key: String) { self.versions.removeValue(forKey: key) }

        func bumpAll() {
            for key in self.versions.keys { self.versions[key, default: 0] += 1 }
            self.versions[EventSignal.logKey, default: 0] += 1
            let waiting = self.waiters
            self.waiters.removeAll()
            for waiter in waiting.values { waiter.continuation.resume() }
        }

        func release(_ ticket: Int) {
            if let waiter = self.waiters.removeValue(forKey: ticket) {
                waiter.continuation.resume()
            } else {
                self.released.insert(ticket)
            }
        }

        func finish(_ ticket: Int) {
            self.released.remove(ticket)
            self.waiters.removeValue(forKey: ticket)?.continuation.resume()
        }

        func wait(key: String, after version: Int, ticket: Int) async {
            guard self.version(of: key) <= version, self.released.remove(ticket) == nil else { return }
            await withCheckedContinuation { self.waiters[ticket] = (key, $0) }
        }
    }
}
