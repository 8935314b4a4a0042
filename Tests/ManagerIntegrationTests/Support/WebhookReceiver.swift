import Foundation
import NIOHTTP1

/// The test webhook receiver (`webhook_receiver.py`, run with the client's Python): started, stopped (so that
/// connections are refused) and restarted on the same port; switched between answering 200 and 503.
final class WebhookReceiver: @unchecked Sendable {
    struct Request: Sendable {
        let path: String
        let headers: [String: String]
        let body: String
        let status: Int
        let local: String
    }

    let port: Int
    let host: String
    private let directory: URL
    private let environment: TestEnvironment
    private var pid: pid_t?

    var logPath: String { self.directory.appendingPathComponent("requests.jsonl").path }
    var modePath: String { self.directory.appendingPathComponent("mode").path }
    func url(_ path: String, host: String = "127.0.0.1") -> String { "http://\(host):\(self.port)\(path)" }

    init(_ environment: TestEnvironment, host: String = "127.0.0.1") throws {
        self.environment = environment
        self.host = host
        self.port = try stablePort()
        self.directory = try environment.scratchDirectory("receiver")
        try self.answer(200)
    }

    /// 200 or 503 from now on.
    func answer(_ status: Int) throws {
        try (status == 503 ? "503" : "ok").write(toFile: self.modePath, atomically: true, encoding: .utf8)
    }

    /// "ok", "503" or "tarpit" (recorded on arrival, answered after 25 s) from now on.
    func answer(mode: String) throws {
        try mode.write(toFile: self.modePath, atomically: true, encoding: .utf8)
    }

    func start() async throws {
        let python = URL(fileURLWithPath: self.environment.clientExecutable).deletingLastPathComponent().appendingPathComponent("python").path
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/ManagerIntegrationTests/Support/webhook_receiver.py").path
        self.pid = try spawn(
            python, [script, "--host", self.host, "--port", String(self.port), "--log", self.logPath, "--mode-file", self.modePath],
            environment: ProcessInfo.processInfo.environment, currentDirectory: nil,
            stdout: self.directory.appendingPathComponent("out.log").path, stderr: self.directory.appendingPathComponent("out.log").path)
        try await eventually("the receiver to listen") {
            (try? await HTTP.send(.GET, self.url("/", host: self.host == "0.0.0.0" ? "127.0.0.1" : self.host), timeout: .seconds(2))) != nil
        }
    }

    func stop() {
        guard let pid = self.pid else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        self.pid = nil
    }

    /// Every request received so far, in arrival order.
    func requests() -> [Request] {
        guard let text = try? String(contentsOfFile: self.logPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return Request(
                path: object["path"] as? String ?? "", headers: object["headers"] as? [String: String] ?? [:],
                body: object["body"] as? String ?? "", status: (object["status"] as? NSNumber)?.intValue ?? 0,
                local: object["local"] as? String ?? "")
        }
    }

    deinit { self.stop() }
}
