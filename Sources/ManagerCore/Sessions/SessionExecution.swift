import Foundation
import HTTPTypes
import SchedulerKit

/// The use case behind `run`'s execute stream (`GET /stream/session/{name}/execute`): the request's code or
/// commands become one shell command (`ExecutionCommand`), the session's agent starts it in a new sandbox of the
/// session (`execute`), and its output is read back a piece at a time (`output`, which waits at the agent for
/// news) and handed to `send` as Backend.AI's result messages: `continued` with console items while it runs,
/// then `finished` with the exit code.
struct SessionExecution: Sendable {
    let files: SessionFiles

    /// Runs one execution request in `session`, sending each result message as it comes. When the process waits
    /// for input (Python's `input()`/`getpass()`), `waiting-input` is sent and the next message `receive` gives is
    /// written to its stdin; nil (the client went away) ends the wait with EOF.
    func run(
        _ session: SessionRecord, mode: String, code: String, options: [String: String?],
        receive: () async throws -> String?, send: @Sendable (JSONValue) async throws -> Void
    ) async throws {
        let script: ExecutionCommand.Script
        switch ExecutionCommand.script(mode: mode, code: code, options: options, image: session.image) {
        case .success(let made): script = made
        case .failure(let problem):
            try await send(Self.message("finished", console: [("stderr", problem.description + "\n")], exitCode: 1))
            return
        }
        let started = try await self.files.ask(
            .init(id: 0, sessionID: session.id, kind: .execute, command: script.command, environment: script.environment,
                  interactive: script.acceptsInput ? true : nil), session)
        guard let run = started.run else {
            throw APIError(status: .badGateway, kind: "agent-error", title: "The agent answered wrongly.", msg: "No run id came back.")
        }
        var offset: Int64 = 0
        var scanner = ExecutionOutputScanner()
        while true {
            let result = try await self.files.ask(.init(id: 0, sessionID: session.id, kind: .output, run: run, offset: offset), session)
            offset = result.nextOffset ?? offset + Int64(result.output?.count ?? 0)
            var pieces = scanner.feed(result.output ?? Data())
            if result.exitCode != nil { pieces += scanner.finish() }
            var text = ""
            for piece in pieces {
                switch piece {
                case .text(let part): text += part
                case .waitingInput(let secret):
                    try await send(Self.message(
                        "waiting-input", console: text.isEmpty ? [] : [("stdout", text)], exitCode: nil,
                        options: [("is_password", .bool(secret))]))
                    text = ""
                    let answer = try await receive()
                    // No answer (the client went away): the process gets end of input instead of waiting for ever.
                    _ = try await self.files.ask(
                        .init(id: 0, sessionID: session.id, kind: .input, run: run, input: answer.map { String($0.prefix(ExecutionCommand.maxCodeBytes)) }),
                        session)
                    if answer == nil { return }
                }
            }
            if let code = result.exitCode {
                try await send(Self.message("finished", console: text.isEmpty ? [] : [("stdout", text)], exitCode: code))
                return
            }
            if !text.isEmpty { try await send(Self.message("continued", console: [("stdout", text)], exitCode: nil)) }
        }
    }

    /// One call of the polling execute API (`POST /session/{name}`, the SDK's `ComputeSession.execute`): `query` or
    /// `batch` starts a run, `continue` reads on, `input` answers a `waiting-input` with `code` then reads on. Each
    /// answer reads what the run wrote since the last one (the agent waits up to half a second for news) and carries
    /// a new `runId` naming the run and how far it was read, so no replica keeps state between calls: the client
    /// sends back the `runId` of the last answer, as Backend.AI's client does.
    func step(_ session: SessionRecord, mode: String, code: String, runID: String?, options: [String: String?]) async throws -> JSONValue {
        var run: String
        var offset: Int64 = 0
        switch mode {
        case "query", "batch":
            let script: ExecutionCommand.Script
            switch ExecutionCommand.script(mode: mode, code: code, options: options, image: session.image) {
            case .success(let made): script = made
            case .failure(let problem): throw APIError.invalidAPIParams(problem.description)
            }
            let started = try await self.files.ask(
                .init(id: 0, sessionID: session.id, kind: .execute, command: script.command, environment: script.environment,
                      interactive: script.acceptsInput ? true : nil), session)
            guard let id = started.run else {
                throw APIError(status: .badGateway, kind: "agent-error", title: "The agent answered wrongly.", msg: "No run id came back.")
            }
            run = id
        case "continue", "input":
            guard let runID, let parsed = Self.parse(runID: runID) else {
                throw APIError.invalidAPIParams("'runId' must be the runId of the previous answer (for mode '\(mode)').")
            }
            (run, offset) = parsed
            if mode == "input" {
                guard code.utf8.count <= ExecutionCommand.maxCodeBytes, !code.utf8.contains(0) else {
                    throw APIError.invalidAPIParams("'code' (the input) must be at most \(ExecutionCommand.maxCodeBytes) bytes, without NUL.")
                }
                _ = try await self.files.ask(.init(id: 0, sessionID: session.id, kind: .input, run: run, input: code), session)
            }
        default:
            throw APIError.invalidAPIParams("'mode' must be query, batch, continue or input (code completion is not supported).")
        }
        let result = try await self.files.ask(.init(id: 0, sessionID: session.id, kind: .output, run: run, offset: offset), session)
        let bytes = result.output ?? Data()
        var scanner = ExecutionOutputScanner()
        var pieces = scanner.feed(bytes)
        if result.exitCode != nil { pieces += scanner.finish() }
        let consumed = offset + Int64(bytes.count - scanner.held)
        var text = ""
        var secret: Bool?
        for piece in pieces {
            switch piece {
            case .text(let part): text += part
            case .waitingInput(let isSecret): secret = isSecret
            }
        }
        let status = result.exitCode != nil ? "finished" : secret != nil ? "waiting-input" : "continued"
        var message = Self.message(
            status, console: text.isEmpty ? [] : [("stdout", text)], exitCode: result.exitCode,
            options: secret.map { [("is_password", .bool($0))] } ?? [])
        if case .object(var pairs) = message {
            pairs.insert(("runId", .string("\(run).\(consumed)")), at: 0)
            message = .object(pairs)
        }
        return .object([("result", message)])
    }

    /// `<run id>.<bytes read>`, as `step` hands it out.
    static func parse(runID: String) -> (run: String, offset: Int64)? {
        guard runID.utf8.count <= 80, let dot = runID.lastIndex(of: ".") else { return nil }
        let run = String(runID[..<dot])
        guard UUID(uuidString: run) != nil, let offset = Int64(runID[runID.index(after: dot)...]), offset >= 0 else { return nil }
        return (run.lowercased(), offset)
    }

    /// A result message as the client reads it: `status`, `console` (`[[kind, text], …]`), `exitCode`, `files`,
    /// `options`.
    static func message(
        _ status: String, console: [(String, String)], exitCode: Int?, options: [(key: String, value: JSONValue)] = []
    ) -> JSONValue {
        var pairs: [(key: String, value: JSONValue)] = [
            ("status", .string(status)),
            ("console", .array(console.map { .array([.string($0.0), .string($0.1)]) })),
            ("files", .array([])), ("options", .object(options)),
        ]
        if let exitCode { pairs.append(("exitCode", .number(Double(exitCode)))) }
        return .object(pairs)
    }
}
