import Foundation
import SchedulerKit

/// The `filter:` and `order:` arguments of a GraphQL list (`compute_session_list`, `user_list`, `keypair_list`) as
/// SQL: each field of the list's whitelist is a fixed column expression of its kind, every value a bound parameter
/// (checked for its kind here, so a bad value is the caller's error naming it, never a failed statement). A field
/// outside the whitelist is refused, not ignored.
struct ListFilterSQL: Sendable {
    enum Kind: Sendable {
        case text
        /// Text compared without regard to case (`type == "batch"` matches the stored `batch`, the shown `BATCH`).
        case caseless
        case time
        case integer
        case uuid
        case boolean
    }

    struct Refusal: Error, CustomStringConvertible {
        let description: String
    }

    /// Field name → column expression (over the list's table alias) and kind.
    let fields: [String: (column: String, kind: Kind)]
    /// The ORDER BY without an `order:`.
    let defaultOrder: String
    /// The last ORDER BY key, unique per row, so pages are stable.
    let tiebreak: String

    static let sessions = ListFilterSQL(
        fields: [
            "name": ("s.name", .text), "session_name": ("s.name", .text),
            "id": ("s.id", .uuid), "session_id": ("s.id", .uuid),
            "type": ("s.session_type", .caseless), "session_type": ("s.session_type", .caseless),
            "status": ("s.status", .caseless), "status_info": ("s.status_info", .text), "result": ("s.result", .caseless),
            "image": ("s.image", .text), "architecture": ("s.architecture", .text), "tag": ("s.tag", .text),
            "domain_name": ("s.domain_name", .text), "access_key": ("s.access_key", .text),
            "group_name": ("(SELECT g2.name FROM groups g2 WHERE g2.id = s.group_id)", .text),
            "scaling_group": ("s.scaling_group_name", .text), "agent": ("s.agent_id", .text),
            "startup_command": ("s.startup_command", .text),
            "created_at": ("s.created_at", .time), "terminated_at": ("s.terminated_at", .time),
            "starts_at": ("s.starts_at", .time), "status_changed": ("s.status_changed", .time),
            "exit_code": ("s.exit_code", .integer),
        ],
        defaultOrder: "s.created_at DESC", tiebreak: "s.id")

    /// `user_list` (`admin user list --filter`), over `users u`.
    static let users = ListFilterSQL(
        fields: [
            "uuid": ("u.uuid", .uuid), "id": ("u.uuid", .uuid), "email": ("u.email", .text), "username": ("u.username", .text),
            "full_name": ("u.full_name", .text), "description": ("u.description", .text), "domain_name": ("u.domain_name", .text),
            "role": ("u.role", .caseless), "status": ("u.status", .caseless), "is_active": ("u.is_active", .boolean),
            "need_password_change": ("u.need_password_change", .boolean),
            "created_at": ("u.created_at", .time), "modified_at": ("u.modified_at", .time),
        ],
        defaultOrder: "u.created_at", tiebreak: "u.email")

    /// `keypair_list` (`admin keypair list --filter`), over `keypairs k JOIN users u`.
    static let keypairs = ListFilterSQL(
        fields: [
            "access_key": ("k.access_key", .text), "user_id": ("u.email", .text), "email": ("u.email", .text),
            "full_name": ("u.full_name", .text), "domain_name": ("u.domain_name", .text),
            "is_active": ("k.is_active", .boolean), "is_admin": ("k.is_admin", .boolean),
            "resource_policy": ("k.resource_policy", .text), "rate_limit": ("k.rate_limit", .integer),
            "created_at": ("k.created_at", .time), "last_used": ("k.last_used", .time),
        ],
        defaultOrder: "k.created_at", tiebreak: "k.access_key")

