import Foundation
@testable import ManagerCore

/// A real `manager serve` process on its own port and database, with an admin keypair.
final class ManagerProcess: @unchecked Sendable {
    let environment: TestEnvironment
    let database: TestDatabase
    let port: Int
    let directory: URL
    let configPath: String
    let adminAccessKey: String
    let adminSecretKey: String
    private var pid: pid_t?
    var endpoint: String { "http://127.0.0.1:\(self.port)" }
    var logPath: String { self.directory.appendingPathComponent("manager.log").path }

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// The embedded process agent's slots; nil runs the manager without one (sessions stay PENDING).
    struct LocalAgent {
        var cpu = "4"
        var mem = "8g"
        /// nil: the daemon's default (derived from the host and port).
        var id: String? = "local"
    }

    /// The secret remote agents present in tests.
    static let agentSecret = "test-agent-secret"

    /// Writes a config (`serverConfig` goes into its [server] table), migrates, creates an admin keypair and (unless `start` is false) starts the daemon.
    init(
        _ environment: TestEnvironment, database: TestDatabase? = nil, redisPort: Int? = nil,
        extraConfig: String = "", serverConfig: String = "", localAgent: LocalAgent? = nil, heartbeatTimeout: String = "30s",
        start: Bool = true, migrate: Bool = true
    ) async throws {
        self.environment = environment
        if let database {
            self.database = database
        } else {
            self.database = try await TestDatabase.create(environment, migrated: false)
        }
        // Below the ephemeral range: an ephemeral port can be taken as the source port of some test's outgoing
        // connection between our check and the manager's bind (seen once: "Address already in use").
        self.port = try stablePort()
        self.directory = try environment.scratchDirectory("manager")
        self.configPath = self.directory.appendingPathComponent("manager.toml").path
        let config = """
            [server]
            host = "127.0.0.1"
            port = \(self.port)
            shutdown_grace = "5s"
            \(serverConfig)
            [database]
            url = "\(self.database.conninfo)"
            migrations_dir = "\(TestDatabase.migrationsDirectory.path)"
            [redis]
            host = "\(environment.redisHost)"
            port = \(redisPort ?? environment.redisPort)
            timeout = "500ms"
            [logging]
            level = "debug"
            [web]
            assets_dir = "\(TestEnvironment.repositoryRoot.appendingPathComponent("Web").path)"
            [agent]
            secret = "\(Self.agentSecret)"
            heartbeat_timeout = "\(heartbeatTimeout)"
            heartbeat_interval = "1s"
            [agent.local]
            enabled = \(localAgent != nil)
            \(localAgent.map { $0.id.map { "id = \"\($0)\"" } ?? "" } ?? "id = \"local\"")
            cpu = "\(localAgent?.cpu ?? "1")"
            mem = "\(localAgent?.mem ?? "1g")"
            stop_grace = "2s"
            work_dir = "\(self.directory.appendingPathComponent("agent").path)"
            \(extraConfig)
            """
        try config.write(toFile: self.configPath, atomically: true, encoding: .utf8)
        let configPath = self.configPath
        if migrate {
            let migrated = try await Self.run(["migrate"], configPath: configPath)
            guard migrated.status == 0 else { throw Failure(description: "migrate failed: \(migrated.stderr)") }
        }
        let created = try await Self.run(["keypair", "create", "--admin", "--user", "admin@example.com"], configPath: configPath)
        let keys = Self.parseKeys(created.stdout)
        guard migrate == false || (keys["access_key"] != nil && keys["secret_key"] != nil) else {
            throw Failure(description: "keypair create failed: \(created.stderr)")
        }
        self.adminAccessKey = keys["access_key"] ?? ""
        self.adminSecretKey = keys["secret_key"] ?? ""
        if start { try await self.start() }
    }

