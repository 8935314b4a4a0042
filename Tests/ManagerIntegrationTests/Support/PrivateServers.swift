import Foundation

/// A PostgreSQL server of the test's own, for tests that stop and restart it.
struct PrivatePostgres {
    let environment: TestEnvironment
    let directory: URL
    let port: Int
    var conninfo: String { "host=127.0.0.1 port=\(self.port) user=postgres dbname=postgres connect_timeout=2" }

    static func start(_ environment: TestEnvironment) async throws -> PrivatePostgres {
        let directory = try environment.scratchDirectory("pg")
        let server = PrivatePostgres(environment: environment, directory: directory, port: try freePort())
        if getuid() == 0 {
            _ = try await runProcess("/bin/chown", ["postgres:postgres", directory.path])
        }
        let initdb = try await server.asOwner(
            "\(environment.postgresBin)/initdb", ["-D", directory.appendingPathComponent("data").path, "-U", "postgres",
                                                   "--auth=trust", "--no-sync"])
        guard initdb.status == 0 else { throw TestEnvironment.Missing(description: "initdb failed: \(initdb.stderr)") }
        try await server.start()
        return server
    }

    private func asOwner(_ executable: String, _ arguments: [String]) async throws -> ProcessResult {
        if getuid() == 0 {
            return try await runProcess("/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments)
        }
        return try await runProcess(executable, arguments)
    }

    func start() async throws {
        let result = try await self.asOwner(
            "\(self.environment.postgresBin)/pg_ctl",
            ["-D", self.directory.appendingPathComponent("data").path, "-l", self.directory.appendingPathComponent("log").path,
             "-w", "-t", "30", "start", "-o", "-p \(self.port) -k \(self.directory.path) -c listen_addresses=127.0.0.1 -c fsync=off"])
        guard result.status == 0 else { throw TestEnvironment.Missing(description: "pg_ctl start failed: \(result.stderr)") }
    }

    func stop() async throws {
        _ = try await self.asOwner(
            "\(self.environment.postgresBin)/pg_ctl",
            ["-D", self.directory.appendingPathComponent("data").path, "-m", "fast", "-w", "stop"])
    }
}

/// A Redis server of the test's own, for tests that stop and restart it.
struct PrivateRedis {
    let directory: URL
    let port: Int

    static func start(_ environment: TestEnvironment) async throws -> PrivateRedis {
        let server = PrivateRedis(directory: try environment.scratchDirectory("redis"), port: try freePort())
        try await server.start()
        return server
    }

    func start() async throws {
        let result = try await runProcess(
            "/usr/bin/redis-server",
            ["--port", "\(self.port)", "--bind", "127.0.0.1", "--daemonize", "yes", "--save", "", "--appendonly", "no",
             "--dir", self.directory.path, "--pidfile", self.directory.appendingPathComponent("redis.pid").path,
             "--logfile", self.directory.appendingPathComponent("redis.log").path])
        guard result.status == 0 else { throw TestEnvironment.Missing(description: "redis-server failed: \(result.stderr)") }
        for _ in 0..<100 {
            let ping = try await runProcess("/usr/bin/redis-cli", ["-p", "\(self.port)", "ping"])
            if ping.stdout.contains("PONG") { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestEnvironment.Missing(description: "redis did not start")
    }

    func stop() async throws {
        _ = try await runProcess("/usr/bin/redis-cli", ["-p", "\(self.port)", "shutdown", "nosave"])
        for _ in 0..<100 {
            let ping = try await runProcess("/usr/bin/redis-cli", ["-p", "\(self.port)", "ping"])
            if !ping.stdout.contains("PONG") { return }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
