import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore
import SchedulerKit

/// `backend.ai run` as a researcher types it: the session is created (waiting until RUNNING), the code runs in a new
/// sandbox of the session through the execute WebSocket, its output comes back, and `--rm` removes the session.
@Suite("run", .serialized)
struct RunTests {
    @Test("run --rm -c 'print(6*7)' prints 42 and leaves no session; input() is answered from the CLI; --exec runs uploaded files; an unknown language says to use --exec")
    func run() async throws {
        let setup = try await SandboxTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let result = try await setup.cli.run(["run", "--rm", "-c", "print(6*7)", "python:3.11"], timeout: .seconds(90))
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.split(separator: "\n").contains("42"), "\(result.stdout) \(result.stderr)")
        #expect((result.stdout + result.stderr).contains("exit code = 0"), "\(result.stdout) \(result.stderr)")
        // --rm: the session ended (its agent stops it).
        let live: Int = try #require(try await setup.pool.query(
            "SELECT count(*)::int AS n FROM sessions WHERE status NOT IN ('TERMINATED', 'CANCELLED', 'ERROR', 'TERMINATING')"
        ).first?.decode("n"))
        #expect(live == 0)

        // It runs as the sandbox's user, in /home/work, with the session's own files.
        let inside = try await setup.cli.run(
            ["run", "--rm", "-c", "import os; print(os.getuid(), os.getcwd()); raise SystemExit(3)", "python:3.11"], timeout: .seconds(90))
        #expect(inside.stdout.contains("1000 /home/work"), "\(inside.stdout) \(inside.stderr)")
        #expect((inside.stdout + inside.stderr).contains("exit code = 3"), "\(inside.stdout) \(inside.stderr)")

        // Code that asks for input: each input() is a `waiting-input`, the CLI reads a line of its stdin and sends it.
        let asked = try await setup.cli.run(
            ["run", "--rm", "-c", "name = input('who? ')\nplace = input('where? ')\nprint('hello', name, 'in', place)", "python:3.11"],
            timeout: .seconds(90), input: "ada\nlondon\n")
        #expect(asked.stdout.contains("who? ") && asked.stdout.contains("where? "), "\(asked.stdout) \(asked.stderr)")
        #expect(asked.stdout.contains("hello ada in london"), "\(asked.stdout) \(asked.stderr)")
        #expect(!asked.stdout.contains("backend.ai-input"), "the marker leaked: \(asked.stdout)")
        #expect((asked.stdout + asked.stderr).contains("exit code = 0"), "\(asked.stdout) \(asked.stderr)")

        let local = try TestEnvironment.current().scratchDirectory("run-files")
        try Data("print('from main', 7 * 6)\n".utf8).write(to: local.appendingPathComponent("main.py"))
        let exec = try await setup.cli.run(
            ["run", "--rm", "--exec", "python3 main.py", "python:3.11", "main.py"], timeout: .seconds(90), in: local)
        #expect(exec.stdout.contains("from main 42"), "status \(exec.status) OUT \(exec.stdout) ERR \(exec.stderr.suffix(3000))")

        let unknown = try await setup.cli.run(["run", "--rm", "-c", "1+1", "mystery-lang:1"], timeout: .seconds(90))
        #expect((unknown.stdout + unknown.stderr).contains("--exec"), "\(unknown.stdout) \(unknown.stderr)")

        // `task-logs ID`: a batch session's output, as text.
        _ = try await setup.cli.run(["session", "create", "--type", "batch", "-c", "echo task-output-7", "-t", "logged", "python:3.11"])
        let logged = try #require(try await setup.probe.waitFor(["logged"], in: ["TERMINATED"])["logged"])
        try await eventually("the output to arrive", timeout: .seconds(10)) {
            try await setup.cli.run(["task-logs", logged.id.uuidString.lowercased()]).stdout.contains("task-output-7")
        }
        let stranger = try await setup.manager.createUserKeypair(email: "logs-stranger@example.com")
        let other = SignedClient(endpoint: setup.manager.endpoint, accessKey: stranger.accessKey, secretKey: stranger.secretKey)
        #expect(try await other.send(.GET, "/session/_/logs?taskId=\(logged.id.uuidString.lowercased())").status == 404)

        // Without an upgrade the endpoint says what it needs.
        _ = try await setup.cli.run(["session", "create", "-c", "exec sleep 300", "-t", "kept", "python:3.11"])
        let plain = try await setup.manager.admin.send(.GET, "/stream/session/kept/execute")
        #expect(plain.status == 400 && plain.text.contains("WebSocket"), "\(plain.text)")
        try await setup.manager.stop()
    }

    @Test("the polling execute API (POST /session/{name}): query, then continue with each answer's runId until finished; waiting-input answered by mode input; bad runIds and modes are 400s")
    func polling() async throws {
        let setup = try await SandboxTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let created = try await setup.cli.run(["session", "create", "-c", "exec sleep 300", "-t", "polled", "python:3.11"])
        #expect(created.status == 0, "\(created.stdout) \(created.stderr)")
        let admin = setup.manager.admin
        /// Sends `first`, then `continue` (or `input` with the next of `answers`) with each answer's runId until finished.
        func loop(_ first: [String: Any], answers: [String] = []) async throws -> (output: String, statuses: [String], exitCode: Int?) {
            var body = first
            var output = ""
            var statuses: [String] = []
            var answers = answers
            for _ in 0..<400 {
                let response = try await admin.send(.POST, "/session/polled", json: body)
                guard response.status == 200, let result = try JSONValue.parse(response.text)["result"],
                    case .string(let runID)? = result["runId"], case .string(let status)? = result["status"]
                else {
                    Issue.record("\(response.status) \(response.text)")
                    return (output, statuses, nil)
                }
                statuses.append(status)
                if case .array(let items)? = result["console"] {
                    for item in items { if case .array(let pair) = item, pair.count == 2, case .string(let text) = pair[1] { output += text } }
                }
                if status == "finished" {
                    if case .number(let code)? = result["exitCode"] { return (output, statuses, Int(code)) }
                    return (output, statuses, nil)
                }
                if status == "waiting-input", !answers.isEmpty {
                    body = ["mode": "input", "code": answers.removeFirst(), "runId": runID]
                } else {
                    body = ["mode": "continue", "code": "", "runId": runID]
                }
            }
            Issue.record("the run never finished: \(statuses.suffix(5))")
            return (output, statuses, nil)
        }
        let plain = try await loop(["mode": "query", "code": "import time\nprint(6*7)\ntime.sleep(1)\nprint('done')\nraise SystemExit(5)"])
        #expect(plain.output.contains("42\n") && plain.output.contains("done"), "\(plain.output)")
        #expect(plain.exitCode == 5 && plain.statuses.first == "continued", "\(plain.statuses) \(String(describing: plain.exitCode))")

        let asked = try await loop(["mode": "query", "code": "print('hello', input('who? '))"], answers: ["ada"])
        #expect(asked.statuses.contains("waiting-input") && asked.output.contains("who? ") && asked.output.contains("hello ada"),
                "\(asked.statuses) \(asked.output)")
        #expect(!asked.output.contains("backend.ai-input") && asked.exitCode == 0, "\(asked.output)")

        let batch = try await loop(["mode": "batch", "code": "", "options": ["exec": "echo from-batch; exit 2"]])
        #expect(batch.output.contains("from-batch") && batch.exitCode == 2, "\(batch.output)")

        for body: [String: Any] in [
            ["mode": "continue", "code": "", "runId": "not-a-run"], ["mode": "continue", "code": ""],
            ["mode": "complete", "code": "pri"], ["code": "pri", "options": ["row": 0]],
            ["mode": "query", "code": "1", "options": "x"], ["mode": "query", "code": 5],
        ] {
            let response = try await admin.send(.POST, "/session/polled", json: body)
            #expect(response.status == 400 && response.text.contains("'"), "\(body): \(response.status) \(response.text)")
        }
        // Another user's session is not there for them.
        let stranger = try await setup.manager.createUserKeypair(email: "exec-stranger@example.com")
        let other = SignedClient(endpoint: setup.manager.endpoint, accessKey: stranger.accessKey, secretKey: stranger.secretKey)
        #expect(try await other.send(.POST, "/session/polled", json: ["mode": "query", "code": "print(1)"]).status == 404)
        try await setup.manager.stop()
    }
}
