import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Keeps an agent alive in the manager's eyes while its sessions' work keeps Swift's cooperative threads busy.
///
/// Every sync is a heartbeat, but the poll and monitor loops are Swift tasks: when spawning a hundred processes at
/// once blocks the cooperative threads for longer than `agent.heartbeat_timeout`, an agent that is working hard is
/// declared LOST and its sessions end `agent-lost` (seen in the 10,000-session drain with 100 agents in one
/// process: every session scheduled in one pass, the first PREPARING reported 35 s later). This sends a bare sync
/// (no reports, no acks, no wait) every `interval` from a NIO event loop with future callbacks, so it needs no
/// cooperative thread. Kubernetes keeps node heartbeats (Lease renewals) apart from pod work the same way.
struct AgentHeartbeat {
    let client: HTTPClient
    let link: ManagerLink
    let body: ByteBuffer
    let interval: TimeAmount
    let logger: Logger

    init(client: HTTPClient, link: ManagerLink, agent: AgentProtocol.AgentInfo, interval: Duration, logger: Logger) throws {
        self.client = client
        self.link = link
        self.body = ByteBuffer(bytes: try JSONEncoder().encode(
            AgentProtocol.SyncRequest(agent: agent, acked: [], reports: [], wait: 0)))
        self.interval = .nanoseconds(Int64(interval.components.seconds) * 1_000_000_000
            + interval.components.attoseconds / 1_000_000_000)
        self.logger = logger
    }

    /// Starts the beats; cancel the task to stop them.
    func start() -> RepeatedTask {
        let eventLoop = self.client.eventLoopGroup.next()
        let (client, body, logger) = (self.client, self.body, self.logger)
        let request = try? HTTPClient.Request(
            url: self.link.url, method: .POST,
            headers: ["Content-Type": "application/json", "Authorization": "Bearer \(self.link.secret)"])
        let timeout = self.interval
        return eventLoop.scheduleRepeatedAsyncTask(initialDelay: self.interval, delay: self.interval) { _ in
            guard var request else { return eventLoop.makeSucceededVoidFuture() }
            request.body = .byteBuffer(body)
            return client.execute(request: request, eventLoop: .delegate(on: eventLoop), deadline: .now() + timeout)
                .map { response in
                    if response.status != .ok {
                        logger.debug("heartbeat refused", metadata: ["status": "\(response.status.code)"])
                    }
                }
                .recover { error in
                    logger.debug("heartbeat failed", metadata: ["error": "\(error)"])
                }
        }
    }
}
