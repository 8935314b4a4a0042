import Foundation
import Logging
import Prometheus
import SchedulerKit
import ServiceLifecycle

/// The scheduling loop: one pass per scaling group with pending sessions, on every tick and on wake-ups
/// (enqueue, session end, agent join) from any replica, coalesced. Also marks silent agents LOST.
///
/// A pass runs in one transaction under the group's advisory lock, so replicas never schedule a group at the
/// same time; a replica that dies mid-pass rolls back and leaves nothing half-applied.
final class SchedulerService: Service, Sendable {
    struct Configuration: Sendable {
        var tickInterval: Duration
        var heartbeatTimeout: Duration
        var maxPendingPerPass = 20_000
        /// How often an unchanged wait is written again (`scheduler.wait_refresh_interval`).
        var waitRefreshInterval: Duration = .seconds(10)
    }

    private let pool: PostgresPool
    private let signal: EventSignal
    private let agents: PostgresAgentStore
    private let heartbeats: HeartbeatHealth
    private let configuration: Configuration
    private let logger: Logger
    private let passDuration: DurationHistogram
    private let scheduledTotal: Counter
    private let cancelledTotal: Counter
    private let pass = SchedulingPass()

    init(
        pool: PostgresPool, signal: EventSignal, agents: PostgresAgentStore, heartbeats: HeartbeatHealth,
        configuration: Configuration,
        registry: PrometheusCollectorRegistry, logger: Logger
    ) {
        self.pool = pool
        self.signal = signal
        self.agents = agents
        self.heartbeats = heartbeats
        self.configuration = configuration
        self.logger = logger
        self.passDuration = registry.makeDurationHistogram(
            descriptor: .init(
                namespace: "manager", subsystem: "scheduler", metricName: "pass_duration", unitName: "seconds",
                helpText: "Time of one scheduling pass over a scaling group, snapshot to commit"),
            buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(20), .milliseconds(100), .milliseconds(500), .seconds(2), .seconds(10)])
        self.scheduledTotal = registry.makeCounter(descriptor: .init(
            namespace: "manager", subsystem: "scheduler", metricName: "sessions_scheduled", unitName: "total",
            helpText: "Sessions a pass placed on an agent"))
        self.cancelledTotal = registry.makeCounter(descriptor: .init(
            namespace: "manager", subsystem: "scheduler", metricName: "sessions_cancelled", unitName: "total",
            helpText: "Sessions a pass cancelled (pending-timeout, dependency-failed)"))
    }

    func run() async throws {
        // Ticks and wake-ups both land in one coalescing stream.
        let (triggers, trigger) = AsyncStream.makeStream(of: Bool.self, bufferingPolicy: .bufferingNewest(1))
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: self.configuration.tickInterval)
                        trigger.yield(true)
                    }
                }
                group.addTask {
                    for await _ in self.signal.schedulerWakeups { trigger.yield(false) }
                }
                trigger.yield(true)
                for await isTick in triggers {
                    if isTick { await self.checkLiveness() }
                    let started = ContinuousClock.now
                    let contended = await self.runPasses()
                    // At most half the time in passes: a pass costs O(pending), and wake-ups (every enqueue, every
                    // session end) can come faster than passes over a long queue end. Waiting as long as the
                    // passes took lets the triggers meanwhile coalesce into one; a short queue waits a few ms.
                    try? await Task.sleep(for: min(ContinuousClock.now - started, self.configuration.tickInterval))
                    if contended {
                        // Another replica held a group's lock with a possibly older snapshot: look again shortly.
                        group.addTask {
                            try? await Task.sleep(for: .milliseconds(100))
                            trigger.yield(false)
                        }
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            trigger.finish()
        }
    }

    private func checkLiveness() async {
        guard !self.heartbeats.failed(within: self.configuration.heartbeatTimeout) else {
            self.logger.warning("LOST sweep skipped: this replica failed to record agent heartbeats recently")
            return
        }
        do {
            let lost = try await self.agents.markLost(silentFor: self.configuration.heartbeatTimeout)
            for agent in lost {
                self.logger.warning("agent lost", metadata: ["agent_id": "\(agent)"])
            }
        } catch {
            self.logger.error("liveness check failed", metadata: ["error": "\(error)"])
        }
    }

    /// One pass per group with pending sessions; true when some group was locked by another replica.
    private func runPasses() async -> Bool {
        let groups: [String]
        do {
            groups = try await SchedulingSnapshotReader.pendingGroups(self.pool)
        } catch {
            self.logger.error("cannot list scaling groups to schedule", metadata: ["error": "\(error)"])
            return false
        }
        var contended = false
        for group in groups.sorted() {
            do {
                if try await self.runPass(group: group) == false { contended = true }
            } catch {
                self.logger.error("scheduling pass failed", metadata: ["scaling_group": "\(group)", "error": "\(error)"])
            }
        }
        return contended
    }

    /// False when another replica holds the group's lock.
    func runPass(group: String) async throws -> Bool {
        let started = ContinuousClock.now
        let reader = SchedulingSnapshotReader(maxPendingPerPass: self.configuration.maxPendingPerPass)
        let outcome: (SchedulingDecisionWriter.Applied, Int)? = try await self.pool.withTransaction { tx in
            guard try await SchedulingSnapshotReader.lock(group: group, in: tx) else { return nil }
            guard let snapshot = try await reader.read(group: group, in: tx), !snapshot.pending.isEmpty else {
                return (SchedulingDecisionWriter.Applied(), 0)
            }
            let result = self.pass.run(snapshot)
            let applied = try await SchedulingDecisionWriter(waitRefreshInterval: self.configuration.waitRefreshInterval)
                .apply(result, snapshot: snapshot, in: tx)
            return (applied, snapshot.pending.count)
        }
        guard let (applied, considered) = outcome else { return false }
        let elapsed = ContinuousClock.now - started
        self.passDuration.record(elapsed)
        self.scheduledTotal.increment(by: Int64(applied.scheduled))
        self.cancelledTotal.increment(by: Int64(applied.cancelled))
        if applied.scheduled > 0 || applied.cancelled > 0 {
            self.logger.info("scheduling pass", metadata: [
                "scaling_group": "\(group)", "pending": "\(considered)", "scheduled": "\(applied.scheduled)",
                "cancelled": "\(applied.cancelled)", "waiting": "\(applied.waiting)", "elapsed": "\(elapsed)",
            ])
        }
        return true
    }
}
