import ArgumentParser
import Foundation
import Logging
import SchedulerKit
import ServiceLifecycle
import UnixSignals

/// `manager agent`: a process agent on another machine, joining a manager over the network.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "Run a process agent that runs sessions for a manager.")

    @Option(help: "The manager's base URL, e.g. http://10.0.0.5:8091.") var manager: String
    @Option(help: "This agent's token from `manager agent-token create` (default: MANAGER_AGENT_TOKEN).") var token: String?
    @Option(help: "The manager's shared agent.secret instead of a token, on trusted networks (default: MANAGER_AGENT_SECRET).") var secret: String?
    @Option(help: "This agent's id (default: the host name).") var id: String?
    @Option(name: .customLong("scaling-group"), help: "The scaling group to join.") var scalingGroup = "default"
    @Option(help: "CPU slots to offer (default: all processors).") var cpu: String?
    @Option(help: "Memory to offer, like 8g (default: all memory).") var mem: String?
    @Option(help: "Architecture to announce (default: uname -m).") var architecture: String?
    @Option(name: .customLong("work-dir"), help: "Where sessions get their folders.") var workDir = "state/remote-agent"
    @Option(name: .customLong("stop-grace"), help: "Seconds between SIGTERM and SIGKILL when a session is stopped.")
    var stopGrace: Double = 10
    @Option(name: .customLong("poll-wait"), help: "Seconds one long poll waits (the heartbeat interval).")
    var pollWait: Double = 10
    @Option(help: "Run this many agents in one process (<id>-1 … <id>-N), for load tests.") var instances = 1
    @Flag(help: "Simulate sessions instead of running them: report PREPARING, RUNNING and (for a command) TERMINATED at once, with no process or folder. For load tests of the manager.")
    var simulate = false
    @Option(help: "How sessions are isolated: bubblewrap or none.") var sandbox = "bubblewrap"
    @Option(help: "What a session's network reaches: none, outbound (slirp4netns) or host (default: outbound where slirp4netns is installed and the agent is root, else none).")
    var network: String?
    @Option(name: .customLong("prepared-networks"), help: "With outbound: network namespaces kept ready for the next starts (0: each made at its start).")
    var preparedNetworks = 4
    @Flag(name: .customLong("allow-unsandboxed-root"), help: "Allow --sandbox none while running as root.")
    var allowUnsandboxedRoot = false
    @Option(name: .customLong("sandbox-uid"), help: "The host user sessions run as when the agent is root.") var sandboxUID: UInt32 = 61000
    @Option(name: .customLong("sandbox-gid"), help: "The host group sessions run as when the agent is root.") var sandboxGID: UInt32 = 61000
    @Flag(name: .customLong("no-resource-limits"), help: "Run sessions without cgroup limits (when the agent cannot create cgroups).")
    var noResourceLimits = false
    @Option(name: .customLong("image-dir"), help: "Imported images (default: <work-dir>/images).") var imageDir = ""
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    /// The token, else the shared secret.
    var credential: String {
        let environment = ProcessInfo.processInfo.environment
        return self.token ?? environment["MANAGER_AGENT_TOKEN"] ?? self.secret ?? environment["MANAGER_AGENT_SECRET"] ?? ""
    }

    func validate() throws {
        guard self.manager.hasPrefix("http://") || self.manager.hasPrefix("https://") else {
            throw ValidationError("--manager must be an http or https URL")
        }
        guard (1...1000).contains(self.instances) else { throw ValidationError("--instances must be between 1 and 1000") }
        if let cpu, SlotAmount(parsing: cpu) == nil { throw ValidationError("--cpu must be an amount like 4 or 0.5") }
        if let mem, SlotAmount(parsing: mem) == nil { throw ValidationError("--mem must be an amount like 8g") }
        guard self.stopGrace >= 0, self.stopGrace <= 86_400, self.pollWait > 0, self.pollWait <= 30 else {
            throw ValidationError("--stop-grace must be between 0 and 86400 and --poll-wait between 0 and 30")
        }
        guard SandboxSettings.Mode(rawValue: self.sandbox) != nil else { throw ValidationError("--sandbox must be bubblewrap or none") }
        if let network, SandboxSettings.Network(rawValue: network) == nil {
            throw ValidationError("--network must be none, outbound or host")
        }
        guard (0...64).contains(self.preparedNetworks) else { throw ValidationError("--prepared-networks must be between 0 and 64") }
        guard self.sandboxUID > 0, self.sandboxGID > 0 else { throw ValidationError("--sandbox-uid and --sandbox-gid must not be 0") }
        guard Logger.Level(rawValue: self.logLevel) != nil else { throw ValidationError("--log-level is not a level") }
        guard !self.credential.isEmpty else {
            throw ValidationError("give this agent's token (--token or MANAGER_AGENT_TOKEN; see `manager agent-token create`) or the manager's agent.secret (--secret or MANAGER_AGENT_SECRET)")
        }
        if self.token != nil || ProcessInfo.processInfo.environment["MANAGER_AGENT_TOKEN"] != nil, self.instances > 1 {
            throw ValidationError("a token belongs to one agent id; --instances needs the shared secret")
        }
    }

    func run() async throws {
        var logging = ManagerConfig.Logging()
        logging.level = Logger.Level(rawValue: self.logLevel) ?? .info
        let logger = LoggingSetup.bootstrap(logging)
        let secret = self.credential
        var slots = MachineInfo.slots
        if let cpu { slots["cpu"] = cpu }
        if let mem { slots["mem"] = mem }
        let baseID = self.id ?? ProcessInfo.processInfo.hostName
        let agents = (1...self.instances).map { index in
            let id = self.instances == 1 ? baseID : "\(baseID)-\(index)"
            var settings = AgentSettings(
                id: id, scalingGroup: self.scalingGroup, architecture: self.architecture ?? MachineInfo.architecture,
                slots: slots, workDir: self.instances == 1 ? self.workDir : "\(self.workDir)/\(id)",
                managerURL: self.manager, secret: secret, stopGrace: .milliseconds(Int64(self.stopGrace * 1000)),
                pollWait: .milliseconds(Int64(self.pollWait * 1000)))
            settings.simulated = self.simulate
            settings.sandbox.mode = SandboxSettings.Mode(rawValue: self.sandbox) ?? .bubblewrap
            settings.sandbox.network = self.network.flatMap(SandboxSettings.Network.init(rawValue:))
            settings.sandbox.preparedNetworks = self.preparedNetworks
            settings.sandbox.allowUnsandboxedRoot = self.allowUnsandboxedRoot
            settings.sandbox.hostUID = self.sandboxUID
            settings.sandbox.hostGID = self.sandboxGID
            settings.sandbox.resourceLimits = !self.noResourceLimits
            settings.sandbox.imageDir = self.imageDir
            return ServiceGroupConfiguration.ServiceConfiguration(service: ProcessAgent(settings: settings, logger: logger))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: agents, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger))
        try await group.run()
    }
}
