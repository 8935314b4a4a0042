import Foundation

/// An error from the PostgreSQL layer, with a stable code callers can match on.
///
/// The server's message is kept for logs but is never shown to API users.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; match on it, not on `message`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case connectionFailed, connectionClosed, poolTimeout, poolClosed
            case uniqueViolation, foreignKeyViolation, checkViolation, notNullViolation
            case serializationFailure, deadlockDetected, queryCanceled, invalidText
            case decoding, server
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Could not open a connection to the server.
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection broke while it was in use (the server restarted, the network failed).
        public static let connectionClosed = Code(.connectionClosed)
        /// No pooled connection became free in time.
        public static let poolTimeout = Code(.poolTimeout)
        /// The pool was shut down.
        public static let poolClosed = Code(.poolClosed)
        /// SQLSTATE 23505.
        public static let uniqueViolation = Code(.uniqueViolation)
        /// SQLSTATE 23503.
        public static let foreignKeyViolation = Code(.foreignKeyViolation)
        /// SQLSTATE 23514.
        public static let checkViolation = Code(.checkViolation)
        /// SQLSTATE 23502.
        public static let notNullViolation = Code(.notNullViolation)
        /// SQLSTATE 40001: the transaction may be retried.
        public static let serializationFailure = Code(.serializationFailure)
        /// SQLSTATE 40P01: the transaction may be retried.
        public static let deadlockDetected = Code(.deadlockDetected)
        /// SQLSTATE 57014: statement_timeout or a cancel request.
        public static let queryCanceled = Code(.queryCanceled)
        /// SQLSTATE 22P02 and friends: a bound value did not parse on the server.
        public static let invalidText = Code(.invalidText)
        /// A column value could not be decoded into the requested Swift type.
        public static let decoding = Code(.decoding)
        /// Any other server error; see `sqlState`.
        public static let server = Code(.server)

        public var description: String { "\(self.base)" }

        /// Maps a SQLSTATE to a code.
        static func from(sqlState: String) -> Code {
            switch sqlState {
            case "23505": return .uniqueViolation
            case "23503": return .foreignKeyViolation
            case "23514": return .checkViolation
            case "23502": return .notNullViolation
            case "40001": return .serializationFailure
            case "40P01": return .deadlockDetected
            case "57014": return .queryCanceled
            case "22P02", "22P05", "22021", "22007", "22008", "22003", "22023", "22025", "22026", "22001": return .invalidText
            case let s where s.hasPrefix("08") || s == "57P01" || s == "57P02" || s == "57P03": return .connectionClosed
            default: return .server
            }
        }
    }

    /// The kind of failure.
    public let code: Code
    /// The five-character SQLSTATE when the server sent one.
    public let sqlState: String?
    /// The server's or libpq's message (may contain SQL; log it, never return it to a client).
    public let message: String
    /// The constraint named by the server, for unique and foreign key violations.
    public let constraint: String?
    /// Where the error was raised in our code.
    public let file: String
    public let line: Int

    init(
        _ code: Code, sqlState: String? = nil, message: String, constraint: String? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.constraint = constraint
        self.file = file
        self.line = line
    }

    /// True when the whole transaction may simply be run again.
    public var isRetryableTransactionFailure: Bool {
        self.code == .serializationFailure || self.code == .deadlockDetected
    }

    /// True when the connection is gone and the pool should drop it.
    /// The statement itself failed (a constraint, a value the server refused): running the same work again as it
    /// is would fail again, unlike a lost connection, a pool timeout or a serialization failure.
    public var isStatementFailure: Bool {
        switch self.code {
        case .uniqueViolation, .foreignKeyViolation, .checkViolation, .notNullViolation, .invalidText, .server: return true
        default: return false
        }
    }

    public var isConnectionLoss: Bool {
        self.code == .connectionClosed || self.code == .connectionFailed
    }

    public var description: String {
        "PostgresError(\(self.code), sqlstate: \(self.sqlState ?? "-"), \(self.message)) at \(self.file):\(self.line)"
    }
}
