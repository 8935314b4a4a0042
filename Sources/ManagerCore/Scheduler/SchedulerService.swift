import Foundation
import Logging
import Prometheus
import SchedulerKit
import ServiceLifecycle
import Synchronization

/// The scheduling loop: one pass per scaling group with pending sessions when it can decide something new —
/// after a wake-up from any replica (an enqueue, a session's end, an agent joining, leaving or changing, an
/// option, policy or quota change: migration 0018's triggers announce those), when a waiting session's
/// `starts_at` or `pending_timeout` comes due, or after `idle_pass_interval` (`PassSchedule`); the tick only looks
/// at those deadlines, so an unchanged backlog costs nothing. Also marks silent agents LOST.
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
        /// The longest a group with PENDING sessions goes without a pass when nothing announced a change
        /// (`scheduler.idle_pass_interval`): the safety net for a change made without a wake-up.
        var idlePassInterval: Duration = .seconds(30)
    }

    /// What one pass saw, for `PassSchedule`.
    struct PassReport {
        /// The pass took the group's whole queue.
        var settled: Bool
        /// Seconds from the pass's start until a waiting session's time-based predicate changes, if ever.
        var deadlineIn: Double?
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
    private let schedule: Mutex<PassSchedule>
    private let skippedTotal: Counter

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
        self.schedule = Mutex(PassSchedule(idleInterval: configuration.idlePassInterval.seconds))
        self.skippedTotal = registry.makeCounter(descriptor: .init(
            namespace: "manager", subsystem: "scheduler", metricName: "passes_skipped", unitName: "total",
            helpText: "Passes not run because nothing that could change the group's outcome happened"))
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
                    for await _ in self.signal.schedulerWakeups {
                        // Recorded at once (not when the loop gets to it), so a pass already under way runs again.
                        self.schedule.withLock { $0.changed() }
                        trigger.yield(false)
                    }
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

    /// One pass per group with pending sessions that needs one (`PassSchedule`); true when some group was locked
    /// by another replica.
    private func runPasses() async -> Bool {
        let groups: [String]
        do {
            groups = try await SchedulingSnapshotReader.pendingGroups(self.pool)
        } catch {
            self.logger.error("cannot list scaling groups to schedule", metadata: ["error": "\(error)"])
            return false
        }
        self.schedule.withLock { $0.keep(only: Set(groups)) }
        var contended = false
        for group in groups.sorted() {
            let now = Date().timeIntervalSince1970
            let began: Int? = self.schedule.withLock { $0.needsPass(group, now: now) ? $0.generation : nil }
            guard let began else {
                self.skippedTotal.increment()
                continue
            }
            var report: PassReport?
            do {
                report = try await self.runPass(group: group)
                if report == nil { contended = true }
            } catch {
                self.logger.error("scheduling pass failed", metadata: ["scaling_group": "\(group)", "error": "\(error)"])
            }
            self.schedule.withLock {
                $0.passed(
                    group, began: began, at: now, due: report?.deadlineIn.map { now + $0 }, settled: report?.settled ?? false)
            }
        }
        return contended
    }

    /// Nil when another replica holds the group's lock.
    func runPass(group: String) async throws -> PassReport? {
        let started = ContinuousClock.now
        let reader = SchedulingSnapshotReader(maxPendingPerPass: self.configuration.maxPendingPerPass)
        let outcome: (SchedulingDecisionWriter.Applied, Int, PassReport)? = try await self.pool.withTransaction { tx in
            guard try await SchedulingSnapshotReader.lock(group: group, in: tx) else { return nil }
            guard let snapshot = try await reader.read(group: group, in: tx), !snapshot.pending.isEmpty else {
                return (SchedulingDecisionWriter.Applied(), 0, PassReport(settled: true, deadlineIn: nil))
            }
            let result = self.pass.run(snapshot)
            let applied = try await SchedulingDecisionWriter(waitRefreshInterval: self.configuration.waitRefreshInterval)
                .apply(result, snapshot: snapshot, in: tx)
            let report = PassReport(
                settled: snapshot.isComplete(maxReady: reader.maxPendingPerPass, maxParked: reader.maxParkedPerPass),
                deadlineIn: snapshot.nextDeadline.map { $0 - snapshot.now })
            return (applied, snapshot.pending.count, report)
        }
        guard let (applied, considered, report) = outcome else { return nil }
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
        return report
    }
}
