import Testing
@testable import SchedulerKit

@Suite struct ExecutionCommandTests {
    @Test("images map to the interpreter that runs -c code", arguments: [
        ("python:3.11", "python3"), ("cr.backend.ai/stable/python-tensorflow:2.13-py311", "python3"),
        ("pytorch:2.1", "python3"), ("julia:1.9", "julia"), ("busybox:latest", "/bin/sh"), ("node:20", "node"),
    ])
    func interpreters(image: String, interpreter: String) {
        #expect(ExecutionCommand.interpreter(forImage: image) == interpreter)
    }

    @Test("query code travels in the environment, never in the shell text")
    func query() throws {
        let code = "print(\"$(rm -rf /)\"); '; exit 1"
        let script = try ExecutionCommand.script(mode: "query", code: code, options: [:], image: "python:3.11").get()
        // Python runs the prelude (which reads the code from the environment and answers input() through stdin).
        #expect(script.command == "exec python3 -c \"$BACKENDAI_PRELUDE\"")
        #expect(script.environment["BACKENDAI_CODE"] == code && script.acceptsInput)
        #expect(script.environment["BACKENDAI_PRELUDE"]?.contains("os.environ.pop(\"BACKENDAI_CODE\"") == true)
        #expect(!script.command.contains("rm -rf"))
        let shell = try ExecutionCommand.script(mode: "query", code: code, options: [:], image: "busybox:1").get()
        #expect(shell.command == "exec /bin/sh -c \"$BACKENDAI_CODE\"" && shell.environment == ["BACKENDAI_CODE": code] && !shell.acceptsInput)
    }

    @Test("batch runs clean, build and exec in order; * means none; exec is required")
    func batch() throws {
        let script = try ExecutionCommand.script(
            mode: "batch", code: "", options: ["clean": "*", "build": "make", "exec": "./a.out"], image: "gcc:13").get()
        #expect(script.command == "/bin/sh -c \"$BACKENDAI_BUILD\" && exec /bin/sh -c \"$BACKENDAI_EXEC\"")
        #expect(script.environment == ["BACKENDAI_BUILD": "make", "BACKENDAI_EXEC": "./a.out"])
        #expect(ExecutionCommand.script(mode: "batch", code: "", options: ["build": "make"], image: "x") == .failure(.missing(field: "options.exec")))
    }

    @Test("refusals: unknown languages, modes, NUL and oversized code")
    func refusals() {
        #expect(ExecutionCommand.script(mode: "query", code: "1", options: [:], image: "mystery:1") == .failure(.noInterpreter(image: "mystery:1")))
        #expect(ExecutionCommand.script(mode: "complete", code: "1", options: [:], image: "python:3") == .failure(.unknownMode("complete")))
        #expect(ExecutionCommand.script(mode: "query", code: "a\u{0}b", options: [:], image: "python:3") == .failure(.nul(field: "code")))
        let big = String(repeating: "x", count: ExecutionCommand.maxCodeBytes + 1)
        #expect(ExecutionCommand.script(mode: "query", code: big, options: [:], image: "python:3") == .failure(.tooLong(field: "code")))
    }
}
