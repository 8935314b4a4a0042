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
/// A beat carries the epoch the link holds, and is skipped until the link has joined (a beat never joins).
struct AgentHeartbeat {
    let client: HTTPClient
    let link: ManagerLink
    let beat: AgentProtocol.SyncRequest
    let interval: TimeAmount
    let logger: Logger

    init(client: HTTPClient, link: ManagerLink, agent: AgentProtocol.AgentInfo, interval: Duration, logger: Logger) throws {
        self.client = client
        self.link = link
        self.beat = AgentProtocol.SyncRequest(agent: agent, acked: [], reports: [], wait: 0)
        self.interval = .nanoseconds(Int64(interval.components.seconds) * 1_000_000_000
            + interval.components.attoseconds / 1_000_000_000)
        self.logger = logger
    }

    /// Starts the beats; cancel the task to stop them.
    func start() -> RepeatedTask {
        let eventLoop = self.client.eventLoopGroup.next()
        let (client, beat, link, logger) = (self.client, self.beat, self.link, self.logger)
        let request = try? HTTPClient.Request(
            url: self.link.url, method: .POST,
            headers: ["Content-Type": "application/json", "Authorization": "Bearer \(self.link.secret)"])
        let timeout = self.interval
        return eventLoop.scheduleRepeatedAsyncTask(initialDelay: self.interval, delay: self.interval) { _ in
            var beat = beat
            beat.epoch = link.currentEpoch
            guard var request, beat.epoch != nil, let body = try? JSONEncoder().encode(beat) else {
                return eventLoop.makeSucceededVoidFuture()
            }
            request.body = .byteBuffer(ByteBuffer(bytes: body))
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
