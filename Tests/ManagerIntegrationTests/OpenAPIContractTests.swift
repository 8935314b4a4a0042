import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// The OpenAPI document against the real daemon: it is served, it names every route the daemon registers, and
/// schemathesis, signing as the Backend.AI client does, finds no 5xx and no response outside the document.
@Suite struct OpenAPIContractTests {
    static let document = TestEnvironment.repositoryRoot.appendingPathComponent("Sources/ManagerCore/HTTP/OpenAPI/openapi.yaml")

    /// `(method, path)` of every `router.get|post|delete("…")` in Sources, with `:name` written `{name}`.
    static func registeredRoutes() throws -> Set<String> {
        let sources = TestEnvironment.repositoryRoot.appendingPathComponent("Sources/ManagerCore")
        let pattern = try NSRegularExpression(pattern: #"router\.(get|post|put|patch|delete|head)\("([^"]+)""#)
        var routes: Set<String> = []
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
        while let file = files?.nextObject() as? URL {
            guard file.pathExtension == "swift" else { continue }
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                guard let method = Range(match.range(at: 1), in: text), let path = Range(match.range(at: 2), in: text) else { continue }
                let openAPIPath = text[path].split(separator: "/", omittingEmptySubsequences: false)
                    .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
                routes.insert("\(text[method].uppercased()) \(openAPIPath)")
            }
        }
        routes.insert("POST \(AgentProtocol.path)")
        routes.insert("OPTIONS \(StorageRoutes.uploadPath)")
        return routes
    }

    /// `(method, path)` of every operation in the document (a small reader for its fixed layout).
    static func documentedOperations(_ yaml: String) -> Set<String> {
        var operations: Set<String> = []
        var inPaths = false
        var path: String?
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("paths:") { inPaths = true; continue }
            if inPaths && !line.isEmpty && !line.hasPrefix(" ") { break }
            guard inPaths else { continue }
            if line.hasPrefix("  /") && line.hasSuffix(":") && !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "),
                let method = ["get", "post", "put", "patch", "delete", "head", "options"].first(where: { line == "    \($0):" })
            {
                operations.insert("\(method.uppercased()) \(path)")
            }
        }
        return operations
    }

    @Test("GET /openapi.yaml serves the repository's document, which documents every route the daemon registers")
    func documentCoversRoutes() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        let served = try await HTTP.get("\(manager.endpoint)/openapi.yaml")
        let file = try String(contentsOf: Self.document, encoding: .utf8)
        #expect(served.status == 200)
        #expect(served.header("Content-Type")?.hasPrefix("application/yaml") == true)
        #expect(served.text == file)
        #expect(file.hasPrefix("openapi: 3.1"))

        let registered = try Self.registeredRoutes()
        let documented = Self.documentedOperations(file)
        #expect(registered.count >= 28, "the route scan found \(registered.count) routes")
        #expect(registered.subtracting(documented).isEmpty, "undocumented routes: \(registered.subtracting(documented).sorted())")
        #expect(documented.subtracting(registered).isEmpty, "documented but not served: \(documented.subtracting(registered).sorted())")
        try await manager.stop()
    }

    @Test("schemathesis, signing as the Backend.AI client, finds no 5xx and no response outside the document")
    func schemathesisPass() async throws {
        let environment = try TestEnvironment.current()
        let volume = try environment.scratchDirectory("volume1")
        // With the process agent on: what the generated requests enqueue is scheduled and started too, so a
        // request the API accepts but the agent cannot run would show here (as it did with a number in environ).
        let manager = try await ManagerProcess(
            environment, extraConfig: VFolderTests.storageConfig(volume: volume, rateLimit: "0", lease: "10s"),
            localAgent: .init(cpu: "2", mem: "2g"))
        let admin = manager.admin

        // Objects that exist, so that part of the generated path parameters reach them instead of a 404.
        let session = try await admin.send(.POST, "/session", json: ["name": "st-session", "image": "python:3.11", "enqueueOnly": true])
        #expect(session.status == 201, "\(session.text)")
        let folder = try await admin.send(.POST, "/folders", json: ["name": "st-source", "cloneable": true])
        #expect(folder.status == 201, "\(folder.text)")
        let clone = try await admin.send(.POST, "/folders/st-source/clone", json: ["target_name": "st-copy"])
        #expect(clone.status == 201, "\(clone.text)")
        let task = try #require(clone.json?["bgtask_id"] as? String)

        let examples = ProcessInfo.processInfo.environment["MANAGER_TEST_SCHEMATHESIS_EXAMPLES"] ?? "8"
        var env = ProcessInfo.processInfo.environment
        env["SCHEMATHESIS_HOOKS"] = "schemathesis_hooks"
        env["PYTHONPATH"] = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/ManagerIntegrationTests/Support").path
        env["ST_ACCESS_KEY"] = manager.adminAccessKey
        env["ST_SECRET_KEY"] = manager.adminSecretKey
        env["ST_AGENT_SECRET"] = ManagerProcess.agentSecret
        env["ST_KNOWN_SESSIONS"] = "st-session"
        env["ST_KNOWN_FOLDERS"] = "st-source,st-copy"
        env["ST_KNOWN_TASKS"] = task
        let run = try await runProcess(
            try environment.schemathesisExecutable,
            ["run", "\(manager.endpoint)/openapi.yaml",
             "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
             // Freezing the daemon (PUT /manager/status, allowed to the admin it signs as) would turn every later
             // request into a 503; OperatorTests covers that route.
             "--exclude-operation-id", "setManagerStatus",
             "--max-examples", examples, "--request-timeout", "2", "--seed", "20261123", "--workers", "2", "--no-color"],
            environment: env, currentDirectory: try environment.scratchDirectory("schemathesis"), timeout: .seconds(3600))
        let output = run.stdout + run.stderr
        let summary = output.split(separator: "\n").drop { !$0.contains("SUMMARY") }.joined(separator: "\n")
        #expect(run.status == 0, "schemathesis failed:\n\(output.suffix(6000))")
        #expect(output.contains("Tested: 73"), "\(summary)")
        // "Test cases:\n  N generated, N passed": the run really generated cases, and all passed.
        let counts = try #require(try Regex(#"(\d+) generated, (\d+) passed"#).firstMatch(in: output), "\(summary)")
        let generated = Int(counts.output[1].substring ?? "") ?? 0
        #expect(generated >= 400, "\(summary)")
        #expect(counts.output[1].substring == counts.output[2].substring, "\(summary)")
        print("schemathesis (--max-examples \(examples)): \(counts.output[0].substring ?? "")")

        // The daemon logged no unexpected error, its agent refused no command it was sent, and it still answers.
        let log = manager.log()
        #expect(!log.contains("command refused"), "\(log.split(separator: "\n").filter { $0.contains("command refused") }.prefix(5))")
        #expect(!log.contains("unexpected error"), "\(log.split(separator: "\n").filter { $0.contains("unexpected error") }.prefix(5))")
        #expect(try await HTTP.get("\(manager.endpoint)/health").status == 200)
        try await manager.stop()
    }
}
