import Foundation

/// Starts a session's command as a host process in its own process group, and signals and reaps it.
/// Uses `posix_spawn` directly: Foundation's `Process` does not let us set the process group and signal defaults.
enum ProcessLauncher {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The wrapper changes into the working folder, runs the command with `/bin/sh -c`, and writes its exit code
    /// where a restarted agent can read it even though it is no longer the parent.
    static let wrapper = #"""
        cd "$1" || exit 126
        /bin/sh -c "$2"
        code=$?
        printf '%s' "$code" > "$3.tmp" && mv "$3.tmp" "$3"
        exit $code
        """#

    static func spawn(command: String, workspace: SessionWorkspace, environment: [String: String]) throws -> pid_t {
        try workspace.create()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, workspace.logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group (so a stop reaches every child), default signal handlers and an empty mask: the
        // daemon ignores SIGTERM/SIGINT for its own handling, which children must not inherit.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)

        let words = ["/bin/sh", "-c", Self.wrapper, "session-wrapper", workspace.workDir.path, command, workspace.exitCodePath]
        let argv = words.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv, envp)
        guard result == 0 else { throw Failure(description: "posix_spawn failed: \(String(cString: strerror(result)))") }
        return pid
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

    /// Whether a process that is not our child (adopted after a restart) still exists.
    static func exists(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// Signals the whole process group.
    static func signalGroup(_ pid: pid_t, _ signal: Int32) {
        if kill(-pid, signal) != 0 { kill(pid, signal) }
    }
}
