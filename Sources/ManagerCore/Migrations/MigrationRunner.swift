import Crypto
import Foundation
import Logging

/// Applies `Migrations/NNNN_name.sql` in order, each in its own transaction, recorded with a SHA-256 checksum.
///
/// Forward-only. Two replicas starting at once serialize on an advisory lock. An applied file whose checksum
/// changed, or an applied version this build does not have, stops everything with a message naming the file.
public struct MigrationRunner: Sendable {
    /// One migration file.
    public struct Migration: Sendable, Hashable {
        /// The number in front of the name.
        public let version: Int
        /// The file name, such as `0001_create_core_schema.sql`.
        public let fileName: String
        /// The SQL text.
        let text: String
        /// Hex SHA-256 of the file's bytes.
        public let checksum: String
    }

    /// Why migrating (or starting) cannot go on.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Where the schema stands against the files.
    public struct Status: Sendable {
        /// Files not applied yet, in order.
        public let pending: [Migration]
        /// Applied versions that this build has no file for (the database is newer than the code).
        public let unknown: [Int]
    }

    private static let lockKey = 7_420_230_615
    let pool: PostgresPool
    let directory: URL
    let logger: Logger

    public init(pool: PostgresPool, directory: URL, logger: Logger) {
        self.pool = pool
        self.directory = directory
        self.logger = logger
    }

    /// Reads and orders the migration files; a misnamed `.sql` file or a repeated number is an error.
    public func migrations() throws -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: self.directory.path)
        } catch {
            throw Failure(description: "cannot read the migrations folder \(self.directory.path): \(error.localizedDescription)")
        }
        var result: [Migration] = []
        for name in names where name.hasSuffix(".sql") {
            let prefix = name.prefix { $0.isNumber }
            guard prefix.count == 4, let version = Int(prefix), name.dropFirst(4).first == "_" else {
                throw Failure(description: "migration file \(name) is not named NNNN_verb_object.sql")
            }
            let data = try Data(contentsOf: self.directory.appendingPathComponent(name))
            let checksum = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
            result.append(Migration(version: version, fileName: name, text: String(decoding: data, as: UTF8.self), checksum: checksum))
        }
        result.sort { $0.version < $1.version }
        for (first, second) in zip(result, result.dropFirst()) where first.version == second.version {
            throw Failure(description: "migrations \(first.fileName) and \(second.fileName) share the number \(first.version)")
        }
        return result
    }

    /// Compares the database with the files without changing anything.
    public func status() async throws -> Status {
        let files = try self.migrations()
        let applied = try await self.pool.withConnection { session in
            try await Self.ensureTable(session)
            return try await Self.applied(session)
        }
        return try Self.compare(files: files, applied: applied)
    }

    /// Applies every pending migration; returns the ones it applied.
    @discardableResult
    public func migrate() async throws -> [Migration] {
        let files = try self.migrations()
        return try await self.pool.withConnection { session in
            try await session.execute("SELECT pg_advisory_lock(\(Self.lockKey))")
            do {
                try await Self.ensureTable(session)
                let status = try Self.compare(files: files, applied: try await Self.applied(session))
                for migration in status.pending {
                    self.logger.info("applying migration", metadata: ["file": "\(migration.fileName)"])
                    try await session.execute("BEGIN")
                    do {
                        try await session.executeScript(SQL(unsafeText: migration.text))
                        try await session.execute(
                            """
                            INSERT INTO schema_migrations (version, name, checksum)
                            VALUES (\(migration.version), \(migration.fileName), \(migration.checksum))
                            """)
                        try await session.execute("COMMIT")
                    } catch {
                        _ = try? await session.execute("ROLLBACK")
                        throw Failure(description: "migration \(migration.fileName) failed: \(error)")
                    }
                }
                try await session.execute("SELECT pg_advisory_unlock(\(Self.lockKey))")
                return status.pending
            } catch {
                _ = try? await session.execute("SELECT pg_advisory_unlock(\(Self.lockKey))")
                throw error
            }
        }
    }

    private static func ensureTable(_ session: PostgresSession) async throws {
        try await session.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
    }

    private static func applied(_ session: PostgresSession) async throws -> [Int: (name: String, checksum: String)] {
        var applied: [Int: (name: String, checksum: String)] = [:]
        for row in try await session.query("SELECT version, name, checksum FROM schema_migrations") {
            applied[try row.decode("version")] = (try row.decode("name"), try row.decode("checksum"))
        }
        return applied
    }

    private static func compare(files: [Migration], applied: [Int: (name: String, checksum: String)]) throws -> Status {
        for file in files {
            if let record = applied[file.version], record.checksum != file.checksum {
                throw Failure(
                    description:
                        "migration \(file.fileName) was edited after it was applied (checksum \(record.checksum.prefix(12))… "
                        + "in the database, \(file.checksum.prefix(12))… on disk); migrations are forward-only: "
                        + "restore the file and add a new migration")
            }
        }
        let known = Set(files.map(\.version))
        let unknown = applied.keys.filter { !known.contains($0) }.sorted()
        return Status(pending: files.filter { applied[$0.version] == nil }, unknown: unknown)
    }
}
