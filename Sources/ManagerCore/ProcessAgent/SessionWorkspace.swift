import Foundation

/// A session's folder on the agent: `work/` (the command's working folder), `output.log`, and markers that let
/// a restarted agent know what it already did. A `started` marker is written before the process is spawned, so a
/// repeated start command never starts a second process.
struct SessionWorkspace: Sendable {
    let root: URL

    init(agentDir: String, sessionID: UUID) {
        self.root = URL(fileURLWithPath: agentDir).appendingPathComponent("sessions")
            .appendingPathComponent(sessionID.uuidString.lowercased())
    }

    var workDir: URL { self.root.appendingPathComponent("work") }
    var logPath: String { self.root.appendingPathComponent("output.log").path }
    var exitCodePath: String { self.root.appendingPathComponent("exit_code").path }

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
        try FileManager.default.createDirectory(at: self.workDir, withIntermediateDirectories: true)
    }

    struct MountFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// Links each mount into the working folder (`work/<alias>` → host path). Aliases must stay inside the folder.
    func link(_ mounts: [AgentProtocol.Mount]) throws {
        try self.create()
        for mount in mounts {
            let target = mount.target
            let parts = target.split(separator: "/", omittingEmptySubsequences: true)
            guard !target.hasPrefix("/"), !parts.isEmpty, !parts.contains(where: { $0 == ".." || $0 == "." }) else {
                throw MountFailure(description: "the mount alias '\(target)' must be a relative path inside the session folder")
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: mount.hostPath, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw MountFailure(description: "the vfolder '\(mount.name)' is not on this agent at \(mount.hostPath)")
            }
            let link = self.workDir.appendingPathComponent(target)
            try FileManager.default.createDirectory(at: link.deletingLastPathComponent(), withIntermediateDirectories: true)
            if (try? FileManager.default.destinationOfSymbolicLink(atPath: link.path)) == mount.hostPath { continue }
            try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: mount.hostPath)
        }
    }

    var pid: pid_t? {
        guard let text = try? String(contentsOf: self.root.appendingPathComponent("pid"), encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func record(pid: pid_t) throws {
        try Data(String(pid).utf8).write(to: self.root.appendingPathComponent("pid"), options: .atomic)
    }

    /// The command's exit code as its wrapper wrote it (absent when the wrapper itself was killed).
    var exitCode: Int? {
        guard let text = try? String(contentsOfFile: self.exitCodePath, encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Output from `offset` on, at most `limit` bytes; returns the text and the new offset.
    func readLog(from offset: UInt64, limit: Int) -> (text: String, offset: UInt64) {
        guard let handle = FileHandle(forReadingAtPath: self.logPath) else { return ("", offset) }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: offset)) != nil, let data = try? handle.read(upToCount: limit), !data.isEmpty else {
            return ("", offset)
        }
        return (String(decoding: data, as: UTF8.self), offset + UInt64(data.count))
    }

    /// Session ids with a folder under `agentDir`.
    static func all(agentDir: String) -> [UUID] {
        let folder = URL(fileURLWithPath: agentDir).appendingPathComponent("sessions").path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.compactMap(UUID.init(uuidString:))
    }
}
