/// Backend.AI's filter mini-language for GraphQL lists (`ps --filter`), parsed without I/O into a tree the store
/// turns into bound SQL over a whitelist of fields:
///
///     name ilike "%train%" & (status == "RUNNING" | status == "PENDING")
///     type in ["batch", "interactive"] & !(tag isnull)
///
/// Comparisons are `FIELD OP VALUE` with `==`, `!=`, `<`, `<=`, `>`, `>=`, `like`, `ilike`, `contains`, `in`,
/// `not in`; `FIELD isnull` and `FIELD notnull`; values are double-quoted strings (with `\"` and `\\`), numbers,
/// `true`, `false`, `null`, and lists of those. `&` binds tighter than `|`; `!` negates; parentheses group.
/// Total: input of any bytes gives a tree or a problem naming where it went wrong; nesting is bounded.
public indirect enum ListFilter: Equatable, Sendable {
    case compare(field: String, op: Operator, value: Value)
    case null(field: String, isNull: Bool)
    case and([ListFilter])
    case or([ListFilter])
    case not(ListFilter)

    public enum Operator: String, Sendable, CaseIterable {
        case equal = "=="
        case notEqual = "!="
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="
        case like, ilike, contains
        case `in`
        case notIn = "not in"
    }

    public enum Value: Equatable, Sendable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case null
        case list([Value])
    }

    public struct Problem: Error, Equatable, Sendable, CustomStringConvertible {
        public let message: String
        public let offset: Int
        public var description: String { "\(self.message) at character \(self.offset + 1)" }
    }

    public static let maxLength = 4096
    public static let maxDepth = 32

    /// The fields a comparison names, in order (for the caller's whitelist).
    public var fields: [String] {
        switch self {
        case .compare(let field, _, _), .null(let field, _): return [field]
        case .and(let parts), .or(let parts): return parts.flatMap(\.fields)
        case .not(let inner): return inner.fields
        }
    }

    public static func parse(_ text: String) -> Result<ListFilter, Problem> {
        guard text.unicodeScalars.count <= Self.maxLength else {
            return .failure(Problem(message: "the filter is longer than \(Self.maxLength) characters", offset: 0))
        }
        var parser = Parser(scalars: Array(text.unicodeScalars))
        do {
            let filter = try parser.orExpression(depth: 0)
            parser.skipSpace()
            guard parser.position == parser.scalars.count else { throw parser.problem("unexpected text") }
            return .success(filter)
        } catch let problem as Problem {
            return .failure(problem)
        } catch {
            return .failure(Problem(message: "the filter cannot be read", offset: 0))
        }
    }

    struct Parser {
        let scalars: [Unicode.Scalar]
        var position = 0

        func problem(_ message: String) -> Problem { Problem(message: message, offset: self.position) }

        mutating func skipSpace() {
            while self.position < self.scalars.count, self.scalars[self.position].properties.isWhitespace { self.position += 1 }
        }

        mutating func take(_ literal: String) -> Bool {
            self.skipSpace()
            let wanted = Array(literal.unicodeScalars)
            guard self.scalars.count - self.position >= wanted.count,
                Array(self.scalars[self.position..<(self.position + wanted.count)]) == wanted
            else { return false }
            self.position += wanted.count
            return true
        }

        mutating func orExpression(depth: Int) throws -> ListFilter {
            var parts = [try self.andExpression(depth: depth)]
            while self.take("|") { parts.append(try self.andExpression(depth: depth)) }
            return parts.count == 1 ? parts[0] : .or(parts)
        }

        mutating func andExpression(depth: Int) throws -> ListFilter {
            var parts = [try self.unary(depth: depth)]
            while self.take("&") { parts.append(try self.unary(depth: depth)) }
            return parts.count == 1 ? parts[0] : .and(parts)
        }

        mutating func unary(depth: Int) throws -> ListFilter {
            guard depth < ListFilter.maxDepth else { throw self.problem("the filter nests deeper than \(ListFilter.maxDepth) levels") }
            if self.take("!") { return .not(try self.unary(depth: depth + 1)) }
            if self.take("(") {
                let inner = try self.orExpression(depth: depth + 1)
                guard self.take(")") else { throw self.problem("')' expected") }
                return inner
            }
            return try self.comparison()
        }

        mutating func word() -> String? {
            self.skipSpace()
            let start = self.position
            while self.position < self.scalars.count {
                let scalar = self.scalars[self.position]
                let isStart = scalar == "_" || ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
                guard isStart || (self.position > start && ("0"..."9").contains(scalar)) else { break }
                self.position += 1
            }
            guard self.position > start else { return nil }
            return String(String.UnicodeScalarView(self.scalars[start..<self.position]))
        }

        mutating func comparison() throws -> ListFilter {
            guard let field = self.word() else { throw self.problem("a field name expected") }
            let before = self.position
            // Symbols first (longest first), then the word operators.
            for symbol in ["==", "!=", "<=", ">=", "<", ">"] where self.take(symbol) {
                return .compare(field: field, op: ListFilter.Operator(rawValue: symbol) ?? .equal, value: try self.value(depth: 0))
            }
            self.position = before
            guard let word = self.word()?.lowercased() else { throw self.problem("an operator expected after '\(field.prefix(64))'") }
            switch word {
            case "isnull": return .null(field: field, isNull: true)
            case "notnull": return .null(field: field, isNull: false)
            case "like": return .compare(field: field, op: .like, value: try self.value(depth: 0))
            case "ilike": return .compare(field: field, op: .ilike, value: try self.value(depth: 0))
            case "contains": return .compare(field: field, op: .contains, value: try self.value(depth: 0))
            case "in": return .compare(field: field, op: .in, value: try self.value(depth: 0))
            case "not":
                guard self.word()?.lowercased() == "in" else { throw self.problem("'in' expected after 'not'") }
                return .compare(field: field, op: .notIn, value: try self.value(depth: 0))
            default: throw self.problem("'\(word.prefix(32))' is not an operator")
            }
        }

        mutating func value(depth: Int) throws -> ListFilter.Value {
            self.skipSpace()
            guard self.position < self.scalars.count else { throw self.problem("a value expected") }
            let scalar = self.scalars[self.position]
            if scalar == "\"" { return .string(try self.string()) }
            if scalar == "[" {
                guard depth == 0 else { throw self.problem("lists do not nest") }
                self.position += 1
                var items: [ListFilter.Value] = []
                if self.take("]") { return .list(items) }
                repeat {
                    items.append(try self.value(depth: depth + 1))
                    guard items.count <= 1000 else { throw self.problem("a list holds at most 1000 values") }
                } while self.take(",")
                guard self.take("]") else { throw self.problem("']' expected") }
                return .list(items)
            }
            if scalar == "-" || scalar == "+" || scalar == "." || ("0"..."9").contains(scalar) {
                let start = self.position
                self.position += 1
                while self.position < self.scalars.count,
                    ("0"..."9").contains(self.scalars[self.position]) || ".eE+-".unicodeScalars.contains(self.scalars[self.position])
                {
                    self.position += 1
                }
                let text = String(String.UnicodeScalarView(self.scalars[start..<self.position]))
                guard text.count <= 64, let number = Double(text), number.isFinite else {
                    self.position = start
                    throw self.problem("'\(text.prefix(32))' is not a number")
                }
                return .number(number)
            }
            let start = self.position
            switch self.word()?.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            case "null", "none": return .null
            default:
                self.position = start
                throw self.problem("a value (a \"string\", a number, true, false, null or a [list]) expected")
            }
        }

        mutating func string() throws -> String {
            self.position += 1  // the opening quote
            var out = String.UnicodeScalarView()
            while self.position < self.scalars.count {
                let scalar = self.scalars[self.position]
                self.position += 1
                if scalar == "\"" { return String(out) }
                if scalar == "\\" {
                    guard self.position < self.scalars.count else { break }
                    let escaped = self.scalars[self.position]
                    self.position += 1
                    switch escaped {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    default: out.append(escaped)
                    }
                    continue
                }
                out.append(scalar)
            }
            throw self.problem("the string is not closed")
        }
    }
}

