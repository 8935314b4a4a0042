import CPostgres
import Foundation

/// One libpq connection. Every method blocks the calling thread, so only the pool's own threads call them.
///
/// `@unchecked Sendable`: the pool lends a connection to one holder at a time, and the holder runs its calls
/// one after another on the pool's thread pool; the handle is never used by two threads at once.
final class PostgresConnection: @unchecked Sendable {
    nonisolated(unsafe) private let handle: OpaquePointer

    private init(handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        PQfinish(self.handle)
    }

    /// Opens a connection and sets the session parameters the decoders rely on (UTC, ISO dates).
    static func connect(conninfo: String, statementTimeout: Duration) throws -> PostgresConnection {
        guard let handle = PQconnectdb(conninfo) else {
            throw PostgresError(.connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(handle)
            throw PostgresError(.connectionFailed, message: message)
        }
        let connection = PostgresConnection(handle: handle)
        let millis = statementTimeout.components.seconds * 1000
            + statementTimeout.components.attoseconds / 1_000_000_000_000_000
        _ = try connection.execute(
            SQL(unsafeText: "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET client_min_messages = 'warning'; SET statement_timeout = \(millis)"),
            simpleProtocol: true)
        return connection
    }

    /// True when the server has not closed the connection while it sat idle.
    ///
    /// A restarted server closes its sockets; a zero-timeout poll sees that as readable, and
    /// `PQconsumeInput` then marks the connection bad. Costs one syscall.
    var isUsable: Bool {
        guard PQstatus(self.handle) == CONNECTION_OK else { return false }
        var descriptor = pollfd(fd: PQsocket(self.handle), events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, 0)
        if ready < 0 { return false }
        if ready > 0 {
            if PQconsumeInput(self.handle) == 0 { return false }
        }
        return PQstatus(self.handle) == CONNECTION_OK
    }

    /// A statement to run just before the next one (a transaction's BEGIN), so both share one trip to the pool's
    /// threads. Only the connection's current holder touches it.
    private(set) var deferred: SQL?

    /// Runs `sql` before the next statement, in the same call.
    func deferUntilNextStatement(_ sql: SQL) {
        self.deferred = sql
    }

    /// Drops a deferred statement that never ran; true when there was one.
    func cancelDeferred() -> Bool {
        defer { self.deferred = nil }
        return self.deferred != nil
    }

    /// Runs one statement with its bindings (`PQexecParams`), or a parameterless script with the simple protocol.
    func execute(_ sql: SQL, simpleProtocol: Bool = false) throws -> PostgresRows {
        if let deferred = self.deferred {
            self.deferred = nil
            _ = try self.run(deferred, simpleProtocol: false)
        }
        return try self.run(sql, simpleProtocol: simpleProtocol)
    }

    private func run(_ sql: SQL, simpleProtocol: Bool) throws -> PostgresRows {
        let (text, bindings) = sql.render()
        let result: OpaquePointer?
        if simpleProtocol {
            precondition(bindings.isEmpty, "the simple protocol takes no bindings")
            result = PQexec(self.handle, text)
        } else {
            let types = bindings.map { $0.oid }
            // libpq takes C strings: a NUL inside a value would silently cut it. Such a value is refused instead
            // (PostgreSQL's text and jsonb cannot hold U+0000 either).
            if bindings.contains(where: { $0.text?.utf8.contains(0) == true }) {
                throw PostgresError(.invalidText, message: "a text value contains a NUL character")
            }
            var cStrings: [UnsafeMutablePointer<CChar>?] = bindings.map { $0.text.map { strdup($0) } ?? nil }
            defer { cStrings.forEach { free($0) } }
            result = cStrings.withUnsafeMutableBufferPointer { values in
                types.withUnsafeBufferPointer { oids in
                    values.withMemoryRebound(to: UnsafePointer<CChar>?.self) { constValues in
                        PQexecParams(
                            self.handle, text, Int32(bindings.count), oids.baseAddress, constValues.baseAddress,
                            nil, nil, 0)
                    }
                }
            }
        }
        guard let result else {
            throw self.connectionError()
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return Self.read(result)
        default:
            throw self.error(from: result)
        }
    }

    private static func read(_ result: OpaquePointer) -> PostgresRows {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        var columns: [String: Int] = [:]
        for column in 0..<columnCount {
            columns[String(cString: PQfname(result, Int32(column)))] = column
        }
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    values.append(nil)
                } else {
                    values.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                }
            }
            rows.append(values)
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresRows(columns: columns, values: rows, affectedRows: affected)
    }

    private func error(from result: OpaquePointer) -> PostgresError {
        func field(_ code: Int32) -> String? {
            guard let pointer = PQresultErrorField(result, code) else { return nil }
            return String(cString: pointer)
        }
        let sqlState = field(Int32(UInt8(ascii: "C")))
        let message = field(Int32(UInt8(ascii: "M")))
            ?? String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
        let constraint = field(Int32(UInt8(ascii: "n")))
        if PQstatus(self.handle) != CONNECTION_OK {
            return PostgresError(.connectionClosed, sqlState: sqlState, message: message)
        }
        guard let sqlState else {
            return PostgresError(.connectionClosed, message: message)
        }
        return PostgresError(.from(sqlState: sqlState), sqlState: sqlState, message: message, constraint: constraint)
    }

    private func connectionError() -> PostgresError {
        let message = String(cString: PQerrorMessage(self.handle)).trimmingCharacters(in: .whitespacesAndNewlines)
        return PostgresError(.connectionClosed, message: message)
    }

    /// True when the connection is still good after an error (the pool keeps it).
    var isConnected: Bool { PQstatus(self.handle) == CONNECTION_OK }

    /// The socket, for the listener's poll loop.
    var socket: Int32 { PQsocket(self.handle) }

    /// Reads whatever arrived on the socket and returns the notifications it held.
    func consumeNotifications() throws -> [PostgresNotification] {
        guard PQconsumeInput(self.handle) == 1 else { throw self.connectionError() }
        var notifications: [PostgresNotification] = []
        while let notify = PQnotifies(self.handle) {
            let channel = String(cString: notify.pointee.relname)
            let payload = String(cString: notify.pointee.extra)
            notifications.append(PostgresNotification(channel: channel, payload: payload))
            PQfreemem(notify)
        }
        if PQstatus(self.handle) != CONNECTION_OK { throw self.connectionError() }
        return notifications
    }
}

/// A NOTIFY received on a LISTEN connection.
public struct PostgresNotification: Sendable, Hashable {
    /// The channel named in NOTIFY.
    public let channel: String
    /// The payload text (may be empty).
    public let payload: String
}
