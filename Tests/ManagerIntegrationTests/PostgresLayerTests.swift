import Foundation
import Logging
import Testing
@testable import ManagerCore

@Suite struct PostgresLayerTests {
    struct Boom: Error {}

    @Test("values round-trip through bound parameters with their types")
    func typedRoundTrip() async throws {
        let database = try await TestDatabase.create(try TestEnvironment.current(), migrated: false)
        try await database.withPool { pool in
            let id = UUID()
            let when = Date(timeIntervalSince1970: 1_714_566_896.812325)
            let nothing: String? = nil
            let row = try #require(try await pool.query(
                """
                SELECT \(id)::uuid AS id, \("it's; DROP TABLE x --")::text AS name, \(42)::int8 AS n, \(true)::bool AS flag,
                       \(when)::timestamptz AS at, \(JSONB(text: #"{"a": [1, 2]}"#))::jsonb AS doc,
                       \(["a", "b c", "d\"e", "f,g"])::text[] AS list, \(nothing)::text AS missing,
                       \(UUIDArray([id, id]))::uuid[] AS ids
                """).first)
            #expect(try row.decode("id", as: UUID.self) == id)
            #expect(try row.decode("name", as: String.self) == "it's; DROP TABLE x --")
            #expect(try row.decode("n", as: Int.self) == 42)
            #expect(try row.decode("flag", as: Bool.self))
            #expect(abs(try row.decode("at", as: Date.self).timeIntervalSince(when)) < 0.000_002)
            #expect(try row.decode("doc", as: JSONB.self).decode([String: [Int]].self) == ["a": [1, 2]])
            #expect(try row.decode("list", as: [String].self) == ["a", "b c", "d\"e", "f,g"])
            #expect(try row.decodeOptional("missing", as: String.self) == nil)
            #expect(throws: PostgresError.self) { try row.decode("missing", as: String.self) }
            #expect(try row.decode("ids", as: UUIDArray.self).values == [id, id])

