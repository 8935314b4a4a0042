import Foundation
import Logging
@testable import ManagerCore

/// A fresh database on the test server, for one test.
struct TestDatabase {
    let name: String
    /// conninfo for the new database.
    let conninfo: String
    let environment: TestEnvironment

    static let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }()

    /// Creates an empty database; with `migrated`, applies Migrations/ too.
    static func create(_ environment: TestEnvironment, migrated: Bool = true) async throws -> TestDatabase {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let admin = PostgresPool(configuration: .init(conninfo: environment.postgresAdmin, maxConnections: 1), logger: Self.logger)
        // CREATE DATABASE takes no parameters; the name is generated above from hex digits only.
        try await admin.withConnection { try await $0.executeScript(SQL(unsafeText: "CREATE DATABASE \(name)")) }
        await admin.close()
        let database = TestDatabase(name: name, conninfo: environment.postgresAdmin.replacingDatabase(with: name), environment: environment)
        if migrated {
            let pool = database.makePool()
            try await MigrationRunner(pool: pool, directory: Self.migrationsDirectory, logger: Self.logger).migrate()
            await pool.close()
        }
        return database
    }

    static var migrationsDirectory: URL { TestEnvironment.repositoryRoot.appendingPathComponent("Migrations") }

    func makePool(maxConnections: Int = 4) -> PostgresPool {
        PostgresPool(configuration: .init(conninfo: self.conninfo, maxConnections: maxConnections), logger: Self.logger)
    }

    /// Runs `body` with a pool on this database and closes it afterwards.
    func withPool<T: Sendable>(maxConnections: Int = 4, _ body: (PostgresPool) async throws -> T) async throws -> T {
        let pool = self.makePool(maxConnections: maxConnections)
        do {
            let value = try await body(pool)
            await pool.close()
            return value
        } catch {
            await pool.close()
            throw error
        }
    }
}

extension String {
    /// `host=… dbname=postgres` → `host=… dbname=<name>`.
    func replacingDatabase(with name: String) -> String {
        let parts = self.split(separator: " ").filter { !$0.hasPrefix("dbname=") }
        return (parts + ["dbname=\(name)"]).joined(separator: " ")
    }
}
