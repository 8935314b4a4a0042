import Foundation

/// What the test command (scripts/test.sh) provides: real PostgreSQL and Redis servers, the official client.
/// A missing variable fails the test with a message; nothing is skipped.
struct TestEnvironment {
    /// libpq conninfo of a superuser connection to the test server (databases are created per test).
    let postgresAdmin: String
    let redisHost: String
    let redisPort: Int
    /// `backend.ai` from a virtualenv with backend.ai-client 23.9.10.
    let clientExecutable: String
    /// PostgreSQL's bin folder, for tests that run a server of their own.
    let postgresBin: String
    /// A scratch folder removed after the run.
    let workDirectory: URL

    /// schemathesis's `st` (scripts/test.sh installs it in a virtualenv of its own).
    var schemathesisExecutable: String {
        get throws {
            guard let path = ProcessInfo.processInfo.environment["MANAGER_TEST_SCHEMATHESIS"], !path.isEmpty else {
                throw Missing(description: "MANAGER_TEST_SCHEMATHESIS is not set: run the tests with scripts/test.sh")
            }
            return path
        }
    }

    /// Python with selenium, for the web view's browser tests (scripts/test.sh installs it in a virtualenv of its own).
    var browserPython: String {
        get throws {
            guard let path = ProcessInfo.processInfo.environment["MANAGER_TEST_BROWSER_PYTHON"], !path.isEmpty else {
                throw Missing(description: "MANAGER_TEST_BROWSER_PYTHON is not set: run the tests with scripts/test.sh")
            }
            return path
        }
    }

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static func current() throws -> TestEnvironment {
        let env = ProcessInfo.processInfo.environment
        func value(_ name: String) throws -> String {
            guard let value = env[name], !value.isEmpty else {
                throw Missing(description: "\(name) is not set: run the tests with scripts/test.sh")
            }
            return value
        }
        let redis = try value("MANAGER_TEST_REDIS").split(separator: ":")
        guard redis.count == 2, let port = Int(redis[1]) else { throw Missing(description: "MANAGER_TEST_REDIS must be host:port") }
        return TestEnvironment(
            postgresAdmin: try value("MANAGER_TEST_PG"), redisHost: String(redis[0]), redisPort: port,
            clientExecutable: try value("MANAGER_TEST_CLIENT"), postgresBin: try value("MANAGER_TEST_PG_BIN"),
            workDirectory: URL(fileURLWithPath: try value("MANAGER_TEST_WORK")))
    }

    /// The repository root (where Package.swift is).
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `manager` binary built by `swift build` before `swift test`.
    static var managerExecutable: String {
        let env = ProcessInfo.processInfo.environment
        return env["MANAGER_TEST_BIN"] ?? repositoryRoot.appendingPathComponent(".build/debug/manager").path
    }

    /// A fresh scratch folder for one test.
    func scratchDirectory(_ label: String) throws -> URL {
        let url = self.workDirectory.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Finds a free TCP port on loopback.
func freePort() throws -> Int {
    try bindablePort(0)
}

/// A free port below the kernel's ephemeral range (32768–60999 here), for a server that must restart on the same
/// port: an ephemeral port can be taken meanwhile as the source port of some outgoing connection.
func stablePort() throws -> Int {
    for _ in 0..<200 {
        if let port = try? bindablePort(Int.random(in: 20_000..<32_000)) { return port }
    }
    throw TestEnvironment.Missing(description: "no free port below the ephemeral range")
}

/// Binds `port` on loopback (0: any) and returns the port bound.
func bindablePort(_ port: Int) throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    guard bound == 0 else { throw TestEnvironment.Missing(description: "cannot bind a port") }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
