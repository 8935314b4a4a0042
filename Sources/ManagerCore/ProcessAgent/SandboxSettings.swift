import Foundation

/// How the process agent isolates the sessions it runs (`[agent.local]` and `manager agent`'s flags).
public struct SandboxSettings: Sendable, Hashable {
    public enum Mode: String, Sendable, CaseIterable {
        /// Every session in its own bubblewrap sandbox: user, mount, pid, ipc, uts and (by policy) network
        /// namespaces, an unprivileged user, cgroup limits.
        case bubblewrap
        /// Sessions run as host processes with the agent's own user. For hosts without user namespaces only.
        case none
    }

    /// What a session's network namespace reaches.
    public enum Network: String, Sendable, CaseIterable {
        /// Only its own loopback.
        case none
        /// The internet through slirp4netns, with the host's loopback (the manager, PostgreSQL, Redis) unreachable.
        case outbound
        /// The host's network namespace, loopback included. Only when an operator asks for it.
        case host
    }

    public var mode: Mode = .bubblewrap
    /// nil: `outbound` where slirp4netns is installed, else `none` (with a warning at start).
    public var network: Network?
    /// With `outbound`: network namespaces kept ready (slirp4netns attached) ahead of the sessions that will take
    /// them, so a start does not wait for slirp4netns. 0 makes each one at its session's start.
    public var preparedNetworks = 4
    /// `sandbox = "none"` is refused while the agent runs as root unless this is set.
    public var allowUnsandboxedRoot = false
    /// The host user and group sessions run as when the agent runs as root (inside they are `work`, 1000:1000).
    /// Without root, sessions run as the agent's own user, mapped to 1000 inside.
    public var hostUID: UInt32 = 61000
    public var hostGID: UInt32 = 61000
    /// cgroup limits from each session's slots (cpu, mem) plus `pidsLimit`. When the agent cannot create cgroups it
    /// refuses to start, unless this is off.
    public var resourceLimits = true
    public var pidsLimit = 4096
    /// RLIMIT_NOFILE of a session's processes.
    public var maxOpenFiles = 65536
    /// A session's `output.log` is cut to its newest part, with a marker, when it grows past this.
    public var maxLogSize: Int64 = 64 << 20
    /// How long a session's folder stays on the agent after the session ended (for debugging); 0 removes it at once.
    public var keepFinished: Duration = .zero
    /// Imported images (root filesystems): `<imageDir>/<name>/<tag>/rootfs`. Empty: `<work_dir>/images`.
    public var imageDir = ""

    public init() {}

    /// The uid that owns what sessions write on the host.
    public var effectiveHostUID: UInt32 { geteuid() == 0 ? self.hostUID : geteuid() }
    public var effectiveHostGID: UInt32 { geteuid() == 0 ? self.hostGID : getegid() }

    public func imageRoot(workDir: String) -> String {
        self.imageDir.isEmpty ? URL(fileURLWithPath: workDir).appendingPathComponent("images").path : self.imageDir
    }
}
