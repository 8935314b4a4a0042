import CProcess
import Foundation
import Glibc

/// Starts the agent's child processes with `posix_spawn` (Foundation's `Process` cannot set the process group,
/// the signal defaults or the descriptors a child gets), and signals and reaps them.
///
/// Every child starts through `launcher`, a few lines of `sh` run by the agent's own user before anything of the
/// session: it joins the session's cgroups (so every later process is counted and limited, whatever it forks),
/// sets the open-file and core limits, and execs the real program. The child gets exactly the descriptors it is
/// given: everything else of the daemon is closed.
enum ProcessLauncher {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// `$1`: cgroup.procs files (one per line), `$2`: RLIMIT_NOFILE, then the program and its arguments.
    static let launcher = #"""
        procs=$1; nofile=$2; shift 2
        IFS='
        '
        for file in $procs; do
            printf '%s\n' "$$" > "$file" || { echo "agent: cannot join the cgroup $file" >&2; exit 125; }
        done
        ulimit -n "$nofile" 2>/dev/null || ulimit -n "$(ulimit -H -n)" 2>/dev/null || true
        ulimit -c 0
        exec "$@"
        """#

    /// A descriptor of the child.
    enum Descriptor {
        case null
        /// Opened for appending (created 0600 when missing).
        case append(String)
        /// Created or emptied, 0600.
        case truncate(String)
        case read(String)
        /// One of the agent's own descriptors (a pipe end).
        case inherit(Int32)
        /// The same as another of the child's descriptors.
        case same(Int32)
    }

    /// Spawns `words` through the launcher in its own process group, with default signal handling, the given
    /// descriptors (index = descriptor number) and nothing else. Returns the pid; exec'ing keeps it, so it is the
    /// pid of the program itself.
    static func spawn(
        _ words: [String], descriptors: [Descriptor], cgroupProcs: [String], maxOpenFiles: Int, environment: [String: String]
    ) throws -> pid_t {
        let all = ["/bin/sh", "-c", Self.launcher, "launcher", cgroupProcs.joined(separator: "\n"), String(maxOpenFiles)] + words
        return try Self.spawnDirectly(all, descriptors: descriptors, environment: environment)
    }

    /// Spawns `words` itself (the first is the program's path), without the launcher: for the agent's own helpers
    /// (a network namespace's holder and slirp4netns), which join no session's cgroups when they start. The same
    /// process group, signal and descriptor rules as `spawn`.
    static func spawnDirectly(_ words: [String], descriptors: [Descriptor], environment: [String: String]) throws -> pid_t {
        guard let program = words.first else { throw Failure(description: "posix_spawn: no program") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Inherited pipe ends are first moved above the range the child's numbers use and above every one of them,
        // so a dup2 does not overwrite one still to be placed (an agent with many sessions has descriptors past 100).
        let inherited = descriptors.compactMap { descriptor -> Int32? in
            if case .inherit(let fd) = descriptor { return fd }
            return nil
        }
        let high = max(100, (inherited.max() ?? 0) + 1)
        for (index, descriptor) in descriptors.enumerated() {
            if case .inherit(let fd) = descriptor { posix_spawn_file_actions_adddup2(&actions, fd, high + Int32(index)) }
        }
        for (index, descriptor) in descriptors.enumerated() {
            let fd = Int32(index)
            switch descriptor {
            case .null: posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0)
            case .append(let path): posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            case .truncate(let path): posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            case .read(let path): posix_spawn_file_actions_addopen(&actions, fd, path, O_RDONLY, 0)
            case .inherit: posix_spawn_file_actions_adddup2(&actions, high + fd, fd)
            case .same(let other): posix_spawn_file_actions_adddup2(&actions, other, fd)
            }
        }
        Self.closeFrom(Int32(descriptors.count), copiesAt: high, in: &actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group, default signal handlers and an empty mask: the daemon ignores SIGTERM/SIGINT for its
        // own handling, which children must not inherit.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)

        let argv = words.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, program, &actions, &attributes, argv, envp)
        guard result == 0 else { throw Failure(description: "posix_spawn failed: \(String(cString: strerror(result)))") }
        return pid
    }

    /// The child gets none of the daemon's other descriptors (database and Redis sockets, listeners, files).
    private static func closeFrom(_ lowest: Int32, copiesAt high: Int32 = 100, in actions: inout posix_spawn_file_actions_t) {
        if cproc_spawn_closefrom(&actions, lowest) == 0 { return }
        // An older libc: close what is open now, one by one, and the copies of inherited pipe ends made above the
        // child's range.
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap(Int32.init) where fd >= lowest { posix_spawn_file_actions_addclose(&actions, fd) }
        for fd in high..<(high + lowest) { posix_spawn_file_actions_addclose(&actions, fd) }
    }

    /// Runs a short command to its end (for checks at start), with its output (at most 64 KiB). Blocking.
    static func runQuietly(_ words: [String], timeout: Duration = .seconds(30)) -> (status: Int32, output: String) {
        guard let program = words.first else { return (-1, "") }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("manager-check-\(UUID().uuidString)").path
        defer { unlink(output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        Self.closeFrom(3, in: &actions)
        let argv = words.map { strdup($0) } + [nil]
        let envp = [strdup("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, program, &actions, nil, argv, envp)
        guard result == 0 else { return (-1, "cannot run \(program): \(String(cString: strerror(result)))") }
        let deadline = ContinuousClock.now + timeout
        var code: Int?
        while code == nil {
            code = Self.reap(child: pid)
            if code == nil {
                guard ContinuousClock.now < deadline else {
                    kill(pid, SIGKILL)
                    _ = Self.reapBlocking(pid)
                    return (-1, "\(program) did not finish within \(timeout)")
                }
                usleep(5_000)
            }
        }
        let data = FileManager.default.contents(atPath: output) ?? Data()
        return (Int32(code ?? -1), String(decoding: data.prefix(1 << 16), as: UTF8.self))
    }

    /// The exit code of a child that has ended (128 + signal when killed), or nil while it runs. Never blocks.
    static func reap(child pid: pid_t) -> Int? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == 0 { return nil }
        if result < 0 { return -1 }  // Not our child any more (should not happen): unknown.
        let signal = status & 0x7f
        return signal == 0 ? Int((status >> 8) & 0xff) : 128 + Int(signal)
    }

    /// Waits (up to about two seconds) for a child that was just killed.
    @discardableResult
    static func reapBlocking(_ pid: pid_t) -> Int? {
        for _ in 0..<200 {
            if let code = Self.reap(child: pid) { return code }
            usleep(10_000)
        }
        return nil
    }

    /// Whether a process that is not our child (adopted after a restart) still exists.
    static func exists(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// Signals the whole process group.
    static func signalGroup(_ pid: pid_t, _ signal: Int32) {
        if kill(-pid, signal) != 0 { kill(pid, signal) }
    }
}
