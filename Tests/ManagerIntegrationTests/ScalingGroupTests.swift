import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

@Suite struct ScalingGroupTests {
    @Test("the official CLI adds, updates, shows, lists and deletes scaling groups")
    func cliFlow() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment)
        let cli = BackendAICLI(environment: environment, endpoint: manager.endpoint,
                               accessKey: manager.adminAccessKey, secretKey: manager.adminSecretKey)
        let add = try await cli.run([
            "admin", "scaling-group", "add", "sg-batch", "--scheduler", "fifo", "--scheduler-opts",
            #"{"allowed_session_types":["batch"],"pending_timeout":"30m","custom_key":1}"#,
        ])
        #expect(add.status == 0, "\(add.stdout) \(add.stderr)")
        #expect(add.stdout.contains("success"))

        let info = try await cli.run(["admin", "scaling-group", "info", "sg-batch"])
        #expect(info.stdout.contains("allowed_session_types: ['batch']"), "\(info.stdout)")
        #expect(info.stdout.contains("pending_timeout: 1800"))
        #expect(info.stdout.contains("custom_key: 1"))

        let update = try await cli.run([
            "admin", "scaling-group", "update", "sg-batch", "-d", "nightly", "--scheduler-opts",
            #"{"allowed_session_types":["batch","interactive"]}"#,
        ])
        #expect(update.status == 0, "\(update.stderr)")
        let updated = try await cli.run(["admin", "scaling-group", "info", "sg-batch"])
        #expect(updated.stdout.contains("nightly"))
        // Modify replaces the whole value: pending_timeout falls back to 0 and the custom key is gone.
        #expect(updated.stdout.contains("pending_timeout: 0"), "\(updated.stdout)")
        #expect(!updated.stdout.contains("custom_key"))

        let list = try await cli.run(["admin", "scaling-group", "list"])
        #expect(list.stdout.contains("sg-batch") && list.stdout.contains("default"))

        let delete = try await cli.run(["admin", "scaling-group", "delete", "sg-batch"])
        #expect(delete.status == 0, "\(delete.stderr)")
        let after = try await cli.run(["admin", "scaling-group", "list"])
        #expect(!after.stdout.contains("sg-batch"))
        try await manager.stop()
    }

    @Test("bad scheduler_opts answer ok:false naming the key, and nothing is written", arguments: [
        (#"{"allowed_session_types":[]}"#, "allowed_session_types must not be empty"),
        (#"{"allowed_session_types":["gpu"]}"#, "'gpu' is not one of interactive, batch, inference"),
        (#"{"pending_timeout":-5}"#, "pending_timeout: a duration cannot be negative"),
        (#"{"pending_timeout":"5y"}"#, "pending_timeout: unknown duration unit 'y'"),
        (#"{"agent_selection_strategy":"random"}"#, "agent_selection_strategy"),
        (#"not json"#, "scheduler_opts is not valid JSON"),
        (#"[1]"#, "scheduler_opts must be a JSON object"),
    ])
    func badOptions(options: String, message: String) async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        let mutation = """
            mutation($name: String!, $input: CreateScalingGroupInput!) {
              create_scaling_group(name: $name, props: $input) { ok msg scaling_group { name } } }
            """
        let response = try await manager.admin.send(.POST, "/admin/gql", json: [
            "query": mutation, "variables": ["name": "sg-bad", "input": ["scheduler_opts": options]],
        ])
        let result = (response.json?["data"] as? [String: Any])?["create_scaling_group"] as? [String: Any]
        #expect(result?["ok"] as? Bool == false)
        #expect((result?["msg"] as? String)?.contains(message) == true, "\(response.text)")
        let count = try await manager.database.withPool { pool in
            try await pool.query("SELECT count(*) AS n FROM scaling_groups WHERE name = 'sg-bad'").first?.decode("n", as: Int.self)
        }
        #expect(count == 0)
        try await manager.stop()
    }

    @Test("mutations are admin-only; a normal key gets an error and nothing changes")
    func adminOnly() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        let user = try await manager.createUserKeypair(email: "user@example.com")
        let client = SignedClient(endpoint: manager.endpoint, accessKey: user.accessKey, secretKey: user.secretKey)
        for query in [
            #"mutation { create_scaling_group(name: "x1", props: {}) { ok msg } }"#,
            #"mutation { modify_scaling_group(name: "default", props: {description: "hacked"}) { ok msg } }"#,
            #"mutation { delete_scaling_group(name: "default") { ok msg } }"#,
        ] {
            let response = try await client.send(.POST, "/admin/gql", json: ["query": query])
            let errors = response.json?["errors"] as? [[String: Any]]
            let known = try await manager.database.withPool { pool in
                try await pool.query("SELECT count(*)::int AS n FROM keypairs WHERE access_key = \(user.accessKey)").first?.decode("n", as: Int.self)
            }
            let rejections = manager.log().split(separator: "\n").filter { $0.contains("signature rejected") || $0.contains("keypair") }
            #expect(errors?.first?["message"] as? String == "Only an admin may do this.",
                    "\(response.text); key \(user.accessKey) in the database: \(known ?? -1); \(rejections.suffix(5))")
        }
        let groups = try await manager.database.withPool { pool in
            try await pool.query("SELECT name, description FROM scaling_groups").map { try $0.decode("description", as: String.self) }
        }
        #expect(groups == ["The default scaling group"])
        try await manager.stop()
    }

    @Test("fields come back in the order they were selected, with JSONString fields as strings")
    func fieldOrder() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        let response = try await manager.admin.send(.POST, "/admin/gql", json: [
            "query": "query { scaling_group(name: \"default\") { scheduler_opts name is_active driver_opts } }",
        ])
        #expect(response.text.contains(#"{"data":{"scaling_group":{"scheduler_opts":"{"#), "\(response.text)")
        #expect(response.text.range(of: "\"name\"")!.lowerBound < response.text.range(of: "\"is_active\"")!.lowerBound)
        let group = (response.json?["data"] as? [String: Any])?["scaling_group"] as? [String: Any]
        let options = try #require(group?["scheduler_opts"] as? String)
        let decoded = try JSONSerialization.jsonObject(with: Data(options.utf8)) as? [String: Any]
        #expect(decoded?["allowed_session_types"] as? [String] == ["interactive", "batch"])
        #expect(group?["driver_opts"] as? String == "{}")
        try await manager.stop()
    }
}
