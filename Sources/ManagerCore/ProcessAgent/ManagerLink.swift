import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The agent's side of `POST /agent-rpc/sync`.
struct ManagerLink: Sendable {
    let client: HTTPClient
    let url: String
    let secret: String

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(client: HTTPClient, managerURL: String, secret: String) {
        self.client = client
        self.url = managerURL.hasSuffix("/") ? String(managerURL.dropLast()) + AgentProtocol.path : managerURL + AgentProtocol.path
        self.secret = secret
    }

    func sync(_ body: AgentProtocol.SyncRequest) async throws -> AgentProtocol.SyncResponse {
        var request = HTTPClientRequest(url: self.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Authorization", value: "Bearer \(self.secret)")
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        let response = try await self.client.execute(request, timeout: .seconds(Int64(body.wait) + 30))
        let data = try await response.body.collect(upTo: 64 << 20)
        guard response.status == .ok else {
            throw Failure(description: "manager answered \(response.status.code): \(String(buffer: data).prefix(300))")
        }
        return try JSONDecoder().decode(AgentProtocol.SyncResponse.self, from: Data(buffer: data))
    }
}
