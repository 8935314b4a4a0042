import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// Runs sessions for the manager, each in its own sandbox (`SessionSandbox`), through the agent protocol (`AgentProtocol`).
///
/// Two loops share one state: a long poll that receives commands, and a monitor that reaps processes every
/// 50 ms and sends reports and acknowledgements as soon as there are any. Commands are acknowledged only after
/// they were carried out, and `SessionWorkspace` markers make a repeated or replayed command harmless, so neither
/// an agent restart nor a manager restart loses or doubles work. On shutdown the processes keep running; the
/// next start adopts them.
public final class ProcessAgent: Service, Sendable {
    private let settings: AgentSettings
    private let link: ManagerLink
    private let client: HTTPClient
    private let state: AgentState
    private let logger: Logger

    public init(settings: AgentSettings, logger: Logger) {
        self.settings = settings
        self.client = HTTPClient(eventLoopGroupProvider: .singleton)
        self.link = ManagerLink(
            client: self.client, managerURL: settings.managerURL, secret: settings.secret,
            epochFile: settings.simulated ? nil : settings.workDir + "/agent.epoch")
        var logger = logger
        logger[metadataKey: "agent_id"] = "\(settings.id)"
        self.logger = logger
        self.state = AgentState(settings: settings, logger: logger)
    }

    var info: AgentProtocol.AgentInfo {
        AgentProtocol.AgentInfo(
            id: self.settings.id, scalingGroup: self.settings.scalingGroup, architecture: self.settings.architecture,
            availableSlots: self.settings.slots, addr: ProcessInfo.processInfo.hostName,
            version: ManagerVersion.current)
    }

    public func run() async throws {
        do {
            try await self.state.prepare()
        } catch {
            self.logger.critical("the process agent cannot start", metadata: ["error": "\(error)"])
            try? await self.client.shutdown()
            throw error
        }
        await self.state.recover()
        self.logger.info("process agent starting", metadata: [
            "manager": "\(self.settings.managerURL)", "scaling_group": "\(self.settings.scalingGroup)",
            "slots": "\(self.settings.slots.sorted { $0.key < $1.key })",
        ])
        let beats = try? AgentHeartbeat(
            client: self.client, link: self.link, agent: self.info, interval: max(.seconds(1), self.settings.pollWait / 2),
            logger: self.logger
        ).start()
        defer { beats?.cancel() }
        // A long poll can be in flight for many seconds (and the HTTP client retries a refused connection until
        // the request's deadline), so shutdown cancels the loops instead of waiting for them. Nothing is lost:
        // unacknowledged commands are sent again, and a restarted agent re-reports from its session folders.
        await withGracefulShutdownHandler {
            await cancelWhenGracefulShutdown {
                // The monitor looks every 50 ms (a process's end is seen by polling), and at once when commands
                // arrived, so a start is reported without waiting for the next look.
                let (looks, look) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
                await withDiscardingTaskGroup { group in
                    group.addTask {
                        await self.pollLoop(afterCommands: { look.yield() })
                        look.finish()
                    }
                    group.addTask {
                        while self.state.isRunning, !Task.isCancelled {
                            try? await Task.sleep(for: .milliseconds(50))
                            look.yield()
                        }
                        look.finish()
                    }
                    group.addTask { await self.monitorLoop(looks) }
                    group.addTask { await self.choreLoop() }
                }
            }
        } onGracefulShutdown: {
            self.state.stopRunning()
            self.state.finishChores()
        }
        await self.state.shutDownNetworks()
        try? await self.client.shutdown()
    }

    private func pollLoop(afterCommands: @Sendable () -> Void) async {
        var failures = 0
        let wait = Double(self.settings.pollWait.components.seconds)
        // Answers to file requests go with the next sync, which then does not wait.
        var answers: [AgentProtocol.FileResult] = []
        while self.state.isRunning, !Task.isCancelled {
            do {
                let acks = await self.state.outgoing().acks
                let response = try await self.link.sync(.init(
                    agent: self.info, acked: acks, reports: [], wait: answers.isEmpty ? wait : 0,
                    fileResults: answers.isEmpty ? nil : answers))
                failures = 0
                answers = []
                await self.state.delivered(reports: [], acks: acks)
                await self.carryOut(response.commands)
                if !response.commands.isEmpty { afterCommands() }
                if let requests = response.fileRequests, !requests.isEmpty { answers = await self.answer(requests) }
            } catch {
                failures += 1
                if failures == 1 || failures % 30 == 0 {
                    self.logger.warning("cannot reach the manager", metadata: ["error": "\(error)", "attempts": "\(failures)"])
                }
                try? await Task.sleep(for: .milliseconds(min(2000, 100 * failures)))
            }
        }
    }

    /// Sandboxes a session start takes ~10-30 ms of bubblewrap and slirp4netns, mostly waiting on the kernel: up to
    /// this many starts run at once (each command is its own turn on the state, so the monitor loop, whose syncs
    /// are heartbeats too, gets in between).
    static let concurrentStarts = 4

    private func carryOut(_ commands: [AgentProtocol.Command]) async {
        guard commands.count > 1 else {
            for command in commands { await self.state.handle([command]) }
            return
        }
        // A sliding window over the commands, in their order.
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for command in commands {
                if running == Self.concurrentStarts {
                    await group.next()
                    running -= 1
                }
                group.addTask { await self.state.handle([command]) }
                running += 1
            }
        }
    }

    /// Carries out file and execution requests, all at once (an output request may wait half a second for news):
    /// files on the blocking executor, executions through the state; one it cannot take now is answered as failed.
    private func answer(_ requests: [AgentProtocol.FileRequest]) async -> [AgentProtocol.FileResult] {
        let handler = SessionFileHandler(agentDir: self.settings.workDir)
        return await withTaskGroup(of: AgentProtocol.FileResult.self) { group in
            for request in requests {
                group.addTask {
                    switch AgentProtocol.FileRequest.Kind(rawValue: request.kind) {
                    case .execute: return await self.state.execute(request)
                    case .output: return await self.state.output(request)
                    case .input: return await self.state.input(request)
                    default:
                        do {
                            return try await BlockingExecutor.shared.run(name: "session-files") { handler.answer(request) }
                        } catch {
                            return .init(id: request.id, problem: .init(.failed, "The agent is busy: \(error)"))
                        }
                    }
                }
            }
            var results: [AgentProtocol.FileResult] = []
            for await result in group { results.append(result) }
            return results
        }
    }

    /// Runs the state's blocking chores on the blocking executor, each as soon as it comes.
    private func choreLoop() async {
        await withDiscardingTaskGroup { group in
            for await chore in self.state.chores {
                group.addTask {
                    do {
                        try await BlockingExecutor.shared.run(name: chore.name) { chore.work() }
                    } catch {
                        self.logger.warning("agent chore failed", metadata: ["chore": "\(chore.name)", "error": "\(error)"])
                    }
                }
            }
        }
    }

    private func monitorLoop(_ looks: AsyncStream<Void>) async {
        for await _ in looks {
            guard self.state.isRunning, !Task.isCancelled else { break }
            await self.state.monitor()
            await self.state.relaunchPending()
            let (reports, acks) = await self.state.outgoing()
            if !reports.isEmpty || !acks.isEmpty {
                do {
                    let response = try await self.link.sync(.init(agent: self.info, acked: acks, reports: reports, wait: 0))
                    await self.state.delivered(reports: reports, acks: acks)
                    await self.carryOut(response.commands)
                } catch {
                    self.logger.debug("report delivery failed; will retry", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
