import Foundation

/// The outcome of a finished child process.
struct ProcessResult: Sendable {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs a command to completion with `posix_spawn` and polls `waitpid`, so a cooperative thread is never
/// blocked. Foundation's `Process` is not used here: it waits for an inherited socket to close, which never
/// happens when the command leaves a daemon behind (`pg_ctl start`, `redis-server --daemonize`).
/// Output goes through files, so a chatty command cannot fill a pipe and hang.
func runProcess(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
    currentDirectory: URL? = nil, timeout: Duration = .seconds(120), stopAfterTimeout: Bool = false, input: String? = nil
) async throws -> ProcessResult {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("proc-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    let outPath = scratch.appendingPathComponent("out").path
    let errPath = scratch.appendingPathComponent("err").path
    var inPath = "/dev/null"
    if let input {
        inPath = scratch.appendingPathComponent("in").path
        try Data(input.utf8).write(to: URL(fileURLWithPath: inPath))
    }
    let pid = try spawn(
        executable, arguments, environment: environment ?? ProcessInfo.processInfo.environment,
        currentDirectory: currentDirectory, stdin: inPath, stdout: outPath, stderr: errPath)
    let deadline = ContinuousClock.now + timeout
    var status: Int32 = 0
    while true {
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid { break }
        if result < 0 { throw TestEnvironment.Missing(description: "waitpid failed for \(executable)") }
        if ContinuousClock.now > deadline {
            kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
            if stopAfterTimeout { break }
            throw TestEnvironment.Missing(description: "\(executable) \(arguments) timed out")
        }
        try await Task.sleep(for: .milliseconds(10))
    }
    let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return ProcessResult(
        status: exitStatus,
        stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
}

/// Starts a child with stdin from a file (/dev/null unless given) and stdout/stderr appended to files; returns its pid.
func spawn(
    _ executable: String, _ arguments: [String], environment: [String: String], currentDirectory: URL?,
    stdin: String = "/dev/null", stdout: String, stderr: String
) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    // glibc's addchdir is not visible from Swift: a shell changes directory, then execs the command.
    var program = executable
    var words = [executable] + arguments
    if let currentDirectory {
        program = "/bin/sh"
        words = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", currentDirectory.path, executable] + arguments
    }
    let argv = words.map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, program, &actions, nil, argv, envp)
    guard result == 0 else {
        throw TestEnvironment.Missing(description: "cannot start \(executable): errno \(result)")
    }
    return pid
}