    static func parseKeys(_ text: String) -> [String: String] {
        var keys: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let pair = line.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { keys[String(pair[0])] = String(pair[1]) }
        }
        return keys
    }

    /// Runs `manager <arguments> --config <ours>` to completion.
    func command(_ arguments: [String]) async throws -> ProcessResult {
        try await Self.run(arguments, configPath: self.configPath)
    }

    static func run(_ arguments: [String], configPath: String) async throws -> ProcessResult {
        try await runProcess(
            TestEnvironment.managerExecutable, arguments + ["--config", configPath],
            environment: Self.cleanEnvironment(), currentDirectory: TestEnvironment.repositoryRoot)
    }

    /// Creates a normal (non-admin) keypair for `email`.
    func createUserKeypair(email: String) async throws -> (accessKey: String, secretKey: String) {
        let created = try await self.command(["keypair", "create", "--user", email])
        let keys = Self.parseKeys(created.stdout)
        guard let access = keys["access_key"], let secret = keys["secret_key"] else {
            throw Failure(description: "keypair create failed: \(created.stderr)")
        }
        return (access, secret)
    }

    static func cleanEnvironment() -> [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("MANAGER_") || $0.key.hasPrefix("MANAGER_TEST") }
    }

    /// Starts `manager serve` (with `extra` over its environment) and waits until it answers `GET /`.
    func start(environment extra: [String: String] = [:]) async throws {
        var environment = Self.cleanEnvironment()
        for (key, value) in extra { environment[key] = value }
        let pid = try spawn(
            TestEnvironment.managerExecutable, ["serve", "--config", self.configPath],
            environment: environment, currentDirectory: TestEnvironment.repositoryRoot,
            stdout: self.logPath, stderr: self.logPath)
        self.pid = pid
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let status = self.reap() {
                throw Failure(description: "manager exited (\(status)): \(self.log())")
            }
            if let response = try? await HTTP.get("\(self.endpoint)/"), response.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Failure(description: "manager did not start: \(self.log())")
    }

    /// Runs `manager serve` expecting it to stop by itself (a refusal at start), with its exit status and log.
    func runToExit(environment extra: [String: String] = [:], timeout: Duration = .seconds(30)) async throws -> (status: Int32, log: String) {
        var environment = Self.cleanEnvironment()
        for (key, value) in extra { environment[key] = value }
        let pid = try spawn(
            TestEnvironment.managerExecutable, ["serve", "--config", self.configPath],
            environment: environment, currentDirectory: TestEnvironment.repositoryRoot,
            stdout: self.logPath, stderr: self.logPath)
        self.pid = pid
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = self.reap() { return (status, self.log()) }
            try await Task.sleep(for: .milliseconds(50))
        }
        _ = try await self.stop(signal: SIGKILL)
        throw Failure(description: "manager did not stop by itself: \(self.log().suffix(3000))")
    }

    /// The exit status if the process has ended (and reaps it), else nil.
    private func reap() -> Int32? {
        guard let pid = self.pid else { return nil }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        self.pid = nil
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// The daemon's resident memory in MiB, from /proc (nil when it is not running).
    func residentMiB() -> Double? {
        guard let pid = self.pid, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return nil }
        return kilobytes / 1024
    }

    /// The daemon's pid while it runs.
    var processID: pid_t? { self.pid }

    /// True while the process runs (it has not exited).
    var isRunning: Bool { self.pid.map { kill($0, 0) == 0 } ?? false }

    func log() -> String {
        (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
    }

    /// Sends a signal and waits for the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(20)) async throws -> Int32 {
        guard let pid = self.pid else { return 0 }
        kill(pid, signal)
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = self.reap() { return status }
            guard ContinuousClock.now < deadline else {
                kill(pid, SIGKILL)
                throw Failure(description: "manager did not stop within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    deinit {
        if let pid { kill(pid, SIGKILL); var status: Int32 = 0; waitpid(pid, &status, 0) }
    }

    /// A client signing as the admin.
    var admin: SignedClient { SignedClient(endpoint: self.endpoint, accessKey: self.adminAccessKey, secretKey: self.adminSecretKey) }
}
