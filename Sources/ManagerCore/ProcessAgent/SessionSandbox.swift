import CProcess
import Foundation
import Glibc
import SchedulerKit

/// Starts one session in its sandbox: its folder and `/etc`, its cgroups and limits, the bubblewrap command line,
/// and (with `outbound`) its network, before the command runs. Blocking: called on the blocking executor.
struct SessionSandbox {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// A started session: the pid the agent waits for (bubblewrap's, or the wrapper's without a sandbox), its
    /// cgroups, and slirp4netns when it has one.
    struct Started: Sendable {
        var pid: pid_t
        var cgroup: SessionCGroup?
        /// bubblewrap set-up failures retried before this start worked (see `startSandboxedRetrying`), with the
        /// last one's message.
        var retried: [String] = []
        /// From the call to the command running: folder, cgroups, sandbox, network.
        var took: Duration = .zero
        /// Where that time went, step by step (`folder=0.31 cgroup=0.52 …`, milliseconds), for the agent's log.
        var steps = ""
    }

    /// The steps of one start and how long each took.
    final class Steps {
        private let clock = ContinuousClock()
        private var last: ContinuousClock.Instant
        private(set) var text = ""

        init() { self.last = self.clock.now }

        func mark(_ name: String) {
            let now = self.clock.now
            if !self.text.isEmpty { self.text += " " }
            self.text += "\(name)=\(AgentState.milliseconds(now - self.last))"
            self.last = now
        }
    }

    let runtime: SandboxRuntime
    let workspace: SessionWorkspace
    let sessionID: UUID
    let spec: AgentProtocol.SessionSpec
    /// The image's root folder when the image is imported on this agent.
    let imageRoot: String?
    /// The read end of a pipe to be the process's stdin (an execution that takes input); /dev/null without one.
    var stdin: Int32? = nil

