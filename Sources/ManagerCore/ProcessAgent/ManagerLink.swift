import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// The agent's side of `POST /agent-rpc/sync`: presents its credential, and keeps the epoch the manager gave it at
/// join, sending it with every sync. The epoch is kept in `<work_dir>/agent.epoch` too, so an agent restarted on
/// its own folder (which adopts its sessions) carries on at once; another process with the same id elsewhere has no
/// epoch and is refused while this one lives. Refused by the fence (409: another process holds the id), it forgets
/// the epoch and joins again later, which succeeds only once the other process is silent.
final class ManagerLink: Sendable {
    let client: HTTPClient
    let url: String
    /// The agent's token (or the shared secret).
    let secret: String
    private let epoch: Mutex<Int64?>
    private let epochFile: String?

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(client: HTTPClient, managerURL: String, secret: String, epochFile: String? = nil) {
        self.epochFile = epochFile
        let saved = epochFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
        self.epoch = Mutex(saved.flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        self.client = client
        self.url = managerURL.hasSuffix("/") ? String(managerURL.dropLast()) + AgentProtocol.path : managerURL + AgentProtocol.path
        self.secret = secret
    }

    func sync(_ body: AgentProtocol.SyncRequest) async throws -> AgentProtocol.SyncResponse {
        var body = body
        body.epoch = self.epoch.withLock { $0 }
        var request = HTTPClientRequest(url: self.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Authorization", value: "Bearer \(self.secret)")
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        let response = try await self.client.execute(request, timeout: .seconds(Int64(body.wait) + 30))
        let data = try await response.body.collect(upTo: 64 << 20)
        if response.status == .conflict { self.remember(nil) }
        guard response.status == .ok else {
            throw Failure(description: "manager answered \(response.status.code): \(String(buffer: data).prefix(300))")
        }
        let decoded = try JSONDecoder().decode(AgentProtocol.SyncResponse.self, from: Data(buffer: data))
        if let epoch = decoded.epoch { self.remember(epoch) }
        return decoded
    }

    /// The epoch this agent holds; nil until it has joined.
    var currentEpoch: Int64? { self.epoch.withLock { $0 } }

    /// Keeps `epoch` (in memory, and in the epoch file when it changed).
    private func remember(_ epoch: Int64?) {
        let changed = self.epoch.withLock { current -> Bool in
            defer { current = epoch }
            return current != epoch
        }
        guard changed, let path = self.epochFile else { return }
        // A small file written rarely (at join); losing it only means waiting for heartbeat_timeout at restart.
        if let epoch {
            try? Data("\(epoch)\n".utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } else {
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}
