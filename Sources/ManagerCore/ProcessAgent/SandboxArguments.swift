import SchedulerKit

/// The bubblewrap command line of one session, made from values only (no I/O) so it can be checked whole.
///
/// The sandbox's root is an empty tmpfs with, on top: the system folders (the host's, read-only, or an imported
/// image's), a minimal `/etc` (the host's or the image's entries that programs need, and our own `passwd`, `group`,
/// `hosts`, `hostname` and `resolv.conf`), `/proc`, `/dev` and `/tmp` of its own, and `/home/work` (the session's
/// folder) with the vfolders bound where the session asked for them. Nothing else of the host is there.
struct SandboxArguments: Sendable {
    /// One entry of a folder to show inside (a top-level folder of the root, or an entry of `/etc`).
    struct Entry: Hashable, Sendable {
        enum Kind: Hashable, Sendable {
            case directory, file
            case symlink(String)
        }

        var name: String
        var kind: Kind
    }

    struct Mount: Hashable, Sendable {
        var hostPath: String
        var path: MountPath
        var readOnly: Bool
    }

    /// Top-level names of the host's `/` shown inside (read-only).
    static let hostRootNames: Set<String> = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"]
    /// Names of an image's `/` that the sandbox makes itself.
    static let imageRootSkipped: Set<String> = ["proc", "dev", "tmp", "home", "sys", "run", "etc", "var"]
    /// Entries of the host's `/etc` programs need: TLS certificates, the dynamic linker's cache, alternatives,
    /// name service and time zone settings.
    static let hostEtcNames: Set<String> = [
        "ssl", "ca-certificates", "ca-certificates.conf", "alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
        "nsswitch.conf", "localtime", "timezone", "os-release", "debian_version", "mime.types", "protocols", "services",
        "host.conf", "gai.conf", "profile", "bash.bashrc", "inputrc", "python3", "python3.11", "pki", "crypto-policies",
    ]
    /// Files of `/etc` the agent writes for each session.
    static let generatedEtcNames: Set<String> = ["passwd", "group", "hosts", "hostname", "resolv.conf"]

    /// Where the root's entries come from: `/` on the host, or an image's root folder.
    var rootSource: String
    var rootEntries: [Entry]
    /// Where `/etc`'s entries come from (`/etc`, or the image's).
    var etcSource: String
    var etcEntries: [Entry]
    /// `passwd` → the file the agent wrote for this session, and so on.
    var generatedEtc: [String: String]
    /// On the host's root: the agent's `/etc` (its files copied once at start, folders as mount points, `passwd`,
    /// `group`, `resolv.conf` written), bound whole, with only the folders and `hosts`/`hostname` bound on top.
    /// Twenty binds fewer per start (about 4 ms here).
    var etcBase: String?
    /// The session's folder on the host: `/home/work` inside.
    var workDir: String
    var mounts: [Mount]
    var hostname: String
    var network: SandboxSettings.Network
    /// The command's environment, in this order.
    var environment: [(String, String)]
    var command: String
    /// bubblewrap writes the sandbox's pid (and later the exit code) here.
    var statusFD: Int32

    static func join(_ base: String, _ name: String) -> String {
        base.hasSuffix("/") ? base + name : base + "/" + name
    }

    /// bubblewrap's options, for `--args` (NUL-separated, so no environment value reaches the host's process
    /// list); the command follows them on the command line (`commandLine`).
    func options() -> [String] {
        var args = [
            "--unshare-user", "--uid", "1000", "--gid", "1000", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--hostname", self.hostname, "--new-session", "--disable-userns",
        ]
        switch self.network {
        // `outbound`: bubblewrap starts inside a namespace made for this session (`NetworkNamespacePool`).
        case .outbound, .host: break
        case .none: args.append("--unshare-net")
        }
        for entry in self.rootEntries.sorted(by: { $0.name < $1.name }) {
            args += Self.show(entry, from: self.rootSource, at: "/" + entry.name)
        }
        if let etcBase {
            args += ["--ro-bind", etcBase, "/etc"]
            for entry in self.etcEntries.sorted(by: { $0.name < $1.name }) where entry.kind == .directory {
                args += Self.show(entry, from: self.etcSource, at: "/etc/" + entry.name)
            }
        } else {
            args += ["--dir", "/etc"]
            for entry in self.etcEntries.sorted(by: { $0.name < $1.name }) where !Self.generatedEtcNames.contains(entry.name) {
                args += Self.show(entry, from: self.etcSource, at: "/etc/" + entry.name)
            }
        }
        for (name, file) in self.generatedEtc.sorted(by: { $0.key < $1.key }) {
            args += ["--ro-bind", file, "/etc/" + name]
        }
        args += [
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", "/var", "--symlink", "../tmp", "/var/tmp",
            "--dir", "/run", "--dir", "/home", "--bind", self.workDir, MountPath.home,
        ]
        // Parents before children, so a folder mounted inside another is bound on top of it.
        for mount in self.mounts.sorted(by: { ($0.path.path.count, $0.path.path) < ($1.path.path.count, $1.path.path) }) {
            args += [mount.readOnly ? "--ro-bind" : "--bind", mount.hostPath, mount.path.path]
        }
        args += ["--chdir", MountPath.home, "--clearenv"]
        for (name, value) in self.environment { args += ["--setenv", name, value] }
        args += ["--json-status-fd", String(self.statusFD)]
        // bubblewrap closes what it was not told about in its own processes: `--sync-fd` keeps the lifetime pipe.
        if self.network == .outbound { args += ["--sync-fd", String(Self.lifetimeFD)] }
        return args
    }

    /// The descriptor on which the sandbox says its command is about to run (`startedFD`): one byte, then it is
    /// closed. Without the byte bubblewrap failed while setting the sandbox up.
    static let startedFD: Int32 = 5
    /// Held by bubblewrap's two processes for the sandbox's life (the starter closes it for the command): the
    /// network namespace's helpers hold the other end and end with the session, even when no agent is there.
    static let lifetimeFD: Int32 = 6

    /// `bwrap --args FD -- /bin/sh -c STARTER session COMMAND`: bubblewrap reads only options from `--args`; the
    /// starter signals on `startedFD`, closes it and execs `/bin/sh -c COMMAND` (same pid).
    func commandLine(bwrap: String, argsFD: Int32) -> [String] {
        let starter = "printf 1 >&\(Self.startedFD) 2>/dev/null; exec \(Self.startedFD)>&- \(Self.lifetimeFD)>&-; exec /bin/sh -c \"$1\""
        return [bwrap, "--args", String(argsFD), "--", "/bin/sh", "-c", starter, "session", self.command]
    }

    private static func show(_ entry: Entry, from source: String, at path: String) -> [String] {
        switch entry.kind {
        case .symlink(let target): return ["--symlink", target, path]
        case .directory, .file: return ["--ro-bind", Self.join(source, entry.name), path]
        }
    }

    /// `--args` takes the arguments NUL-terminated.
    static func encode(_ arguments: [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        for argument in arguments {
            bytes += Array(argument.utf8)
            bytes.append(0)
        }
        return bytes
    }
}
