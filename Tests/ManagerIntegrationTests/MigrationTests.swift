import Foundation
import SchedulerKit
import Testing
@testable import ManagerCore

@Suite struct MigrationTests {
    @Test("migrating twice applies each file once and records its checksum")
    func idempotent() async throws {
        let database = try await TestDatabase.create(try TestEnvironment.current(), migrated: false)
        try await database.withPool { pool in
            let runner = MigrationRunner(pool: pool, directory: TestDatabase.migrationsDirectory, logger: TestDatabase.logger)
            let files = try runner.migrations()
            #expect(try await runner.migrate().count == files.count)
            #expect(try await runner.migrate().isEmpty)
            #expect(try await runner.status().pending.isEmpty)
            let recorded = try await pool.query("SELECT version, checksum FROM schema_migrations ORDER BY version")
            #expect(try recorded.map { try $0.decode("checksum", as: String.self) } == files.map(\.checksum))
            // The core schema is there, with its default rows.
            let group = try await pool.query("SELECT name FROM scaling_groups").first?.decode("name", as: String.self)
            #expect(group == "default")
        }
    }

    @Test("the schema agrees with the lifecycle: a new row starts in SessionLifecycle.initial; every status is allowed")
    func schemaMatchesLifecycle() async throws {
        let database = try await TestDatabase.create(try TestEnvironment.current())
        try await database.withPool { pool in
            let initial = try await pool.query(
                """
                SELECT column_default FROM information_schema.columns WHERE table_name = 'sessions' AND column_name = 'status'
                """
            ).first?.decode("column_default", as: String.self)
            #expect(initial == "'\(SessionLifecycle.initial.rawValue)'::text")
            let check = try await pool.query(
                """
                SELECT pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
                WHERE c.conrelid = 'sessions'::regclass AND c.contype = 'c' AND pg_get_constraintdef(c.oid) LIKE '%PENDING%'
                """
            ).first?.decode("def", as: String.self) ?? ""
            for status in SessionStatus.allCases { #expect(check.contains("'\(status.rawValue)'"), "\(status) missing from the CHECK") }
        }
    }

    @Test("two runners starting at once apply everything exactly once")
    func concurrentRunners() async throws {
        let database = try await TestDatabase.create(try TestEnvironment.current(), migrated: false)
        try await database.withPool(maxConnections: 4) { pool in
            let runner = MigrationRunner(pool: pool, directory: TestDatabase.migrationsDirectory, logger: TestDatabase.logger)
            async let first = runner.migrate()
            async let second = runner.migrate()
            let applied = try await first.count + second.count
            #expect(applied == (try runner.migrations().count))
        }
    }

    @Test("an applied file that was edited is refused, naming the file")
    func editedFileRefused() async throws {
        let environment = try TestEnvironment.current()
        let database = try await TestDatabase.create(environment, migrated: false)
        let folder = try environment.scratchDirectory("migrations")
        try "CREATE TABLE a (id int);".write(to: folder.appendingPathComponent("0001_create_a.sql"), atomically: true, encoding: .utf8)
        try await database.withPool { pool in
            let runner = MigrationRunner(pool: pool, directory: folder, logger: TestDatabase.logger)
            try await runner.migrate()
            try "CREATE TABLE a (id bigint);".write(to: folder.appendingPathComponent("0001_create_a.sql"), atomically: true, encoding: .utf8)
            await #expect { try await runner.migrate() } throws: { "\($0)".contains("0001_create_a.sql was edited") }
            await #expect { try await runner.status() } throws: { "\($0)".contains("was edited") }
        }
    }

    @Test("a failing migration leaves nothing behind and names itself")
    func failingMigrationRollsBack() async throws {
        let environment = try TestEnvironment.current()
        let database = try await TestDatabase.create(environment, migrated: false)
        let folder = try environment.scratchDirectory("migrations")
        try "CREATE TABLE b (id int); SELECT no_such_function();".write(
            to: folder.appendingPathComponent("0001_create_b.sql"), atomically: true, encoding: .utf8)
        try await database.withPool { pool in
            let runner = MigrationRunner(pool: pool, directory: folder, logger: TestDatabase.logger)
            await #expect { try await runner.migrate() } throws: { "\($0)".contains("0001_create_b.sql failed") }
            let exists = try await pool.query("SELECT to_regclass('b') IS NOT NULL AS present").first?.decode("present", as: Bool.self)
            #expect(exists == false)
            #expect(try await runner.status().pending.count == 1)
        }
    }

    @Test("manager serve refuses an outdated schema and says to run manager migrate")
    func serveRefusesOutdatedSchema() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment, start: false, migrate: false)
        let result = try await manager.command(["serve"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("run `manager migrate`"))
        #expect(result.stderr.contains("0001_create_core_schema.sql"))
    }
}
