import CProcess
import Foundation
import Glibc
import SchedulerKit

/// A session's folder on the agent. Only `work/` is seen by the session (as `/home/work`); everything else is the
/// agent's record, outside the sandbox, so a session cannot forge it: `output.log` (the session writes it through
/// the descriptor it was given), bubblewrap's `status.json`, the `sandbox/` files (generated `/etc`, arguments),
/// the cgroup record, the pids, and markers that let a restarted agent know what it already did. A `started`
/// marker is written before the process is spawned, so a repeated start command never starts a second process.
struct SessionWorkspace: Sendable {
    let root: URL
    /// Set for an execution inside a running session (`run`): its own records, the session's `work/`.
    private let sharedWorkDir: URL?

    init(agentDir: String, sessionID: UUID) {
        self.root = URL(fileURLWithPath: agentDir).appendingPathComponent("sessions")
            .appendingPathComponent(sessionID.uuidString.lowercased())
        self.sharedWorkDir = nil
    }

    /// The records of one execution (`runs/<id>/` in the session's folder), running on the session's `work/`.
    init(execution id: String, of session: SessionWorkspace) {
        self.root = session.root.appendingPathComponent("runs").appendingPathComponent(id)
        self.sharedWorkDir = session.workDir
    }

    var workDir: URL { self.sharedWorkDir ?? self.root.appendingPathComponent("work") }
    /// The start command's spec, kept so executions run with the session's slots, mounts and image.
    var specPath: String { self.root.appendingPathComponent("spec.json").path }

    func record(spec: AgentProtocol.SessionSpec) throws {
        try self.create()
        try JSONEncoder().encode(spec).write(to: URL(fileURLWithPath: self.specPath))
    }

    var spec: AgentProtocol.SessionSpec? {
        FileManager.default.contents(atPath: self.specPath).flatMap { try? JSONDecoder().decode(AgentProtocol.SessionSpec.self, from: $0) }
    }
    var logPath: String { self.root.appendingPathComponent("output.log").path }
    var exitCodePath: String { self.root.appendingPathComponent("exit_code").path }
    var statusPath: String { self.root.appendingPathComponent("status.json").path }
    var sandboxDir: URL { self.root.appendingPathComponent("sandbox") }
    var argsPath: String { self.sandboxDir.appendingPathComponent("args").path }

    enum Marker: String {
        /// The start command was taken (written before spawning).
        case started
        /// A stop was asked for.
        case stopped
        /// The manager has the TERMINATED report; nothing left to do.
        case reported
    }

    func has(_ marker: Marker) -> Bool {
        FileManager.default.fileExists(atPath: self.root.appendingPathComponent(marker.rawValue).path)
    }

    func mark(_ marker: Marker) throws {
        try self.create()
        try Data().write(to: self.root.appendingPathComponent(marker.rawValue))
    }

    func create() throws {
        try FileManager.default.createDirectory(at: self.root, withIntermediateDirectories: true)
    }

    /// `work/` owned by the sessions' host user (bubblewrap binds it as that user, and `work` writes there), and
    /// the folders on the way traversable by it.
    func prepare(owner: (uid: UInt32, gid: UInt32)) throws {
        try self.create()
        try FileManager.default.createDirectory(at: self.workDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: self.sandboxDir, withIntermediateDirectories: true)
        for folder in [self.root.deletingLastPathComponent(), self.root, self.sandboxDir] { chmod(folder.path, 0o711) }
        chmod(self.workDir.path, 0o755)
        if geteuid() == 0 { chown(self.workDir.path, owner.uid, owner.gid) }
    }

