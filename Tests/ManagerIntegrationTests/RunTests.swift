import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

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
}
