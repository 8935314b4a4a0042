import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// `ps --filter`, `--order` and `--format` as the CLI sends them; bad expressions are GraphQL errors that name
/// what is wrong, never ignored; `session status-history` and `rename`.
@Suite struct SessionListFilterTests {
    @Test("ps --filter returns only matching rows, --order sorts them, --format shows every field it offers; bad filters are errors")
    func filterAndOrder() async throws {
        let setup = try await VFolderTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        for name in ["alpha-1", "alpha-2", "beta-1"] {
            let made = try await setup.admin.send(.POST, "/session", json: ["name": name, "image": "python:3.11"])
            #expect(made.status == 201, "\(made.text)")
        }
        let filtered = try await setup.cli.run(["ps", "--filter", #"name ilike "%ALPHA%""#, "--name-only"])
        #expect(filtered.status == 0 && filtered.stdout.contains("alpha-1") && filtered.stdout.contains("alpha-2"), "\(filtered.stdout) \(filtered.stderr)")
        #expect(!filtered.stdout.contains("beta-1"), "\(filtered.stdout)")
        let combined = try await setup.cli.run(["ps", "--filter", #"name like "alpha%" & !(name == "alpha-2")"#, "--name-only"])
        #expect(combined.stdout.contains("alpha-1") && !combined.stdout.contains("alpha-2") && !combined.stdout.contains("beta"), "\(combined.stdout)")

        func names(_ order: String) async throws -> [String] {
            let response = try await setup.admin.send(.POST, "/admin/gql", json: [
                "query": "query($o: String) { compute_session_list(limit: 10, offset: 0, order: $o) { items { name } total_count } }",
                "variables": ["o": order],
            ])
            let list = (response.json?["data"] as? [String: Any])?["compute_session_list"] as? [String: Any]
            return ((list?["items"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
        }
        #expect(try await names("name") == ["alpha-1", "alpha-2", "beta-1"])
        #expect(try await names("-name") == ["beta-1", "alpha-2", "alpha-1"])
        #expect(try await names("-created_at") == ["beta-1", "alpha-2", "alpha-1"])

        let format = try await setup.cli.run(
            ["ps", "--filter", #"name == "alpha-1""#, "--format", "name,cluster_size,agent_ids,mounts,user_email,scheduled_at,group_id,registry"])
        #expect(format.status == 0 && format.stdout.contains("admin@example.com") && format.stdout.contains("alpha-1"),
                "\(format.stdout) \(format.stderr)")

        for (filter, word) in [(#"nosuch == 1"#, "nosuch"), (#"name =="#, "filter"), (#"created_at > "yesterday""#, "created_at")] {
            let response = try await setup.admin.send(.POST, "/admin/gql", json: [
                "query": "query($f: String) { compute_session_list(limit: 10, offset: 0, filter: $f) { total_count } }",
                "variables": ["f": filter],
            ])
            let errors = response.json?["errors"] as? [[String: Any]]
            #expect(response.status == 200 && (errors?.first?["message"] as? String)?.contains(word) == true, "\(filter): \(response.text)")
        }
        let badOrder = try await setup.admin.send(.POST, "/admin/gql", json: [
            "query": #"query { compute_session_list(limit: 10, offset: 0, order: "-password") { total_count } }"#,
        ])
        #expect(badOrder.text.contains("password"), "\(badOrder.text)")
        try await setup.manager.stop()
    }

    @Test("session status-history prints the real allocation time; rename renames a running session and refuses taken names")
    func historyAndRename() async throws {
        let setup = try await SandboxTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let created = try await setup.cli.run(["session", "create", "-c", "exec sleep 300", "-t", "named", "python:3.11"])
        #expect(created.status == 0, "\(created.stderr)")
        let history = try await setup.cli.run(["session", "status-history", "named"])
        let historyText = history.stdout + history.stderr
        #expect(history.status == 0 && historyText.contains("RUNNING") && historyText.contains("preparing"), "\(historyText)")
        let raw = try await setup.manager.admin.send(.GET, "/session/named/status-history")
        let result = raw.json?["result"] as? [String: Any]
        #expect(result?["PENDING"] is String && result?["RUNNING"] is String, "\(raw.text)")

        _ = try await setup.cli.run(["session", "create", "-c", "exec sleep 300", "-t", "other", "python:3.11"])
        let renamed = try await setup.cli.run(["session", "rename", "named", "renamed"])
        #expect(renamed.status == 0, "\(renamed.stdout) \(renamed.stderr)")
        #expect(try await setup.probe.session("renamed")?.status == "RUNNING")
        let taken = try await setup.manager.admin.send(.POST, "/session/renamed/rename?name=other")
        #expect(taken.status == 400 && taken.text.contains("other"), "\(taken.text)")
        let invalid = try await setup.manager.admin.send(.POST, "/session/renamed/rename?name=" + String(repeating: "x", count: 100))
        #expect(invalid.status == 400 && invalid.text.contains("'name'"), "\(invalid.text)")
        try await setup.manager.stop()
    }
}
