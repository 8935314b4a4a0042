import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import SchedulerKit

/// `GET /stream/session/{name}/execute` (WebSocket), what `backend.ai run` opens after its session is RUNNING:
/// the client sends `{"code", "mode": "query"|"batch", "options"}`, and gets Backend.AI's result messages
/// (`continued` with console items, `waiting-input` when the code asks for input — the client's next text message is
/// the answer — then `finished` with `exitCode`). The upgrade request is signed like any other
/// (the WebSocket router runs the same problem and auth middlewares, rate limit and replay refusal included); once
/// signed it is upgraded, and a problem with the session (404, 409) is the first message, on stderr, with exit
/// code 1 (a refused upgrade would fall through to the HTTP router and be checked twice). The work is
/// `SessionExecution`'s.
struct SessionExecuteRoutes {
    static let path = "/stream/session/:name/execute"
    let execution: SessionExecution
    let maxBodySize: Int

    /// The WebSocket route (on the router `.http1WebSocketUpgrade` consults for `Upgrade: websocket` requests).
    func register(webSockets router: Router<ManagerRequestContext>) {
        router.ws(RouterPath(Self.path)) { _, context in
            _ = try context.requireIdentity()
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            let request = context.request
            let logger = context.logger
            do {
                let target = try SessionRoutes.target(request, context: context.requestContext)
                let session = try await self.execution.files.running(target.reference, owner: target.owner, caller: target.caller)
                var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                guard let first = try await messages.next() else { return }
                guard case .text(let text) = first, let body = try? JSONValue.parse(text), case .object = body else {
                    try await outbound.write(.text(SessionExecution.message(
                        "finished", console: [("stderr", "The first message must be a JSON object {code, mode, options}.\n")], exitCode: 1).text))
                    return
                }
                let mode: String = if case .string(let value)? = body["mode"] { value } else { "query" }
                let code: String = if case .string(let value)? = body["code"] { value } else { "" }
                var options: [String: String?] = [:]
                if case .object(let pairs)? = body["options"] {
                    for (key, value) in pairs { if case .string(let text) = value { options[key] = text } }
                }
                logger.info("execution requested", metadata: ["session_id": "\(session.id)", "mode": "\(mode.prefix(16))"])
                try await self.execution.run(
                    session, mode: mode, code: code, options: options,
                    receive: {
                        // The answer to a `waiting-input`: the client's next text message (Backend.AI's mode `input`).
                        while let message = try await messages.next() {
                            if case .text(let text) = message { return text }
                        }
                        return nil
                    },
                    send: { message in try await outbound.write(.text(message.text)) })
            } catch let error as APIError {
                try? await outbound.write(.text(SessionExecution.message(
                    "finished", console: [("stderr", (error.msg ?? error.title) + "\n")], exitCode: 1).text))
            } catch {
                logger.warning("execution stream failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The same path without an upgrade (a 400 saying what it needs), and the polling execute API.
    func register(on router: Router<ManagerRequestContext>) {
        // `POST /session/{name}` `{mode, code, runId, options}` → `{"result": {runId, status, console, exitCode, options}}`.
        router.post("/session/:name") { request, context -> Response in
            let target = try SessionRoutes.target(request, context: context)
            let fields = try JSONFields(try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize))
            let session = try await self.execution.files.running(target.reference, owner: target.owner, caller: target.caller)
            guard let mode = try fields.string("mode", maxLength: 16) else {
                throw APIError.invalidAPIParams("'mode' is required (code completion, a request without one, is not supported).")
            }
            var options: [String: String?] = [:]
            if let value = fields.pairs["options"] {
                guard case .object(let pairs) = value else { throw APIError.invalidAPIParams("'options' must be an object.") }
                for (key, value) in pairs { if case .string(let text) = value { options[key] = text } }
            }
            let answer = try await self.execution.step(
                session, mode: mode, code: try fields.string("code", maxLength: ExecutionCommand.maxCodeBytes) ?? "",
                runID: try fields.string("runId", maxLength: 80), options: options)
            context.logger.info("execution step", metadata: ["session_id": "\(session.id)", "mode": "\(mode)"])
            return JSONResponse.raw(answer.text)
        }
        router.get("/stream/session/:name/execute") { request, context -> Response in
            let target = try SessionRoutes.target(request, context: context)
            _ = try await self.execution.files.running(target.reference, owner: target.owner, caller: target.caller)
            throw APIError.invalidAPIParams("This endpoint is a WebSocket: open it with 'Upgrade: websocket'.")
        }
    }
}
