import Foundation
import SchedulerKit

/// `manager_state` (migration 0012): the installation's status and announcement, and the operator's switches on
/// agents (`schedulable`).
struct PostgresManagerStateStore: Sendable {
    let pool: PostgresPool

    enum Status: String, Sendable, CaseIterable {
        case running, frozen
    }

    struct Snapshot: Sendable, Equatable {
        var status: Status
        var announcementEnabled: Bool
        var announcement: String
    }

    func snapshot() async throws -> Snapshot {
        var snapshot = Snapshot(status: .running, announcementEnabled: false, announcement: "")
        for row in try await self.pool.query("SELECT key, value FROM manager_state") {
            let value = try JSONValue.decode(row.decode("value", as: JSONB.self).text)
            switch try row.decode("key", as: String.self) {
            case "status":
                if case .string(let text) = value, let status = Status(rawValue: text) { snapshot.status = status }
            case "announcement":
                if case .bool(let enabled)? = value["enabled"] { snapshot.announcementEnabled = enabled }
                if case .string(let message)? = value["message"] { snapshot.announcement = message }
            default: continue
            }
        }
        return snapshot
    }

    func setStatus(_ status: Status) async throws {
        try await self.pool.query(
            """
            INSERT INTO manager_state (key, value) VALUES ('status', to_jsonb(\(status.rawValue)::text))
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
            """)
    }

    func setAnnouncement(enabled: Bool, message: String) async throws {
        try await self.pool.query(
            """
            INSERT INTO manager_state (key, value)
            VALUES ('announcement', jsonb_build_object('enabled', \(enabled), 'message', \(message)::text))
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
            """)
    }

    /// Sessions that hold or are about to hold slots (`admin manager status`, `freeze --wait`).
    func activeSessions() async throws -> Int {
        try await self.pool.query(
            "SELECT count(*)::int AS n FROM sessions WHERE status = ANY(\(SessionOccupancy.activeNames)::text[])"
        ).first?.decode("n") ?? 0
    }

    /// The ids of every session that holds slots now (for `freeze --force-kill`).
    func activeSessionIDs() async throws -> [UUID] {
        try await self.pool.query(
            "SELECT id FROM sessions WHERE status = ANY(\(SessionOccupancy.activeNames)::text[]) ORDER BY created_at"
        ).map { try $0.decode("id") }
    }

    /// Lets agents take new sessions or not; returns the ids changed. Including wakes their groups' schedulers.
    func setSchedulable(_ ids: [String], _ schedulable: Bool) async throws -> [String] {
        try await self.pool.query(
            """
            WITH changed AS (
                UPDATE agents SET schedulable = \(schedulable) WHERE id = ANY(\(ids)::text[]) RETURNING id, scaling_group
            ), woken AS (
                SELECT pg_notify('scheduler_wakeup', g) FROM (SELECT DISTINCT scaling_group AS g FROM changed) groups
                WHERE \(schedulable)
            )
            SELECT id, (SELECT count(*) FROM woken) AS w FROM changed
            """
        ).map { try $0.decode("id") }
    }
}
