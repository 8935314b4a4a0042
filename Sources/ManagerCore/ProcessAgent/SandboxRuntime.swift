import CProcess
import Foundation
import Glibc
import Logging

/// What this host can do for sessions, found once when the agent starts: bubblewrap and user namespaces, the
/// network policy (slirp4netns), cgroups. When the configured sandbox cannot be had, `prepare` refuses with what to
/// install or set, and the agent does not start.
struct SandboxRuntime: Sendable {
    struct Refusal: Error, CustomStringConvertible {
        let description: String
    }

    let settings: SandboxSettings
    /// The network policy in force (the setting, or the default this host supports).
    let network: SandboxSettings.Network
    let bwrap: String
    let setpriv: String?
    /// With `outbound`: where sessions' network namespaces come from.
    let networkPool: NetworkNamespacePool?
    let cgroups: CGroupLayout?
    /// The host's `/` and `/etc` entries shown inside, listed once.
    let hostRoot: [SandboxArguments.Entry]
    let hostEtc: [SandboxArguments.Entry]
    /// The agent's `/etc` for sessions on the host's root (`SandboxArguments.etcBase`), made at start.
    var etcBase: String?
    let runsAsRoot: Bool

    /// A program on the agent's PATH (the standard folders when PATH is unset).
    static func find(_ program: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        return path.split(separator: ":").map { $0 + "/" + program }.first { access($0, X_OK) == 0 }
    }

    static func prepare(_ settings: SandboxSettings, agentID: String, workDir: String, logger: Logger) throws -> SandboxRuntime {
        let root = geteuid() == 0
        switch settings.mode {
        case .none:
            if root && !settings.allowUnsandboxedRoot {
                throw Refusal(description: """
                    [agent.local] sandbox = "none" would run every session as root, beside the manager's secrets; \
                    use the bubblewrap sandbox (apt-get install bubblewrap) or, knowing this, set allow_unsandboxed_root = true
                    """)
            }
            logger.warning("sessions run WITHOUT a sandbox: any session can read what this agent's user can read", metadata: [
                "sandbox": "none", "user": "\(geteuid())",
            ])
        case .bubblewrap:
            break
        }
        let bwrap = Self.find("bwrap")
        if settings.mode == .bubblewrap && bwrap == nil {
            throw Refusal(description: """
                bubblewrap is not installed: apt-get install bubblewrap (or, on a host without user namespaces, \
                set [agent.local] sandbox = "none")
                """)
        }
        let setpriv = root ? Self.find("setpriv") : nil
        if settings.mode == .bubblewrap && root && setpriv == nil {
            throw Refusal(description: "setpriv (util-linux) is needed to run sessions as an unprivileged user: apt-get install util-linux")
        }
        let slirp = Self.find("slirp4netns")
        var network = settings.network ?? (slirp != nil && root ? .outbound : .none)
        if settings.mode == .none { network = .host }
        if network == .outbound {
            guard slirp != nil else {
                throw Refusal(description: "[agent.local] network = \"outbound\" needs slirp4netns: apt-get install slirp4netns (or set network = \"none\")")
            }
            guard root else {
                throw Refusal(description: "[agent.local] network = \"outbound\" needs the agent to run as root (slirp4netns joins the session's network namespace); set network = \"none\" or \"host\"")
            }
        }
        var pool: NetworkNamespacePool?
        if network == .outbound, let slirp {
            guard let unshare = Self.find("unshare"), let nsenter = Self.find("nsenter"), let cat = Self.find("cat") else {
                throw Refusal(description: "[agent.local] network = \"outbound\" needs unshare, nsenter (apt-get install util-linux) and cat (coreutils); or set network = \"none\"")
            }
            pool = NetworkNamespacePool(
                capacity: settings.preparedNetworks, unshare: unshare, nsenter: nsenter, slirp4netns: slirp, cat: cat,
                logPath: URL(fileURLWithPath: workDir).appendingPathComponent("network.log").path, logger: logger)
        }
        if settings.network == nil && network == .none && settings.mode == .bubblewrap {
            logger.warning("sessions get no network: install slirp4netns (and run the agent as root) for outbound access, or set [agent.local] network")
        }
        if network == .host && settings.mode == .bubblewrap {
            logger.warning("sessions share the host's network: they can reach every service on its loopback", metadata: ["network": "host"])
        }

        var cgroups: CGroupLayout?
        if settings.resourceLimits {
            let cgroupFile = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
            let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
            guard let layout = CGroupLayout.detect(cgroupFile: cgroupFile, mountinfo: mountinfo) else {
                throw Refusal(description: "no cgroup hierarchy with the memory, cpu and pids controllers is mounted; mount one or set [agent.local] resource_limits = false")
            }
            do {
                let probe = try SessionCGroup.create(
                    layout: layout, name: "probe-\(getpid())-\(UUID().uuidString.lowercased())", limits: .init(cpuMilli: 1000, memoryBytes: 64 << 20, pids: 16))
                probe.remove()
            } catch {
                throw Refusal(description: """
                    the agent cannot create cgroups for session limits (\(error)): run it as root, or give it a delegated \
                    cgroup v2 subtree (systemd Delegate=yes), or set [agent.local] resource_limits = false
                    """)
            }
            cgroups = layout
        } else {
            logger.warning("sessions run without cgroup limits: one session can use all of the host's memory and processors", metadata: [
                "resource_limits": "false",
            ])
        }
        var runtime = SandboxRuntime(
            settings: settings, network: network, bwrap: bwrap ?? "", setpriv: setpriv, networkPool: pool, cgroups: cgroups,
            hostRoot: Self.entries(of: "/", named: SandboxArguments.hostRootNames),
            hostEtc: Self.entries(of: "/etc", named: SandboxArguments.hostEtcNames), etcBase: nil, runsAsRoot: root)
        if settings.mode == .bubblewrap { runtime.etcBase = try runtime.makeEtcBase(workDir: workDir) }
        if settings.mode == .bubblewrap { try runtime.checkUserNamespaces(sessionsDir: try Self.sessionsDir(workDir)) }
        do {
            try pool?.check()
        } catch {
            throw Refusal(description: "[agent.local] network = \"outbound\" cannot be given to sessions here (\(error)); set network = \"none\"")
        }
        logger.info("session sandbox ready", metadata: [
            "sandbox": "\(settings.mode.rawValue)", "network": "\(network.rawValue)",
            "cgroups": "\(cgroups.map { "\($0.version.rawValue) \($0.own.sorted { $0.key < $1.key }.map(\.value).first ?? "")" } ?? "off")",
            "host_uid": "\(settings.effectiveHostUID)",
        ])
        return runtime
    }