/// Backend.AI's order mini-language: comma-separated fields, each optionally prefixed with `+` (ascending, the
/// default) or `-` (descending): `-created_at,name`.
public struct ListOrder: Equatable, Sendable {
    public let field: String
    public let descending: Bool

    public init(field: String, descending: Bool) {
        self.field = field
        self.descending = descending
    }

    public static func parse(_ text: String) -> Result<[ListOrder], ListFilter.Problem> {
        guard text.unicodeScalars.count <= 1024 else {
            return .failure(.init(message: "the order is longer than 1024 characters", offset: 0))
        }
        var orders: [ListOrder] = []
        var offset = 0
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            var name = part.trimmingCharacters(in: .whitespaces)
            var descending = false
            if name.hasPrefix("-") || name.hasPrefix("+") {
                descending = name.hasPrefix("-")
                name = String(name.dropFirst())
            }
            let valid = !name.isEmpty && name.unicodeScalars.allSatisfy { $0 == "_" || $0.isASCIIAlphanumeric }
                && !(name.unicodeScalars.first.map { ("0"..."9").contains($0) } ?? true)
            guard valid else { return .failure(.init(message: "'\(name.prefix(64))' is not a field name", offset: offset)) }
            orders.append(ListOrder(field: name, descending: descending))
            guard orders.count <= 16 else { return .failure(.init(message: "at most 16 order fields", offset: offset)) }
            offset += part.count + 1
        }
        return .success(orders)
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIIAlphanumeric: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: WhitespaceSet) -> String {
        String(self.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

fileprivate enum WhitespaceSet { case whitespaces }
