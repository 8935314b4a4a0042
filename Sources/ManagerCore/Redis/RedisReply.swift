/// A typed Redis reply.
public enum RedisReply: Sendable, Hashable {
    case status(String)
    case error(String)
    case integer(Int)
    case string(String)
    case null
    case array([RedisReply])

    /// The text of a bulk string or status reply.
    public var string: String? {
        switch self {
        case .string(let value), .status(let value): return value
        default: return nil
        }
    }

    /// The value of an integer reply.
    public var integer: Int? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The elements of an array reply.
    public var array: [RedisReply]? {
        if case .array(let value) = self { return value }
        return nil
    }
}

/// A failure talking to Redis.
public struct RedisError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, in hiredis' words or ours.
    public let message: String
    /// True when the connection itself failed (Redis down or unreachable), not the command.
    public let isConnectionFailure: Bool

    public var description: String { "RedisError(\(self.message))" }
}

/// One entry of a Redis stream (`XRANGE`/`XREAD`).
public struct RedisStreamEntry: Sendable, Hashable {
    /// The entry id, such as `1700000000000-0`.
    public let id: String
    /// Field/value pairs in order.
    public let fields: [(String, String)]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.id == rhs.id && lhs.fields.map(\.0) == rhs.fields.map(\.0) && lhs.fields.map(\.1) == rhs.fields.map(\.1)
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(self.id) }

    /// The value of the first field named `name`.
    public subscript(field name: String) -> String? {
        self.fields.first { $0.0 == name }?.1
    }

    static func parse(_ reply: RedisReply) -> RedisStreamEntry? {
        guard let parts = reply.array, parts.count == 2, let id = parts[0].string, let flat = parts[1].array else {
            return nil
        }
        var fields: [(String, String)] = []
        var index = 0
        while index + 1 < flat.count {
            fields.append((flat[index].string ?? "", flat[index + 1].string ?? ""))
            index += 2
        }
        return RedisStreamEntry(id: id, fields: fields)
    }
}
