import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Testing
@testable import ManagerCore

@Suite struct AgentHeartbeatTests {
    @Test("the event-loop heartbeat alone keeps an agent ALIVE and its last_heartbeat moving, with no Swift task syncing")
    func heartbeatWithoutLoops() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment)
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let link = ManagerLink(client: client, managerURL: manager.endpoint, secret: ManagerProcess.agentSecret)
        let agent = AgentProtocol.AgentInfo(
            id: "beating", scalingGroup: "default", architecture: "x86_64", availableSlots: ["cpu": "1", "mem": "1073741824"],
            addr: "test", version: "test")
        // Beats carry the epoch of a join: the link joins once, as the poll loop would.
        _ = try await link.sync(.init(agent: agent, acked: [], reports: [], wait: 0))
        let beats = try AgentHeartbeat(
            client: client, link: link, agent: agent, interval: .milliseconds(300), logger: Logger(label: "test")
        ).start()

        func lastHeartbeat() async throws -> (status: String, at: Date)? {
            guard let row = try await pool.query("SELECT status, last_heartbeat FROM agents WHERE id = 'beating'").first
            else { return nil }
            return (try row.decode("status"), try row.decode("last_heartbeat"))
        }
        try await SessionProbe(pool: pool).wait("the first beat registers the agent", timeout: .seconds(10)) {
            try await lastHeartbeat()?.status == "ALIVE"
        }
        let first = try #require(try await lastHeartbeat())
        try await Task.sleep(for: .milliseconds(1500))
        let later = try #require(try await lastHeartbeat())
        #expect(later.status == "ALIVE")
        #expect(later.at.timeIntervalSince(first.at) >= 0.5, "beats every 300 ms: \(first.at) → \(later.at)")

        // Stopped, it stops: nothing moves any more.
        beats.cancel()
        try await Task.sleep(for: .milliseconds(500))
        let stopped = try #require(try await lastHeartbeat())
        try await Task.sleep(for: .milliseconds(1000))
        #expect(try await lastHeartbeat()?.at == stopped.at)
        try await client.shutdown()
    }
}