    /// `<work_dir>/sandbox-etc`: the host's `/etc` files sessions see, copied (a host change is seen after the
    /// agent restarts), its folders as mount points (bound live), our `passwd`, `group`, `resolv.conf`, and empty
    /// `hosts`/`hostname` for each session's own.
    func makeEtcBase(workDir: String) throws -> String {
        let base = URL(fileURLWithPath: workDir).appendingPathComponent("sandbox-etc").path
        let fm = FileManager.default
        try? TreeRemover.remove(base)
        try fm.createDirectory(atPath: base, withIntermediateDirectories: true)
        chmod(base, 0o755)
        for entry in self.hostEtc where !SandboxArguments.generatedEtcNames.contains(entry.name) {
            let target = base + "/" + entry.name
            switch entry.kind {
            case .directory:
                try fm.createDirectory(atPath: target, withIntermediateDirectories: false)
            case .symlink(let destination):
                try fm.createSymbolicLink(atPath: target, withDestinationPath: destination)
            case .file:
                guard let data = fm.contents(atPath: "/etc/" + entry.name), data.count <= 16 << 20 else { continue }
                try data.write(to: URL(fileURLWithPath: target))
                chmod(target, 0o644)
            }
        }
        for (name, text) in SessionWorkspace.etcFiles(hostname: "", network: self.network) {
            let target = base + "/" + name
            try Data((name == "hosts" || name == "hostname" ? "" : text).utf8).write(to: URL(fileURLWithPath: target))
            chmod(target, 0o644)
        }
        return base
    }

    /// The entries of `folder` with these names (all of them when `names` is nil), symlinks as symlinks.
    static func entries(of folder: String, named names: Set<String>?) -> [SandboxArguments.Entry] {
        let list = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return list.sorted().compactMap { name in
            if let names, !names.contains(name) { return nil }
            let path = SandboxArguments.join(folder, name)
            var info = cproc_stat()
            guard cproc_stat_path(path, 0, &info) == 0 else { return nil }
            switch cproc_file_kind(info.mode) {
            case 3:
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else { return nil }
                return .init(name: name, kind: .symlink(target))
            case 1: return .init(name: name, kind: .directory)
            case 2: return .init(name: name, kind: .file)
            default: return nil
            }
        }
    }

    /// The command prefix that drops to the sandbox's host user (root only).
    var dropPrivileges: [String] {
        guard self.runsAsRoot, let setpriv else { return [] }
        return [
            setpriv, "--reuid=\(self.settings.hostUID)", "--regid=\(self.settings.hostGID)", "--clear-groups",
            "--inh-caps=-all", "--",
        ]
    }

    /// `<work_dir>/sessions`, made traversable (the sessions' host user binds folders below it).
    static func sessionsDir(_ workDir: String) throws -> String {
        let path = URL(fileURLWithPath: workDir).appendingPathComponent("sessions").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, 0o711)
        return path
    }

    /// Runs `true` in a minimal sandbox as the sessions' host user, with the sessions' folder bound: user
    /// namespaces work and that user can reach the folders it will bind, or the refusal says why.
    func checkUserNamespaces(sessionsDir: String) throws {
        let words = self.dropPrivileges + [
            self.bwrap, "--unshare-user", "--uid", "1000", "--gid", "1000", "--unshare-pid", "--unshare-net",
            "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--ro-bind", sessionsDir, "/mnt", "--", "/bin/true",
        ]
        let result = ProcessLauncher.runQuietly(words)
        if result.status != 0, result.output.contains(sessionsDir) {
            throw Refusal(description: """
                the sessions' host user (uid \(self.settings.effectiveHostUID)) cannot reach \(sessionsDir)                 (\(result.output.prefix(300).trimmingCharacters(in: .whitespacesAndNewlines))): make the folders above it                 traversable (chmod o+x) or move [agent.local] work_dir
                """)
        }
        guard result.status == 0 else {
            throw Refusal(description: """
                bubblewrap cannot create a user namespace here (\(result.output.prefix(300).trimmingCharacters(in: .whitespacesAndNewlines))): \
                enable unprivileged user namespaces (sysctl user.max_user_namespaces > 0, kernel.unprivileged_userns_clone = 1, \
                kernel.apparmor_restrict_unprivileged_userns = 0) or set [agent.local] sandbox = "none"
                """)
        }
    }
}