    /// The filter as a boolean SQL expression.
    func condition(_ filter: ListFilter) throws -> SQL {
        switch filter {
        case .and(let parts): return try self.join(parts, "AND")
        case .or(let parts): return try self.join(parts, "OR")
        case .not(let inner): return "(NOT coalesce(\(try self.condition(inner)), false))"
        case .null(let field, let isNull):
            let column = try self.column(field).column
            return SQL(unsafeText: "(\(column) IS \(isNull ? "" : "NOT ")NULL)")
        case .compare(let field, let op, let value):
            let (column, kind) = try self.column(field)
            let left = SQL(unsafeText: kind == .caseless ? "lower(\(column))" : column)
            switch op {
            case .in, .notIn:
                guard case .list(let items) = value else { throw Refusal(description: "'\(field)' \(op.rawValue) needs a [list]") }
                guard kind == .text || kind == .caseless || kind == .uuid else {
                    throw Refusal(description: "'\(field)' \(op.rawValue) takes a text or id field")
                }
                let texts = try items.map { try self.text(field, kind, $0) }
                return op == .in ? "(\(left)::text = ANY(\(texts)::text[]))"
                    : "(NOT coalesce(\(left)::text = ANY(\(texts)::text[]), false))"
            case .like, .ilike, .contains:
                guard kind == .text || kind == .caseless, case .string(let text) = value else {
                    throw Refusal(description: "'\(field)' \(op.rawValue) needs a text field and a \"string\"")
                }
                if op == .contains { return "(strpos(\(left), \(kind == .caseless ? text.lowercased() : text)) > 0)" }
                return op == .like ? "(\(left) LIKE \(kind == .caseless ? text.lowercased() : text))" : "(\(left) ILIKE \(text))"
            case .equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual:
                if case .null = value, op == .equal || op == .notEqual {
                    return SQL(unsafeText: "(\(column) IS \(op == .equal ? "" : "NOT ")NULL)")
                }
                let symbol = SQL(unsafeText: op == .equal ? "=" : op == .notEqual ? "<>" : op.rawValue)
                switch kind {
                case .text, .caseless:
                    var text = try self.text(field, kind, value)
                    if kind == .caseless { text = text.lowercased() }
                    return "(\(left) \(symbol) \(text))"
                case .time:
                    guard case .string(let text) = value, let date = Timestamp.parse(text) else {
                        throw Refusal(description: "'\(field)' compares with an ISO 8601 date in a \"string\"")
                    }
                    return "(\(left) \(symbol) \(date))"
                case .integer:
                    guard case .number(let number) = value, let integer = Int(exactly: number), abs(integer) < 1 << 31 else {
                        throw Refusal(description: "'\(field)' compares with a whole number")
                    }
                    return "(\(left) \(symbol) \(integer))"
                case .uuid:
                    guard op == .equal || op == .notEqual, case .string(let text) = value, let id = UUID(uuidString: text) else {
                        throw Refusal(description: "'\(field)' compares (== or !=) with an id in a \"string\"")
                    }
                    return "(\(left) \(symbol) \(id))"
                case .boolean:
                    guard op == .equal || op == .notEqual, case .bool(let flag) = value else {
                        throw Refusal(description: "'\(field)' compares (== or !=) with true or false")
                    }
                    return "(\(left) \(symbol) \(flag))"
                }
            }
        }
    }

    /// The ORDER BY list (the id last, so pages are stable); Backend.AI's default is the newest first.
    func orderBy(_ orders: [ListOrder]) throws -> SQL {
        guard !orders.isEmpty else { return SQL(unsafeText: "\(self.defaultOrder), \(self.tiebreak)") }
        var parts: [String] = []
        for order in orders {
            let column = try self.column(order.field).column
            parts.append("\(column) \(order.descending ? "DESC" : "ASC") NULLS LAST")
        }
        return SQL(unsafeText: (parts + [self.tiebreak]).joined(separator: ", "))
    }

    private func column(_ field: String) throws -> (column: String, kind: Kind) {
        guard let entry = self.fields[field] else {
            throw Refusal(description: "'\(field.prefix(64))' is not a field you can filter or order by (use one of \(self.fields.keys.sorted().joined(separator: ", ")))")
        }
        return entry
    }

    private func join(_ parts: [ListFilter], _ word: String) throws -> SQL {
        var sql: SQL = "("
        for (index, part) in parts.enumerated() {
            if index > 0 { sql.append(SQL(unsafeText: " \(word) ")) }
            sql.append(try self.condition(part))
        }
        sql.append(")")
        return sql
    }

    /// A list or comparison value as text of its kind (checked here, so the cast never fails).
    private func text(_ field: String, _ kind: Kind, _ value: ListFilter.Value) throws -> String {
        switch (kind, value) {
        case (.text, .string(let text)): return text
        case (.caseless, .string(let text)): return text.lowercased()
        case (.uuid, .string(let text)) where UUID(uuidString: text) != nil: return text.lowercased()
        case (.time, .string(let text)) where Timestamp.parse(text) != nil: return text
        case (.integer, .number(let number)) where Int(exactly: number).map({ abs($0) < 1 << 31 }) == true:
            return String(Int(number))
        default: throw Refusal(description: "'\(field)': a value of the wrong kind")
        }
    }
}