    struct MountFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// Without a sandbox: links each mount into the working folder (`work/<alias>` → host path); only paths below
    /// `/home/work` can be had that way, and `ro` is not enforced.
    func link(_ mounts: [SandboxArguments.Mount]) throws {
        try FileManager.default.createDirectory(at: self.workDir, withIntermediateDirectories: true)
        for mount in mounts {
            guard mount.path.path.hasPrefix(MountPath.home + "/") else {
                throw MountFailure(description: "without a sandbox a folder can only be mounted below /home/work, not at \(mount.path)")
            }
            let link = self.workDir.appendingPathComponent(mount.path.alias)
            try FileManager.default.createDirectory(at: link.deletingLastPathComponent(), withIntermediateDirectories: true)
            if (try? FileManager.default.destinationOfSymbolicLink(atPath: link.path)) == mount.hostPath { continue }
            try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: mount.hostPath)
        }
    }

    /// The session's own `passwd`, `group`, `hosts`, `hostname` and `resolv.conf` (name → file), readable by the
    /// sessions' host user.
    func writeEtc(hostname: String, network: SandboxSettings.Network, only names: Set<String>? = nil) throws -> [String: String] {
        let files = Self.etcFiles(hostname: hostname, network: network).filter { names?.contains($0.key) ?? true }
        var paths: [String: String] = [:]
        for (name, text) in files {
            let path = self.sandboxDir.appendingPathComponent(name).path
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            chmod(path, 0o644)
            paths[name] = path
        }
        return paths
    }

    /// The generated `/etc` files' texts.
    static func etcFiles(hostname: String, network: SandboxSettings.Network) -> [String: String] {
        let resolver: String
        switch network {
        case .none: resolver = ""
        case .outbound: resolver = "nameserver 10.0.2.3\n"
        case .host: resolver = (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? ""
        }
        return [
            "passwd": "root:x:0:0:root:/root:/bin/sh\nwork:x:1000:1000:work:/home/work:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
            "group": "root:x:0:\nwork:x:1000:\nnogroup:x:65534:\n",
            "hosts": "127.0.0.1\tlocalhost\n127.0.1.1\t\(hostname)\n::1\tlocalhost ip6-localhost ip6-loopback\n",
            "hostname": hostname + "\n",
            "resolv.conf": resolver,
        ]
    }

    func writeArguments(_ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: self.argsPath), options: .atomic)
        chmod(self.argsPath, 0o600)
    }

    var pid: pid_t? { self.number("pid").flatMap { pid_t(exactly: $0) } }

    func record(pid: pid_t) throws {
        try Data(String(pid).utf8).write(to: self.root.appendingPathComponent("pid"), options: .atomic)
    }

    func record(cgroup: SessionCGroup?) throws {
        guard let cgroup else { return }
        try JSONEncoder().encode(cgroup).write(to: self.root.appendingPathComponent("cgroup.json"), options: .atomic)
    }

    /// The session's cgroups as recorded when it started.
    var cgroup: SessionCGroup? {
        guard let data = FileManager.default.contents(atPath: self.root.appendingPathComponent("cgroup.json").path) else { return nil }
        return try? JSONDecoder().decode(SessionCGroup.self, from: data)
    }

    private func number(_ name: String) -> Int? {
        guard let text = try? String(contentsOf: self.root.appendingPathComponent(name), encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The command's exit code: bubblewrap's status (sandbox) or the wrapper's file (no sandbox); nil when neither
    /// was written (the process was killed before it could say).
    var exitCode: Int? {
        if let text = try? String(contentsOfFile: self.statusPath, encoding: .utf8),
            let code = SandboxStatus.number(after: "\"exit-code\"", in: text)
        {
            return code
        }
        guard let text = try? String(contentsOfFile: self.exitCodePath, encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Whether bubblewrap got as far as starting the sandbox (false: it failed while setting it up).
    var sandboxStarted: Bool {
        guard let text = try? String(contentsOfFile: self.statusPath, encoding: .utf8) else { return false }
        return SandboxStatus.number(after: "\"child-pid\"", in: text) != nil
    }

    // MARK: The output log

    /// Bytes of the session's output dropped from the start of `output.log` when it was cut; the offsets the
    /// agent reports count from the session's first byte, so they stay increasing across cuts and restarts.
    var logBase: UInt64 { self.number("log_base").flatMap { UInt64(exactly: $0) } ?? 0 }

    static let truncationMarker = "\n[agent: output truncated; the log keeps its newest part]\n"

    /// Cuts `output.log` to its newest half when it is longer than `limit`, with a marker line at the top; the
    /// command goes on appending (its descriptor is O_APPEND). Returns the new base when it cut.
    func capLog(limit: Int64) -> UInt64? {
        let size = self.logSize
        guard limit > 0, size > limit else { return nil }
        let keep = Int(limit / 2)
        guard let handle = FileHandle(forUpdatingAtPath: self.logPath) else { return nil }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: UInt64(size) - UInt64(keep))) != nil, let tail = try? handle.read(upToCount: keep) else { return nil }
        let marker = Data(Self.truncationMarker.utf8)
        guard (try? handle.seek(toOffset: 0)) != nil, (try? handle.write(contentsOf: marker + tail)) != nil else { return nil }
        try? handle.truncate(atOffset: UInt64(marker.count + tail.count))
        // The kept tail keeps its offsets; the marker stands just before it.
        let base = self.logBase + UInt64(size) - UInt64(tail.count) - UInt64(marker.count)
        try? Data(String(base).utf8).write(to: self.root.appendingPathComponent("log_base"), options: .atomic)
        return base
    }

    /// The bytes in `output.log` now.
    var logSize: Int64 {
        var info = cproc_stat()
        return cproc_stat_path(self.logPath, 0, &info) == 0 ? max(0, info.size) : 0
    }

    /// Output from the session's byte `offset` on, at most `limit` bytes; returns the text and the new offset.
    /// An offset inside a part that was cut reads from the oldest byte kept.
    func readLog(from offset: UInt64, limit: Int) -> (text: String, start: UInt64, offset: UInt64) {
        let base = self.logBase
        let start = max(offset, base)
        guard let handle = FileHandle(forReadingAtPath: self.logPath) else { return ("", start, start) }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: start - base)) != nil, let data = try? handle.read(upToCount: limit), !data.isEmpty else {
            return ("", start, start)
        }
        return (String(decoding: data, as: UTF8.self), start, start + UInt64(data.count))
    }

    /// The last line of the output (bubblewrap's message when it failed).
    func logTail() -> String {
        let text = (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
        return String(text.split(separator: "\n").last ?? "no output").prefix(500).description
    }

    /// Removes the folder (after the manager has the final report).
    /// Blocking (the session decides how big and deep `work/` is): call it from the blocking executor.
    func remove() throws {
        try TreeRemover.remove(self.root.path)
    }

    var finishedAt: Date? {
        (try? FileManager.default.attributesOfItem(atPath: self.root.appendingPathComponent(Marker.reported.rawValue).path))?[.modificationDate] as? Date
    }

    /// Session ids with a folder under `agentDir`.
    static func all(agentDir: String) -> [UUID] {
        let folder = URL(fileURLWithPath: agentDir).appendingPathComponent("sessions").path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.compactMap(UUID.init(uuidString:))
    }
}
