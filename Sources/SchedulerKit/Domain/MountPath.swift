/// Where a vfolder appears inside a session (Backend.AI's `mount_map` value): a path relative to `/home/work`
/// (or written under it), or an absolute path elsewhere that does not cover the system's own folders.
///
/// The manager checks it at enqueue; the agent checks it again before it mounts anything, so a bad row can never
/// put a folder over `/usr` or above `/home/work`.
public struct MountPath: Hashable, Sendable, CustomStringConvertible {
    /// The session's home and working folder.
    public static let home = "/home/work"

    /// Absolute paths a mount may not be, nor be below: the sandbox's system folders and Backend.AI's reserved
    /// paths.
    public static let systemFolders: [String] = [
        "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt", "/opt", "/proc", "/root",
        "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var",
    ]

    /// Names directly under `/home/work` that belong to the session's tooling (Backend.AI reserves them).
    public static let reservedHomeEntries: Set<String> = [".terminfo", ".jupyter", ".tmux.conf", ".ssh"]

    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case empty
        /// `.`, `..`, an empty part or a control character.
        case notNormal
        /// Covers (or is above) a system folder or `/home/work`.
        case reserved(String)

        public var description: String {
            switch self {
            case .empty: return "Alias name cannot be empty."
            case .notNormal: return "the mount path must be a plain path without '.', '..', empty parts or control characters"
            case .reserved(let path): return "\(path.prefix(64)) is reserved for internal path."
            }
        }
    }

    /// The absolute path inside the session.
    public let path: String

    /// The form stored with the session: relative to `/home/work` when below it, else absolute.
    public var alias: String {
        self.path.hasPrefix(Self.home + "/") ? String(self.path.dropFirst(Self.home.count + 1)) : self.path
    }

    public var description: String { self.path }

    /// Reads an alias as the client sends it: `data`, `sub/data`, `/home/work/data` or `/data`; a trailing `/` is
    /// ignored.
    public init(alias text: String) throws(Problem) {
        var text = text
        while text.count > 1 && text.hasSuffix("/") { text.removeLast() }
        guard !text.isEmpty, text != "/home/work/" else { throw .empty }
        let absolute = text.hasPrefix("/") ? text : Self.home + "/" + text
        if absolute == "/" { throw .reserved(absolute) }
        let parts = absolute.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard !parts.isEmpty, !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }),
            !absolute.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f })
        else { throw .notNormal }
        // Above /home/work (`/`, `/home`, `/home/work` itself) would hide the session's own folder.
        if (Self.home + "/").hasPrefix(absolute + "/") { throw .reserved(absolute) }
        for folder in Self.systemFolders where absolute == folder || absolute.hasPrefix(folder + "/") {
            throw .reserved(absolute)
        }
        if absolute.hasPrefix(Self.home + "/") {
            let first = String(absolute.dropFirst(Self.home.count + 1).split(separator: "/").first ?? "")
            if Self.reservedHomeEntries.contains(first) { throw .reserved(first) }
        }
        self.path = absolute
    }

    /// Whether one mount would sit inside the other (or on it).
    public func overlaps(_ other: MountPath) -> Bool {
        self.path == other.path || self.path.hasPrefix(other.path + "/") || other.path.hasPrefix(self.path + "/")
    }
}