    /// The sandbox's own environment under the session's: a login-like one for user `work`.
    static let baseEnvironment: [(String, String)] = [
        ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), ("HOME", MountPath.home),
        ("USER", "work"), ("LOGNAME", "work"), ("LANG", "C.UTF-8"), ("SHELL", "/bin/sh"),
    ]

    /// Without a sandbox the command runs in the folder with `/bin/sh -c`, and its exit code is written where a
    /// restarted agent can read it.
    static let hostWrapper = #"""
        cd "$1" || exit 126
        /bin/sh -c "$2"
        code=$?
        printf '%s' "$code" > "$3.tmp" && mv "$3.tmp" "$3"
        exit $code
        """#

    func limits() -> SessionCGroup.Limits {
        let cpu = self.spec.slots["cpu"].flatMap(SlotAmount.init(parsing:)).map(\.milli).flatMap { $0 > 0 ? $0 : nil }
        let mem = self.spec.slots["mem"].flatMap(SlotAmount.init(parsing:)).map { $0.milli / 1000 }.flatMap { $0 > 0 ? $0 : nil }
        return .init(cpuMilli: cpu, memoryBytes: mem, pids: self.runtime.settings.pidsLimit)
    }

    func start(environment: [(String, String)]) throws -> Started {
        let clock = ContinuousClock()
        let began = clock.now
        let steps = Steps()
        var started = try self.startTimed(environment: environment, steps: steps)
        started.took = clock.now - began
        started.steps = steps.text
        return started
    }

    private func startTimed(environment: [(String, String)], steps: Steps) throws -> Started {
        let settings = self.runtime.settings
        try self.workspace.prepare(owner: (settings.effectiveHostUID, settings.effectiveHostGID))
        let mounts = try self.mounts()
        steps.mark("folder")
        var cgroup: SessionCGroup?
        if let layout = self.runtime.cgroups {
            cgroup = try SessionCGroup.create(layout: layout, name: self.sessionID.uuidString.lowercased(), limits: self.limits())
            try self.workspace.record(cgroup: cgroup)
            steps.mark("cgroup")
        }
        do {
            switch settings.mode {
            case .bubblewrap:
                let (pid, retried) = try self.startSandboxedRetrying(environment: environment, mounts: mounts, cgroup: cgroup, steps: steps)
                return Started(pid: pid, cgroup: cgroup, retried: retried)
            case .none:
                return Started(pid: try self.startOnHost(environment: environment, mounts: mounts, cgroup: cgroup), cgroup: cgroup)
            }
        } catch {
            cgroup?.killAll()
            cgroup?.remove()
            throw error
        }
    }

    /// The session's vfolders, checked again here: a path a session may use, a folder that exists. A writable
    /// folder's top is given to the sessions' host user when the agent runs as root, so `work` can write there.
    func mounts() throws -> [SandboxArguments.Mount] {
        var mounts: [SandboxArguments.Mount] = []
        for mount in self.spec.mounts ?? [] {
            guard let path = mount.path else {
                throw Failure(description: "the vfolder '\(mount.name.prefix(64))' cannot be mounted at '\((mount.alias ?? mount.name).prefix(64))'")
            }
            var info = cproc_stat()
            guard mount.hostPath.hasPrefix("/"), cproc_stat_path(mount.hostPath, 0, &info) == 0, cproc_file_kind(info.mode) == 1 else {
                throw Failure(description: "the vfolder '\(mount.name.prefix(64))' is not on this agent at \(mount.hostPath.prefix(256))")
            }
            if !mount.isReadOnly, self.runtime.runsAsRoot, self.runtime.settings.mode == .bubblewrap, info.uid == 0 {
                chown(mount.hostPath, self.runtime.settings.hostUID, self.runtime.settings.hostGID)
            }
            mounts.append(.init(hostPath: mount.hostPath, path: path, readOnly: mount.isReadOnly))
        }
        for (index, mount) in mounts.enumerated() {
            if let other = mounts[(index + 1)...].first(where: { $0.path.overlaps(mount.path) }) {
                throw Failure(description: "the mounts at \(mount.path) and \(other.path) overlap")
            }
        }
        return mounts
    }

    /// bubblewrap failed while setting the sandbox up, before the command ran (its message is the last line).
    struct SetupFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// bubblewrap now and then fails to set up a new network namespace's loopback under load ("loopback: Failed
    /// RTM_NEWADDR"); a start whose command never ran is tried again (three times in all), from an empty log.
    private func startSandboxedRetrying(
        environment: [(String, String)], mounts: [SandboxArguments.Mount], cgroup: SessionCGroup?, steps: Steps
    ) throws -> (pid_t, [String]) {
        var retried: [String] = []
        while true {
            do {
                return (try self.startSandboxed(environment: environment, mounts: mounts, cgroup: cgroup, steps: steps), retried)
            } catch let failure as SetupFailure where retried.count < 2 {
                retried.append(failure.description)
                cgroup?.killAll()
                truncate(self.workspace.logPath, 0)
            }
        }
    }

    private func startSandboxed(
        environment: [(String, String)], mounts: [SandboxArguments.Mount], cgroup: SessionCGroup?, steps: Steps
    ) throws -> pid_t {
        let runtime = self.runtime
        let hostname = String(self.spec.name.prefix(63))
        // On the host's root only hosts and hostname are the session's own (the rest is the agent's /etc base).
        let etcBase = self.imageRoot == nil ? runtime.etcBase : nil
        let etc = try self.workspace.writeEtc(
            hostname: hostname, network: runtime.network, only: etcBase == nil ? nil : ["hosts", "hostname"])
        let arguments = SandboxArguments(
            rootSource: self.imageRoot ?? "/",
            rootEntries: self.imageRoot.map { root in
                SandboxRuntime.entries(of: root, named: nil).filter { !SandboxArguments.imageRootSkipped.contains($0.name) }
            } ?? runtime.hostRoot,
            etcSource: self.imageRoot.map { $0 + "/etc" } ?? "/etc",
            etcEntries: self.imageRoot.map { SandboxRuntime.entries(of: $0 + "/etc", named: nil) } ?? runtime.hostEtc,
            generatedEtc: etc, etcBase: etcBase, workDir: self.workspace.workDir.path, mounts: mounts, hostname: hostname,
            network: runtime.network, environment: Self.baseEnvironment + environment,
            command: self.spec.command ?? "", statusFD: 3)
        steps.mark("etc")
        // `outbound`: a network namespace made ahead (or now, when none is ready), its helpers moved into the
        // session's cgroups. bubblewrap gets the namespace's lifetime pipe; ours is closed once the start is over.
        var enter: [String] = []
        var namespace: NetworkNamespacePool.Namespace?
        if runtime.network == .outbound {
            guard let pool = runtime.networkPool else { throw Failure(description: "outbound network without a namespace pool") }
            let taken = try pool.take() ?? pool.make()
            namespace = taken
            enter = taken.enter(nsenter: pool.nsenter)
            do {
                try cgroup?.adopt([taken.holder, taken.slirp])
            } catch {
                pool.release(taken)
                throw error
            }
            steps.mark("network")
        }
        defer { if let namespace { runtime.networkPool?.release(namespace) } }
        let started = try Self.pipe()
        var startedWrite: Int32? = started.write
        defer {
            close(started.read)
            if let startedWrite { close(startedWrite) }
        }
        // 0–2, the status file (`statusFD`), the options (`--args`), `startedFD`, `lifetimeFD`: nothing else.
        let descriptors: [ProcessLauncher.Descriptor] = [
            self.stdin.map { .inherit($0) } ?? .null, .append(self.workspace.logPath), .same(1), .truncate(self.workspace.statusPath),
            .read(self.workspace.argsPath), .inherit(started.write), namespace.map { .inherit($0.lifetime) } ?? .null,
        ]
        try self.workspace.writeArguments(SandboxArguments.encode(arguments.options()))
        steps.mark("arguments")
        let pid = try ProcessLauncher.spawn(
            enter + runtime.dropPrivileges + arguments.commandLine(bwrap: runtime.bwrap, argsFD: 4), descriptors: descriptors,
            cgroupProcs: cgroup?.procsFiles ?? [], maxOpenFiles: runtime.settings.maxOpenFiles,
            environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
        try? self.workspace.record(pid: pid)
        // The child's end is its own now; ours would keep the pipe from reporting EOF.
        close(started.write)
        startedWrite = nil
        steps.mark("spawn")
        try self.awaitStart(pid: pid, started: started.read)
        steps.mark("sandbox")
        return pid
    }

    /// Waits for the starter's byte: the sandbox is set up and the command runs. EOF without it means bubblewrap
    /// gave up (it is reaped, and its message becomes a `SetupFailure`).
    private func awaitStart(pid: pid_t, started: Int32) throws {
        let answer: String
        do {
            answer = try Self.readAll(started, timeout: 30, until: 1)
        } catch {
            kill(pid, SIGKILL)
            ProcessLauncher.reapBlocking(pid)
            throw error
        }
        guard answer == "1" else {
            ProcessLauncher.reapBlocking(pid)
            throw SetupFailure(description: "bubblewrap could not set up the sandbox: \(self.workspace.logTail())")
        }
    }

    private func startOnHost(environment: [(String, String)], mounts: [SandboxArguments.Mount], cgroup: SessionCGroup?) throws -> pid_t {
        try self.workspace.link(mounts)
        var env = ProcessInfo.processInfo.environment.filter { ["PATH", "LANG", "LC_ALL", "TZ"].contains($0.key) }
        if env["PATH"] == nil { env["PATH"] = "/usr/local/bin:/usr/bin:/bin" }
        env["HOME"] = self.workspace.workDir.path
        for (name, value) in environment { env[name] = value }
        let pid = try ProcessLauncher.spawn(
            ["/bin/sh", "-c", Self.hostWrapper, "session-wrapper", self.workspace.workDir.path, self.spec.command ?? "",
             self.workspace.exitCodePath],
            descriptors: [self.stdin.map { .inherit($0) } ?? .null, .append(self.workspace.logPath), .same(1)],
            cgroupProcs: cgroup?.procsFiles ?? [],
            maxOpenFiles: self.runtime.settings.maxOpenFiles, environment: env)
        try? self.workspace.record(pid: pid)
        return pid
    }

    static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        // Close-on-exec: not inherited by other children spawned meanwhile (spawn gives each child only its own).
        guard cproc_pipe_cloexec(&fds) == 0 else { throw Failure(description: "pipe: \(String(cString: strerror(errno)))") }
        return (fds[0], fds[1])
    }

    /// Reads until EOF (or `until` bytes), waiting at most `timeout` seconds in all.
    static func readAll(_ fd: Int32, timeout: Double, until limit: Int = 1 << 16) throws -> String {
        var bytes: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw Failure(description: "the sandbox did not answer within \(Int(timeout)) s") }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(left * 1000))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, min($0.count, limit - bytes.count)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// bubblewrap's `--json-status-fd` file: `{"child-pid": N, …}` once the sandbox exists, `{"exit-code": N}` when
/// its command ended. Written by bubblewrap outside the sandbox, so a session cannot forge it.
enum SandboxStatus {
    static func number(after key: String, in text: String) -> Int? {
        guard let range = text.range(of: key, options: .backwards) else { return nil }
        let rest = text[range.upperBound...].drop { $0 == ":" || $0 == " " || $0 == "\t" || $0 == "\n" }
        let digits = rest.prefix { $0.isASCII && ($0.isNumber || $0 == "-") }
        return digits.count <= 12 ? Int(digits) : nil
    }
}
