import Foundation
@testable import ManagerCore
import SchedulerKit

/// Reads sessions straight from the test database, and waits for conditions with a bound.
struct SessionProbe {
    let pool: PostgresPool

    struct Row: Sendable {
        let id: UUID
        let name: String
        let status: String
        let statusInfo: String?
        let result: String
        let exitCode: Int?
        let agentID: String?
        let statusData: JSONValue
        let history: JSONValue
        let createdAt: Date
        let terminatedAt: Date?
    }

    struct Timeout: Error, CustomStringConvertible { let description: String }

    func sessions(named names: [String]? = nil) async throws -> [String: Row] {
        let rows = try await self.pool.query(
            """
            SELECT id, name, status, status_info, result, exit_code, agent_id, status_data, status_history, created_at,
                   terminated_at
            FROM sessions WHERE (\(names)::text[] IS NULL OR name = ANY(\(names)::text[]))
            """)
        var result: [String: Row] = [:]
        for row in rows {
            let item = Row(
                id: try row.decode("id"), name: try row.decode("name"), status: try row.decode("status"),
                statusInfo: try row.decodeOptional("status_info"), result: try row.decode("result"),
                exitCode: try row.decodeOptional("exit_code"), agentID: try row.decodeOptional("agent_id"),
                statusData: try JSONValue.decode(row.decode("status_data", as: JSONB.self).text),
                history: try JSONValue.decode(row.decode("status_history", as: JSONB.self).text),
                createdAt: try row.decode("created_at"), terminatedAt: try row.decodeOptional("terminated_at"))
            result[item.name] = item
        }
        return result
    }

    func session(_ name: String) async throws -> Row? { try await self.sessions(named: [name])[name] }

    /// Polls every 100 ms until `condition` holds; throws with `describe()` after `timeout`.
    func wait(
        _ what: String, timeout: Duration = .seconds(60), describe: @escaping () async -> String = { "" },
        until condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw Timeout(description: "timed out waiting for \(what): \(await describe())") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Waits until every named session has one of `statuses`.
    func waitFor(_ names: [String], in statuses: Set<String>, timeout: Duration = .seconds(60)) async throws -> [String: Row] {
        var latest: [String: Row] = [:]
        try await self.wait("\(names) to reach \(statuses.sorted())", timeout: timeout, describe: {
            latest.values.map { "\($0.name)=\($0.status)/\($0.statusInfo ?? "")" }.sorted().joined(separator: ", ")
        }) {
            latest = try await self.sessions(named: names)
            return names.allSatisfy { latest[$0].map { statuses.contains($0.status) } ?? false }
        }
        return latest
    }

    /// The `status_history` timestamp of `status`.
    static func when(_ row: Row, _ status: String) -> Date? {
        guard case .object(let pairs) = row.history, case .string(let text)? = pairs.first(where: { $0.key == status })?.value
        else { return nil }
        return Timestamp.parse(text)
    }

    /// `status_data.scheduler.<key>`.
    static func scheduler(_ row: Row, _ key: String) -> JSONValue? {
        guard case .object(let top) = row.statusData, case .object(let scheduler)? = top.first(where: { $0.key == "scheduler" })?.value
        else { return nil }
        return scheduler.first(where: { $0.key == key })?.value
    }
}
