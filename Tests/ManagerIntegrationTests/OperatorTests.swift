import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// The operator's day through the official CLI: manager status, freeze and unfreeze, the announcement, agents
/// taken out of scheduling and put back, agent info.
@Suite("Operator views", .serialized)
struct OperatorTests {
    @Test("admin manager status/freeze/unfreeze, announcement update/get/delete, scheduler exclude/include-agents, agent info, --assign-agent")
    func operatorDay() async throws {
        let setup = try await SandboxTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        // Created once it runs, so the embedded agent has joined.
        _ = try await setup.cli.run(["session", "create", "-c", "exec sleep 300", "-t", "busy", "python:3.11"])
        let agentID: String = try #require(try await setup.pool.query("SELECT id FROM agents LIMIT 1").first?.decode("id"))

        let status = try await setup.cli.run(["admin", "manager", "status"])
        #expect(status.status == 0 && status.stdout.contains("running") && status.stdout.contains("1"), "\(status.stdout) \(status.stderr)")

        // Frozen: new sessions are refused with Backend.AI's message; what runs goes on; reads still work.
        let freeze = try await setup.cli.run(["admin", "manager", "freeze"])
        #expect(freeze.status == 0 && freeze.stdout.contains("frozen"), "\(freeze.stdout) \(freeze.stderr)")
        let refused = try await setup.manager.admin.send(.POST, "/session", json: ["name": "during-freeze", "image": "python:3.11"])
        #expect(refused.status == 503 && refused.text.contains("frozen"), "\(refused.text)")
        let folder = try await setup.manager.admin.send(.POST, "/folders", json: ["name": "frozen-folder"])
        #expect(folder.status == 503, "\(folder.text)")
        #expect(try await setup.probe.session("busy")?.status == "RUNNING")
        #expect(try await setup.cli.run(["ps"]).stdout.contains("busy"))
        let frozenStatus = try await setup.manager.admin.send(.GET, "/manager/status")
        #expect(frozenStatus.json?["status"] as? String == "frozen", "\(frozenStatus.text)")
        // Only admins change it.
        let user = try await setup.manager.createUserKeypair(email: "ops-user@example.com")
        let client = SignedClient(endpoint: setup.manager.endpoint, accessKey: user.accessKey, secretKey: user.secretKey)
        #expect(try await client.send(.PUT, "/manager/status", json: ["status": "running"]).status == 403)
        let unfreeze = try await setup.cli.run(["admin", "manager", "unfreeze"])
        #expect(unfreeze.status == 0 && unfreeze.stdout.contains("unfrozen"), "\(unfreeze.stdout) \(unfreeze.stderr)")
        #expect(try await setup.manager.admin.send(.POST, "/session", json: ["name": "after-freeze", "image": "python:3.11"]).status == 201)

        // The announcement every CLI command fetches.
        let update = try await setup.cli.run(["admin", "announcement", "update", "-m", "Maintenance at 18:00"])
        #expect(update.status == 0, "\(update.stdout) \(update.stderr)")
        let shown = try await setup.cli.run(["admin", "announcement", "get"])
        #expect(shown.stdout.contains("Maintenance at 18:00"), "\(shown.stdout) \(shown.stderr)")
        #expect(try await client.send(.POST, "/manager/announcement", json: ["enabled": true, "message": "x"]).status == 403)
        #expect(try await setup.manager.admin.send(.POST, "/manager/announcement", json: ["enabled": false]).status == 204)
        #expect(try await setup.cli.run(["admin", "announcement", "get"]).stdout.contains("No announcements"))

        // An excluded agent takes no new session; included again, the waiting one starts.
        let exclude = try await setup.cli.run(["admin", "manager", "scheduler", "exclude-agents", agentID])
        #expect(exclude.status == 0, "\(exclude.stdout) \(exclude.stderr)")
        _ = try await setup.cli.run(["session", "create", "--enqueue-only", "-c", "exec sleep 300", "-t", "parked", "python:3.11"])
        try await Task.sleep(for: .seconds(2))
        #expect(try await setup.probe.session("parked")?.status == "PENDING")
        let info = try await setup.cli.run(["admin", "agent", "info", agentID])
        #expect(info.status == 0 && info.stdout.contains(agentID) && info.stdout.contains("ALIVE"), "\(info.stdout) \(info.stderr)")
        let excluded = try await setup.manager.admin.send(.POST, "/admin/gql", json: [
            "query": "query($a: String!) { agent(agent_id: $a) { id schedulable } }", "variables": ["a": agentID],
        ])
        #expect(((excluded.json?["data"] as? [String: Any])?["agent"] as? [String: Any])?["schedulable"] as? Bool == false, "\(excluded.text)")
        let include = try await setup.cli.run(["admin", "manager", "scheduler", "include-agents", agentID])
        #expect(include.status == 0, "\(include.stdout) \(include.stderr)")
        _ = try await setup.probe.waitFor(["parked"], in: ["RUNNING"], timeout: .seconds(20))
        let unknown = try await setup.manager.admin.send(.POST, "/manager/scheduler/operation", json: ["op": "exclude-agents", "args": ["nope"]])
        #expect(unknown.status == 404, "\(unknown.text)")
        let badOp = try await setup.manager.admin.send(.POST, "/manager/scheduler/operation", json: ["op": "drain", "args": [agentID]])
        #expect(badOp.status == 400 && badOp.text.contains("'op'"), "\(badOp.text)")

        // --assign-agent (admins): placed on the agent named; an agent that is not there leaves it waiting, saying so.
        let pinned = try await setup.cli.run(["session", "create", "--assign-agent", agentID, "-c", "exec sleep 300", "-t", "pinned-1", "python:3.11"])
        #expect(pinned.status == 0, "\(pinned.stdout) \(pinned.stderr)")
        let placed = try #require(try await setup.probe.session("pinned-1"))
        #expect(placed.status == "RUNNING" && placed.agentID == agentID)
        _ = try await setup.cli.run(["session", "create", "--enqueue-only", "--assign-agent", "elsewhere-1,elsewhere-2", "-c", "true", "-t", "pinned-2", "python:3.11"])
        try await setup.probe.wait("pinned-2 to say why it waits", timeout: .seconds(20)) {
            let data: String? = try await setup.pool.query("SELECT status_data::text AS d FROM sessions WHERE name = 'pinned-2'").first?.decode("d")
            return data?.contains("not designated") == true
        }
        #expect(try await setup.probe.session("pinned-2")?.status == "PENDING")
        let assigner = try await setup.manager.createUserKeypair(email: "assign-user@example.com")
        let userCLI = BackendAICLI(environment: try TestEnvironment.current(), endpoint: setup.manager.endpoint,
                                   accessKey: assigner.accessKey, secretKey: assigner.secretKey)
        let notAdmin = try await userCLI.run(["session", "create", "--enqueue-only", "--assign-agent", agentID, "-t", "pinned-3", "python:3.11"])
        #expect(notAdmin.status != 0 && (notAdmin.stdout + notAdmin.stderr).contains("only an admin"), "\(notAdmin.stdout) \(notAdmin.stderr)")
        #expect(try await setup.probe.session("pinned-3") == nil)

        // admin resource: slot types, folder types, registries (none), recalculate-usage (admins; nothing to correct).
        let slots = try await setup.cli.run(["admin", "resource", "query-slots"])
        #expect(slots.stdout.contains("cpu (count)") && slots.stdout.contains("mem (bytes)"), "\(slots.stdout) \(slots.stderr)")
        let types = try await setup.cli.run(["admin", "resource", "vfolder-types"])
        #expect(types.stdout.split(separator: "\n") == ["user", "group"], "\(types.stdout) \(types.stderr)")
        let registries = try await setup.cli.run(["admin", "resource", "docker-registries"])
        #expect(registries.status == 0 && registries.stdout.isEmpty && registries.stderr.isEmpty, "\(registries.stdout) \(registries.stderr)")
        let recalculated = try await setup.cli.run(["admin", "resource", "recalculate-usage"])
        #expect(recalculated.stdout.contains("re-calculated"), "\(recalculated.stdout) \(recalculated.stderr)")
        let userRecalc = try await userCLI.run(["admin", "resource", "recalculate-usage"])
        #expect(!userRecalc.stdout.contains("re-calculated"), "\(userRecalc.stdout) \(userRecalc.stderr)")

        // admin storage list / info: the configured volumes, with their use (admins only).
        let storage = try await setup.cli.run(["admin", "storage", "list"])
        #expect(storage.status == 0 && storage.stdout.contains("local:volume1") && storage.stdout.contains("vfs"), "\(storage.stdout) \(storage.stderr)")
        let volume = try await setup.cli.run(["admin", "storage", "info", "local:volume1"])
        #expect(volume.status == 0 && volume.stdout.contains(setup.volume.path), "\(volume.stdout) \(volume.stderr)")
        let userStorage = try await userCLI.run(["admin", "storage", "list"])
        #expect(userStorage.status != 0 && !userStorage.stdout.contains("local:volume1"), "\(userStorage.stdout) \(userStorage.stderr)")
        try await setup.manager.stop()
    }
}
