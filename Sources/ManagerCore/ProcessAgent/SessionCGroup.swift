import Foundation
import Glibc

/// One session's cgroups: its limits, its processes (every process of the session, whatever it forked or
/// `setsid`ed), what it used, whether the kernel killed it for memory, and their removal.
///
/// The folders are recorded in the session's agent folder (outside the sandbox), so a restarted agent finds the
/// processes of a session by cgroup membership and never signals a pid that is not the session's.
struct SessionCGroup: Sendable, Codable, Hashable {
    struct Limits: Sendable, Hashable {
        /// Thousandths of a processor; nil: no quota.
        var cpuMilli: Int64?
        var memoryBytes: Int64?
        var pids: Int
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// What the session used so far.
    struct Usage: Sendable, Hashable {
        var memoryBytes: Int64?
        var memoryPeakBytes: Int64?
        var cpuNanoseconds: Int64?
        var pids: Int64?
    }

    var version: CGroupLayout.Version
    /// Hierarchy (v1 controller, or `unified`) → the session's folder in it.
    var folders: [String: String]

    static let cpuPeriod: Int64 = 100_000

    /// Creates the folders and writes the limits. v2 first makes sure the controllers reach the sessions' parent.
    static func create(layout: CGroupLayout, name: String, limits: Limits) throws -> SessionCGroup {
        let folders = layout.sessionFolders(name)
        let group = SessionCGroup(version: layout.version, folders: folders)
        if layout.version == .v2, let own = layout.own["unified"] { try Self.delegateV2(own: own) }
        for folder in folders.values.sorted() {
            try Self.makeFolder(URL(fileURLWithPath: folder).deletingLastPathComponent().path)
            try Self.makeFolder(folder)
        }
        let quota = limits.cpuMilli.map { max(1000, $0 &* Self.cpuPeriod / 1000) }
        switch layout.version {
        case .v1:
            if let memory = folders["memory"], let bytes = limits.memoryBytes {
                try Self.write(String(bytes), to: memory + "/memory.limit_in_bytes")
                // Swap counts too where the kernel accounts for it, so the limit is a hard one.
                try? Self.write(String(bytes), to: memory + "/memory.memsw.limit_in_bytes")
                try? Self.write("0", to: memory + "/memory.swappiness")
            }
            if let cpu = folders["cpu"], let quota {
                try Self.write(String(Self.cpuPeriod), to: cpu + "/cpu.cfs_period_us")
                try Self.write(String(quota), to: cpu + "/cpu.cfs_quota_us")
            }
            if let pids = folders["pids"] { try Self.write(String(limits.pids), to: pids + "/pids.max") }
        case .v2:
            guard let folder = folders["unified"] else { break }
            if let bytes = limits.memoryBytes {
                try Self.write(String(bytes), to: folder + "/memory.max")
                try? Self.write("0", to: folder + "/memory.swap.max")
            }
            if let quota { try Self.write("\(quota) \(Self.cpuPeriod)", to: folder + "/cpu.max") }
            try Self.write(String(limits.pids), to: folder + "/pids.max")
        }
        return group
    }

    /// In cgroup v2 a folder with processes cannot pass controllers to its children: the agent moves itself into
    /// `<own>/agent` first (as systemd's delegation expects), then enables cpu, memory and pids for the sessions.
    static func delegateV2(own: String) throws {
        let controllers = "+cpu +memory +pids"
        if (try? Self.write(controllers, to: own + "/cgroup.subtree_control")) == nil {
            try Self.makeFolder(own + "/agent")
            try Self.write(String(getpid()), to: own + "/agent/cgroup.procs")
            try Self.write(controllers, to: own + "/cgroup.subtree_control")
        }
        try Self.makeFolder(own + "/" + CGroupLayout.folderName)
        try Self.write(controllers, to: own + "/" + CGroupLayout.folderName + "/cgroup.subtree_control")
    }

    /// The files a process writes its pid to, to join every hierarchy (before it execs the sandbox).
    var procsFiles: [String] { self.folders.keys.sorted().compactMap { self.folders[$0].map { $0 + "/cgroup.procs" } } }

    /// Moves processes the agent started for the session (its network's helpers) into its cgroups, where they are
    /// limited, counted and killed with it.
    func adopt(_ pids: [pid_t]) throws {
        for file in self.procsFiles {
            for pid in pids { try Self.write(String(pid), to: file) }
        }
    }

    /// Every process in the session's cgroups.
    func members() -> [pid_t] {
        var pids = Set<pid_t>()
        for file in self.procsFiles {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") { if let pid = pid_t(line) { pids.insert(pid) } }
        }
        return pids.sorted()
    }

    /// Sends `signal` to every process of the session; returns how many there were.
    @discardableResult
    func signalAll(_ signal: Int32) -> Int {
        let pids = self.members()
        for pid in pids where pid > 1 { kill(pid, signal) }
        return pids.count
    }

    /// SIGKILLs until no process is left (a fork bomb is bounded by `pids.max`); v2 uses `cgroup.kill`. Blocks up
    /// to about a second: call it from the blocking executor.
    func killAll() {
        if self.version == .v2, let folder = self.folders["unified"] {
            try? Self.write("1", to: folder + "/cgroup.kill")
        }
        for _ in 0..<100 {
            if self.signalAll(SIGKILL) == 0 { return }
            usleep(10_000)
        }
    }

    func usage() -> Usage {
        func number(_ path: String?) -> Int64? {
            guard let path, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            return Int64(text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        switch self.version {
        case .v1:
            let memory = self.folders["memory"]
            let cpuacct = self.folders["cpuacct"] ?? self.folders["cpu"]
            return Usage(
                memoryBytes: number(memory.map { $0 + "/memory.usage_in_bytes" }),
                memoryPeakBytes: number(memory.map { $0 + "/memory.max_usage_in_bytes" }),
                cpuNanoseconds: number(cpuacct.map { $0 + "/cpuacct.usage" }),
                pids: number(self.folders["pids"].map { $0 + "/pids.current" }))
        case .v2:
            let folder = self.folders["unified"]
            let micros = folder.flatMap { Self.keyed($0 + "/cpu.stat", "usage_usec") }
            return Usage(
                memoryBytes: number(folder.map { $0 + "/memory.current" }),
                memoryPeakBytes: number(folder.map { $0 + "/memory.peak" }),
                cpuNanoseconds: micros.map { $0 &* 1000 },
                pids: number(folder.map { $0 + "/pids.current" }))
        }
    }

    /// How many processes the kernel killed for exceeding the memory limit.
    func oomKills() -> Int64 {
        switch self.version {
        case .v1: return self.folders["memory"].flatMap { Self.keyed($0 + "/memory.oom_control", "oom_kill") } ?? 0
        case .v2: return self.folders["unified"].flatMap { Self.keyed($0 + "/memory.events", "oom_kill") } ?? 0
        }
    }

    /// The limit the session had, for messages.
    func memoryLimit() -> Int64? {
        let file = self.version == .v1 ? self.folders["memory"].map { $0 + "/memory.limit_in_bytes" }
            : self.folders["unified"].map { $0 + "/memory.max" }
        guard let file, let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        return Int64(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Removes the folders (once no process is left in them).
    func remove() {
        for folder in self.folders.values { rmdir(folder) }
    }

    static func keyed(_ path: String, _ key: String) -> Int64? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == key { return Int64(parts[1]) }
        }
        return nil
    }

    static func makeFolder(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw Failure(description: "cannot create the cgroup \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func write(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw Failure(description: "cannot write '\(text)' to \(path): \(String(cString: strerror(errno)))")
        }
    }
}
