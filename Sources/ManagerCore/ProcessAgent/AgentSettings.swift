import Foundation

/// What a process agent is and where it reports: the same for the embedded agent and `manager agent`.
public struct AgentSettings: Sendable {
    public var id: String
    public var scalingGroup: String
    public var architecture: String
    /// `{"cpu": "8", "mem": "17179869184"}`; defaults to the machine's.
    public var slots: [String: String]
    /// Sessions get `<workDir>/sessions/<id>/` with their folder, markers and output log.
    public var workDir: String
    /// The manager's base URL, e.g. `http://127.0.0.1:8091`.
    public var managerURL: String
    public var secret: String
    /// SIGTERM first, SIGKILL after this.
    public var stopGrace: Duration
    /// How long one long poll waits for commands.
    public var pollWait: Duration
    /// A simulated agent (Backend.AI's "dummy agent"): it reports PREPARING, RUNNING and, for sessions with a
    /// command, TERMINATED with exit code 0 at once, through the real protocol, without a process or a folder.
    /// For measuring the manager alone.
    public var simulated = false
    /// How sessions are isolated.
    public var sandbox = SandboxSettings()

    public init(
        id: String, scalingGroup: String, architecture: String = MachineInfo.architecture,
        slots: [String: String] = MachineInfo.slots, workDir: String, managerURL: String, secret: String,
        stopGrace: Duration = .seconds(10), pollWait: Duration = .seconds(10)
    ) {
        self.id = id
        self.scalingGroup = scalingGroup
        self.architecture = architecture
        self.slots = slots
        self.workDir = workDir
        self.managerURL = managerURL
        self.secret = secret
        self.stopGrace = stopGrace
        self.pollWait = pollWait
    }
}

/// Facts about this machine an agent announces.
public enum MachineInfo {
    /// `uname -m`: `x86_64`, `aarch64`, …
    public static var architecture: String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// All processors and all physical memory.
    public static var slots: [String: String] {
        [
            "cpu": String(ProcessInfo.processInfo.activeProcessorCount),
            "mem": String(ProcessInfo.processInfo.physicalMemory),
        ]
    }
}
