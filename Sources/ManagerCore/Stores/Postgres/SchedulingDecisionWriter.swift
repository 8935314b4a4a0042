import Foundation
import SchedulerKit

/// Applies a pass's decisions in the pass's transaction, in bulk: placements and cancellations as lifecycle
/// changes through `SessionChangeWriter`, the waits it records, and the group's round-robin cursor.
struct SchedulingDecisionWriter {
    struct Applied {
        var scheduled = 0
        var cancelled = 0
        /// Waiting sessions whose wait was written (new reasons, or the refresh interval passed).
        var waiting = 0
    }

    /// How often an unchanged wait is written again (see `WaitRecord`).
    var waitRefreshInterval: Duration = .seconds(10)

    func apply(_ result: PassResult, snapshot: SchedulingSnapshot, in tx: PostgresSession) async throws -> Applied {
        let now = Date(timeIntervalSince1970: snapshot.now)
        let stamp = Timestamp.pythonISO(now)
        var applied = Applied()

        // Placements and cancellations are transitions of PENDING sessions: the lifecycle decides each change and
        // the single writer applies them (only to sessions still PENDING: one cancelled meanwhile is skipped).
        let types = Dictionary(snapshot.pending.map { ($0.id, $0.type) }, uniquingKeysWith: { first, _ in first })
        var targets: [SessionChangeWriter.Target] = []
        for decision in result.decisions {
            let trigger: SessionTrigger
            switch decision {
            case .schedule(let placement):
                let data = Self.schedulerData(passed: placement.passed, failed: [], retries: nil, lastTry: stamp, message: nil)
                trigger = .schedule(.init(agentID: placement.agentID, slots: placement.slots), schedulerData: data)
            case .cancel(let cancellation):
                let data = Self.schedulerData(
                    passed: cancellation.passed, failed: cancellation.failed, retries: nil, lastTry: stamp,
                    message: cancellation.message)
                trigger = .cancel(StatusInfo(cancellation.statusInfo), schedulerData: data)
            case .wait:
                continue
            }
            guard let id = UUID(uuidString: decision.sessionID),
                let change = SessionLifecycle.decide(
                    SessionState(status: SessionLifecycle.initial, type: types[decision.sessionID] ?? .interactive, hasAgent: false),
                    trigger
                ).change
            else { continue }
            targets.append(.init(id: id, change: change))
        }
        for item in try await SessionChangeWriter.apply(targets, in: tx, now: now) {
            if item.change.to == .scheduled { applied.scheduled += 1 } else { applied.cancelled += 1 }
        }

        let refresh = Double(self.waitRefreshInterval.components.seconds)
            + Double(self.waitRefreshInterval.components.attoseconds) / 1e18
        let previous = Dictionary(snapshot.pending.map { ($0.id, $0.lastWait) }, uniquingKeysWith: { first, _ in first })
        let waits = result.waiting.filter { waiting in
            waiting.needsRecording(over: previous[waiting.sessionID] ?? nil, now: snapshot.now, refreshInterval: refresh)
        }.map { waiting in
            (id: waiting.sessionID, info: StatusInfo(waiting.statusInfo), schedulerData: Self.schedulerData(
                passed: waiting.passed, failed: waiting.failed, retries: waiting.retries, lastTry: stamp,
                message: waiting.message))
        }
        applied.waiting = try await SessionChangeWriter.recordWaits(waits, in: tx)

        try await tx.execute(
            """
            INSERT INTO scheduler_state (scaling_group, round_robin_cursor, last_pass)
            VALUES (\(snapshot.scalingGroup), \(result.roundRobinCursor), now())
            ON CONFLICT (scaling_group) DO UPDATE SET round_robin_cursor = EXCLUDED.round_robin_cursor, last_pass = now()
            """)
        return applied
    }

    /// `status_data.scheduler` as Backend.AI shapes it.
    static func schedulerData(
        passed: [String], failed: [PredicateFailure], retries: Int?, lastTry: String, message: String?
    ) -> JSONValue {
        var pairs: [(key: String, value: JSONValue)] = []
        if let retries { pairs.append(("retries", .number(Double(retries)))) }
        pairs.append(("last_try", .string(lastTry)))
        pairs.append(("failed_predicates", .array(failed.map {
            .object([("name", .string($0.name)), ("msg", .string($0.message))])
        })))
        pairs.append(("passed_predicates", .array(passed.map { .object([("name", .string($0))]) })))
        if let message { pairs.append(("msg", .string(message))) }
        return .object(pairs)
    }
}
