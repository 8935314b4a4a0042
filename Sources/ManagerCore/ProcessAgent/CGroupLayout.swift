/// Where the agent's session cgroups go, found from `/proc/self/cgroup` and `/proc/self/mountinfo` (pure: the
/// texts in, the folders out).
///
/// cgroup v1 (each controller its own hierarchy, as on this machine's hybrid mount): a session gets
/// `<controller mount>/<agent's own path>/manager-sessions/<id>` in the `memory`, `cpu`, `pids` and (when mounted
/// apart) `cpuacct` hierarchies. cgroup v2: `<mount>/<own path>/manager-sessions/<id>` in the unified hierarchy,
/// which needs the agent's own cgroup delegated to it (root, or systemd `Delegate=yes`).
struct CGroupLayout: Sendable, Hashable {
    enum Version: String, Sendable, Hashable, Codable {
        case v1, v2
    }

    /// The v1 controllers a session is limited by.
    static let requiredV1: [String] = ["memory", "cpu", "pids"]
    static let folderName = "manager-sessions"

    var version: Version
    /// The folder the agent itself is in, per hierarchy: v1 controller name → path; v2: `unified` → path.
    var own: [String: String]

    /// The layout to use: v1 when every required controller is mounted as v1, else the unified hierarchy.
    static func detect(cgroupFile: String, mountinfo: String) -> CGroupLayout? {
        var v1Paths: [String: String] = [:]
        var v2Path: String?
        for line in cgroupFile.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[0] == "0" && fields[1].isEmpty {
                v2Path = String(fields[2])
            } else {
                for controller in fields[1].split(separator: ",") { v1Paths[String(controller)] = String(fields[2]) }
            }
        }
        var v1Mounts: [String: (root: String, point: String)] = [:]
        var v2Mount: (root: String, point: String)?
        for line in mountinfo.split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2 else { continue }
            let left = halves[0].split(separator: " ")
            let right = halves[1].split(separator: " ")
            guard left.count >= 5, right.count >= 3 else { continue }
            let root = Self.unescape(String(left[3]))
            let point = Self.unescape(String(left[4]))
            switch right[0] {
            case "cgroup2":
                if v2Mount == nil { v2Mount = (root, point) }
            case "cgroup":
                for option in right[2].split(separator: ",") where v1Mounts[String(option)] == nil {
                    v1Mounts[String(option)] = (root, point)
                }
            default:
                continue
            }
        }
        func folder(_ mount: (root: String, point: String), _ path: String) -> String {
            // Inside a cgroup namespace the path is relative to the mount's root already.
            var relative = path
            if mount.root != "/" && relative.hasPrefix(mount.root) { relative.removeFirst(mount.root.count) }
            let joined = mount.point + (relative.hasPrefix("/") ? relative : "/" + relative)
            return joined.count > 1 && joined.hasSuffix("/") ? String(joined.dropLast()) : joined
        }
        if Self.requiredV1.allSatisfy({ v1Mounts[$0] != nil && v1Paths[$0] != nil }) {
            var own: [String: String] = [:]
            for controller in Self.requiredV1 + ["cpuacct"] {
                guard let mount = v1Mounts[controller], let path = v1Paths[controller] else { continue }
                own[controller] = folder(mount, path)
            }
            return CGroupLayout(version: .v1, own: own)
        }
        if let v2Mount, let v2Path {
            return CGroupLayout(version: .v2, own: ["unified": folder(v2Mount, v2Path)])
        }
        return nil
    }

    /// Where a session's cgroups go: one folder per hierarchy (v1: per controller; cpuacct only when it is not
    /// the same folder as cpu).
    func sessionFolders(_ name: String) -> [String: String] {
        var folders: [String: String] = [:]
        for (controller, path) in self.own {
            if controller == "cpuacct", self.own["cpu"] == path { continue }
            folders[controller] = path + "/" + Self.folderName + "/" + name
        }
        return folders
    }

    /// mountinfo escapes space, tab, newline and backslash as octal.
    static func unescape(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var bytes: [UInt8] = []
        let source = Array(text.utf8)
        var index = 0
        while index < source.count {
            if source[index] == UInt8(ascii: "\\"), index + 3 < source.count,
                let value = UInt8(String(decoding: source[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(source[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