            // Text arrays element by element, as the server sees them and back: quotes, backslashes, separators,
            // braces, empty strings, the word NULL, multi-byte characters.
            let tricky = ["", "\\", "\\\"", "a\\b\"c", "{x,y}", "NULL", "é, 日本語 🚀", " padded ", "line\nbreak"]
            let elements = try await pool.query("SELECT e, ord FROM unnest(\(tricky)::text[]) WITH ORDINALITY AS u(e, ord) ORDER BY ord")
            #expect(try elements.map { try $0.decode("e", as: String.self) } == tricky)
            let back = try #require(try await pool.query("SELECT \(tricky)::text[] AS list, '{}'::text[] AS none").first)
            #expect(try back.decode("list", as: [String].self) == tricky)
            #expect(try back.decode("none", as: [String].self) == [])
        }
    }

    @Test("UUID text is written and read as Foundation does, without its formatted I/O")
    func uuidText() {
        for _ in 0..<1000 {
            let id = UUID()
            #expect(UUIDText.lowercase(id) == id.uuidString.lowercased())
            #expect(UUIDText.parse(id.uuidString) == id && UUIDText.parse(id.uuidString.lowercased()) == id)
        }
        let valid = UUID().uuidString
        let prefix35 = String(valid.prefix(35))
        var bad: [String] = ["", String(valid.dropLast()), valid + "0", valid.replacingOccurrences(of: "-", with: "_")]
        bad += [prefix35 + "g", "-" + String(valid.dropFirst()), prefix35 + "\u{0}", String(valid.prefix(34)) + "é"]
        bad += ["{" + valid + "}", String(repeating: "0", count: 36)]
        for text in bad { #expect(UUIDText.parse(text) == nil, "\(text)") }
        // Foundation's sscanf reads a leading "-8" as the byte F8; only the canonical form is a UUID here.
        #expect(UUIDText.parse("-" + String(valid.dropFirst())) == nil && UUID(uuidString: "-" + String(valid.dropFirst())) != nil)
    }

    @Test("a statement's text never contains the bound values")
    func bindingsStayOutOfText() {
        let evil = "x'); DROP TABLE sessions; --"
        let sql: SQL = "SELECT * FROM sessions WHERE name = \(evil) AND id = \(secret: "s3cr3t")"
        let (text, bindings) = sql.render()
        #expect(text == "SELECT * FROM sessions WHERE name = $1 AND id = $2")
        #expect(bindings.map(\.text) == [evil, "s3cr3t"])
        #expect(!sql.description.contains("s3cr3t"))
        #expect(sql.description.contains("<redacted>"))
    }

    @Test("a transaction rolls back when its body throws")
    func rollbackOnThrow() async throws {
        let database = try await TestDatabase.create(try TestEnvironment.current(), migrated: false)
        try await database.withPool { pool in
            try await pool.query("CREATE TABLE t (v int)")
            await #expect(throws: Boom.self) {
                try await pool.withTransaction { tx in
                    try await tx.execute("INSERT INTO t VALUES (\(Int32(1)))")
                    throw Boom()
                }
            }
            let count = try await pool.query("SELECT count(*) AS n FROM t").first?.decode("n", as: Int.self)
            #expect(count == 0)
            try await pool.withTransaction { tx in try await tx.execute("INSERT INTO t VALUES (\(Int32(2)))") }
            #expect(try await pool.query("SELECT count(*) AS n FROM t").first?.decode("n", as: Int.self) == 1)
        }
    }

    @Test("SQLSTATEs map to typed errors")
    func sqlStates() async throws {
        let database = try await TestDatabase.create(try TestEnvironment.current(), migrated: false)
        try await database.withPool { pool in
            try await pool.query("CREATE TABLE p (id int PRIMARY KEY)")
            try await pool.query("CREATE TABLE c (p int REFERENCES p (id))")
            try await pool.query("INSERT INTO p VALUES (1)")
            await #expect { try await pool.query("INSERT INTO p VALUES (1)") } throws: {
                ($0 as? PostgresError)?.code == .uniqueViolation && ($0 as? PostgresError)?.constraint == "p_pkey"
            }
            await #expect { try await pool.query("INSERT INTO c VALUES (2)") } throws: {
                ($0 as? PostgresError)?.code == .foreignKeyViolation
            }
            await #expect { try await pool.query("SELECT \("nope")::uuid") } throws: {
                ($0 as? PostgresError)?.code == .invalidText
            }
            // The pool is still usable after errors.
            #expect(try await pool.query("SELECT 1 AS one").first?.decode("one", as: Int.self) == 1)
        }
    }

    @Test("serialization failures are retried until the transaction commits")
    func serializationRetry() async throws {
        let database = try await TestDatabase.create(try TestEnvironment.current(), migrated: false)
        try await database.withPool(maxConnections: 8) { pool in
            try await pool.query("CREATE TABLE counter (id int PRIMARY KEY, v int NOT NULL)")
            try await pool.query("INSERT INTO counter VALUES (1, 0)")
            let attempts = AttemptCounter()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        try await pool.withTransaction(isolation: .serializable, maxAttempts: 50) { tx in
                            await attempts.increment()
                            let value = try #require(try await tx.query("SELECT v FROM counter WHERE id = 1").first)
                                .decode("v", as: Int.self)
                            // Long enough that the six transactions overlap and most must be retried.
                            try await Task.sleep(for: .milliseconds(150))
                            try await tx.execute("UPDATE counter SET v = \(value + 1) WHERE id = 1")
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Every increment landed although they raced: the losers were re-run.
            #expect(try await pool.query("SELECT v FROM counter").first?.decode("v", as: Int.self) == 6)
            #expect(await attempts.value > 6)
        }
    }

    @Test("the pool is bounded and a waiting caller gets a connection when one is returned")
    func boundedPool() async throws {
        let database = try await TestDatabase.create(try TestEnvironment.current(), migrated: false)
        let pool = PostgresPool(
            configuration: .init(conninfo: database.conninfo, maxConnections: 2, acquireTimeout: .milliseconds(300)),
            logger: TestDatabase.logger)
        let patient = PostgresPool(
            configuration: .init(conninfo: database.conninfo, maxConnections: 2, acquireTimeout: .seconds(30)),
            logger: TestDatabase.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask { _ = try await pool.withConnection { try await $0.query("SELECT pg_sleep(5)") } }
            }
            // Wait until both connections are really lent out.
            while await pool.usage().inUse < 2 { try await Task.sleep(for: .milliseconds(10)) }
            await #expect { try await pool.query("SELECT 1") } throws: { ($0 as? PostgresError)?.code == .poolTimeout }
            try await group.waitForAll()
        }
        // A caller that waits longer is served as soon as a connection comes back.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask { _ = try await patient.withConnection { try await $0.query("SELECT pg_sleep(0.3)") } }
            }
            while await patient.usage().inUse < 2 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(try await patient.query("SELECT 1 AS one").first?.decode("one", as: Int.self) == 1)
            try await group.waitForAll()
        }
        await patient.close()
        let usage = await pool.usage()
        #expect(usage.inUse == 0 && usage.idle == 2)
        await pool.close()
    }

    @Test("the pool recovers by itself after PostgreSQL restarts")
    func survivesRestart() async throws {
        let environment = try TestEnvironment.current()
        let server = try await PrivatePostgres.start(environment)
        let pool = PostgresPool(
            configuration: .init(conninfo: server.conninfo, maxConnections: 3, acquireTimeout: .seconds(1)),
            logger: TestDatabase.logger)
        // Open several connections so idle ones go stale across the restart.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 { group.addTask { try await pool.query("SELECT pg_sleep(0.05)") } }
            try await group.waitForAll()
        }
        try await server.stop()
        await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        try await server.start()
        // No manual reset: the next calls work.
        for _ in 0..<5 {
            #expect(try await pool.query("SELECT 1 AS one").first?.decode("one", as: Int.self) == 1)
        }
        let value = try await pool.withTransaction { tx in
            try #require(try await tx.query("SELECT 2 AS two").first).decode("two", as: Int.self)
        }
        #expect(value == 2)
        await pool.close()
        try await server.stop()
    }

    @Test("NOTIFY reaches a LISTEN connection")
    func notifyArrives() async throws {
        let database = try await TestDatabase.create(try TestEnvironment.current(), migrated: false)
        let listener = PostgresListener(conninfo: database.conninfo, channels: ["wakeups"], logger: TestDatabase.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await listener.run() }
            try await database.withPool { pool in
                // Keep notifying until the listener is up, then expect our payload.
                var received: PostgresNotification?
                var iterator = listener.events.makeAsyncIterator()
                try await withThrowingTaskGroup(of: Void.self) { senders in
                    senders.addTask {
                        for index in 0..<200 {
                            try await pool.query("SELECT pg_notify(\("wakeups"), \("hello-\(index)"))")
                            try await Task.sleep(for: .milliseconds(25))
                        }
                    }
                    while let event = await iterator.next() {
                        if case .notification(let notification) = event {
                            received = notification
                            break
                        }
                    }
                    senders.cancelAll()
                }
                #expect(received?.channel == "wakeups")
                #expect(received?.payload.hasPrefix("hello-") == true)
            }
            listener.stop()
            try await group.waitForAll()
        }
    }
}

actor AttemptCounter {
    var value = 0
    func increment() { self.value += 1 }
}
