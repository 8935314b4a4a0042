import OrderedCollections

/// A TOML value (TOML 1.0, without dates and times, which no setting takes).
indirect enum TOMLValue: Equatable, Sendable {
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    case array([TOMLValue])
    case table(TOMLTable)

    var string: String? { if case .string(let value) = self { value } else { nil } }
    var int: Int? { if case .integer(let value) = self { value } else { nil } }
    var double: Double? { if case .float(let value) = self { value } else { nil } }
    var bool: Bool? { if case .boolean(let value) = self { value } else { nil } }
    var array: [TOMLValue]? { if case .array(let value) = self { value } else { nil } }
    var table: TOMLTable? { if case .table(let value) = self { value } else { nil } }

    /// The kind, for messages ("must be a string, not an integer").
    var kind: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .boolean: "boolean"
        case .array: "array"
        case .table: "table"
        }
    }
}

/// A TOML table: keys in the order written.
struct TOMLTable: Equatable, Sendable {
    var entries: OrderedDictionary<String, TOMLValue> = [:]
    var keys: [String] { Array(self.entries.keys) }
    subscript(key: String) -> TOMLValue? { self.entries[key] }
}

/// Parses TOML text into a `TOMLTable`. Total: any text gives a table or a `TOMLDocument.Problem` with its line,
/// never a trap; nesting of arrays and inline tables is bounded (`maxDepth`), and so is every recursion here.
///
/// It replaces TOMLKit (toml++), whose parser aborted the process on some malformed input (assertions reached by
/// `[[)x]]`, a header after a comment, a value terminator in an array; all found by fuzzing).
enum TOMLDocument {
    struct Problem: Error, Equatable, CustomStringConvertible {
        let line: Int
        let message: String
        var description: String { "line \(self.line): \(self.message)" }
    }

    static let maxDepth = 64
    static let maxKeyParts = 32
    static let maxBytes = 4 << 20

    static func parse(_ text: String) throws -> TOMLTable {
        var parser = Parser(bytes: Array(text.utf8))
        return try parser.document()
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0
        var line = 1
        var root = TOMLTable()
        /// The table that `key = value` lines go into (as a path from the root; `[[x]]` means its last element).
        var current: [String] = []
        /// Tables opened by a `[header]`, and arrays made by `[[header]]` (paths joined with U+0001).
        var explicitTables: Set<String> = []
        var tableArrays: Set<String> = []

        init(bytes: [UInt8]) {
            self.bytes = bytes
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { self.index = 3 }
        }

        func problem(_ message: String) -> Problem { Problem(line: self.line, message: message) }
        var peek: UInt8? { self.index < self.bytes.count ? self.bytes[self.index] : nil }
        func peek(_ offset: Int) -> UInt8? { self.index + offset < self.bytes.count ? self.bytes[self.index + offset] : nil }

        mutating func skipSpace() {
            while let byte = self.peek, byte == 0x20 || byte == 0x09 { self.index += 1 }
        }

        /// Space, a comment, then the end of the line (or of the text).
        mutating func endOfLine() throws {
            self.skipSpace()
            if self.peek == UInt8(ascii: "#") { try self.comment() }
            guard self.peek != nil, !self.skipNewline() else { return }
            throw self.problem("unexpected text after the value")
        }

        /// Past a `\n` or `\r\n` (counting the line) if one is next.
        mutating func skipNewline() -> Bool {
            if self.peek == 0x0A {
                self.index += 1
            } else if self.peek == 0x0D, self.peek(1) == 0x0A {
                self.index += 2
            } else {
                return false
            }
            self.line += 1
            return true
        }

        mutating func comment() throws {
            while let byte = self.peek, byte != 0x0A {
                if byte < 0x20 && byte != 0x09 && !(byte == 0x0D && self.peek(1) == 0x0A) {
                    throw self.problem("a control character in a comment")
                }
                self.index += 1
            }
        }

        mutating func document() throws -> TOMLTable {
            guard self.bytes.count <= TOMLDocument.maxBytes else { throw self.problem("the text is larger than 4 MiB") }
            while self.index < self.bytes.count {
                self.skipSpace()
                switch self.peek {
                case nil: break
                case 0x0A, 0x0D, UInt8(ascii: "#"): try self.endOfLine()
                case UInt8(ascii: "["): try self.header()
                default: try self.keyValue(into: self.current)
                }
            }
            return self.root
        }

        // MARK: headers

        mutating func header() throws {
            self.index += 1
            let array = self.peek == UInt8(ascii: "[")
            if array { self.index += 1 }
            self.skipSpace()
            let path = try self.key()
            self.skipSpace()
            guard self.peek == UInt8(ascii: "]") else { throw self.problem("a table header must end with ]") }
            self.index += 1
            if array {
                guard self.peek == UInt8(ascii: "]") else { throw self.problem("an array-of-tables header must end with ]]") }
                self.index += 1
            }
            try self.endOfLine()
            let joined = path.joined(separator: "\u{1}")
            if array {
                if !self.tableArrays.contains(joined) {
                    guard self.lookup(path) == nil else { throw self.problem("'\(path.joined(separator: "."))' is already defined") }
                    self.tableArrays.insert(joined)
                }
                try self.modify(Array(path.dropLast())) { table, _ in
                    let last = path[path.count - 1]
                    var items = table[last]?.array ?? []
                    items.append(.table(TOMLTable()))
                    table.entries[last] = .array(items)
                }
            } else {
                guard !self.explicitTables.contains(joined), !self.tableArrays.contains(joined) else {
                    throw self.problem("the table '\(path.joined(separator: "."))' is defined twice")
                }
                self.explicitTables.insert(joined)
                try self.modify(path) { _, _ in }
            }
            self.current = path
        }

        /// The value at `path` (following the last element of arrays of tables), if any.
        func lookup(_ path: [String]) -> TOMLValue? {
            var value: TOMLValue = .table(self.root)
            for part in path {
                switch value {
                case .table(let table): guard let next = table[part] else { return nil }; value = next
                case .array(let items): guard case .table(let table)? = items.last, let next = table[part] else { return nil }; value = next
                default: return nil
                }
            }
            return value
        }

        /// Runs `body` on the table at `path`, creating tables on the way; arrays of tables lead to their last one.
        mutating func modify(_ path: [String], _ body: (inout TOMLTable, Parser) throws -> Void) throws {
            let snapshot = self
            try Self.modify(&self.root, path[...], parser: snapshot, body)
        }

        /// Recursion bounded by the path's length (at most `maxKeyParts` per key, twice that with a header).
        static func modify(
            _ table: inout TOMLTable, _ path: ArraySlice<String>, parser: Parser, _ body: (inout TOMLTable, Parser) throws -> Void
        ) throws {
            guard let first = path.first else { return try body(&table, parser) }
            let rest = path.dropFirst()
            switch table.entries[first] {
            case nil:
                var child = TOMLTable()
                try Self.modify(&child, rest, parser: parser, body)
                table.entries[first] = .table(child)
            case .table(var child)?:
                table.entries[first] = nil
                defer { table.entries[first] = .table(child) }
                try Self.modify(&child, rest, parser: parser, body)
            case .array(var items)? where items.last?.table != nil:
                guard case .table(var child)? = items.popLast() else { return }
                defer { items.append(.table(child)); table.entries[first] = .array(items) }
                try Self.modify(&child, rest, parser: parser, body)
            default:
                throw parser.problem("'\(first)' already holds a value")
            }
        }

        // MARK: keys and values

        mutating func keyValue(into path: [String]) throws {
            let key = try self.key()
            self.skipSpace()
            guard self.peek == UInt8(ascii: "=") else { throw self.problem("expected = after the key") }
            self.index += 1
            self.skipSpace()
            let value = try self.value(depth: 0)
            try self.assign(value, to: key, under: path)
            try self.endOfLine()
        }

        mutating func assign(_ value: TOMLValue, to key: [String], under path: [String]) throws {
            try self.modify(path + key.dropLast()) { table, parser in
                let last = key[key.count - 1]
                guard table[last] == nil else { throw parser.problem("the key '\(key.joined(separator: "."))' is defined twice") }
                table.entries[last] = value
            }
        }

        /// A dotted key: bare, "basic" or 'literal' parts.
        mutating func key() throws -> [String] {
            var parts: [String] = []
            while true {
                self.skipSpace()
                switch self.peek {
                case UInt8(ascii: "\""): parts.append(try self.basicString())
                case UInt8(ascii: "'"): parts.append(try self.literalString())
                default:
                    let start = self.index
                    while let byte = self.peek, Self.isBare(byte) { self.index += 1 }
                    guard self.index > start else { throw self.problem("expected a key") }
                    parts.append(String(decoding: self.bytes[start..<self.index], as: UTF8.self))
                }
                guard parts.count <= TOMLDocument.maxKeyParts else { throw self.problem("a key with more than 32 parts") }
                self.skipSpace()
                guard self.peek == UInt8(ascii: ".") else { return parts }
                self.index += 1
            }
        }

        static func isBare(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }

        mutating func value(depth: Int) throws -> TOMLValue {
            guard depth < TOMLDocument.maxDepth else { throw self.problem("values nested deeper than \(TOMLDocument.maxDepth) levels") }
            switch self.peek {
            case UInt8(ascii: "\""):
                return .string(self.peek(1) == UInt8(ascii: "\"") && self.peek(2) == UInt8(ascii: "\"") ? try self.multilineBasic() : try self.basicString())
            case UInt8(ascii: "'"):
                return .string(self.peek(1) == UInt8(ascii: "'") && self.peek(2) == UInt8(ascii: "'") ? try self.multilineLiteral() : try self.literalString())
            case UInt8(ascii: "["): return try self.arrayValue(depth: depth)
            case UInt8(ascii: "{"): return try self.inlineTable(depth: depth)
            case nil: throw self.problem("expected a value")
            default: return try self.scalar()
            }
        }

        mutating func arrayValue(depth: Int) throws -> TOMLValue {
            self.index += 1
            var items: [TOMLValue] = []
            while true {
                try self.skipSpaceCommentsAndNewlines()
                if self.peek == UInt8(ascii: "]") {
                    self.index += 1
                    return .array(items)
                }
                items.append(try self.value(depth: depth + 1))
                try self.skipSpaceCommentsAndNewlines()
                switch self.peek {
                case UInt8(ascii: ","): self.index += 1
                case UInt8(ascii: "]"):
                    self.index += 1
                    return .array(items)
                default: throw self.problem("expected , or ] in an array")
                }
            }
        }

        mutating func skipSpaceCommentsAndNewlines() throws {
            while true {
                self.skipSpace()
                if self.peek == UInt8(ascii: "#") {
                    try self.comment()
                } else if !self.skipNewline() {
                    return
                }
            }
        }

        mutating func inlineTable(depth: Int) throws -> TOMLValue {
            self.index += 1
            var table = TOMLTable()
            self.skipSpace()
            if self.peek == UInt8(ascii: "}") {
                self.index += 1
                return .table(table)
            }
            while true {
                self.skipSpace()
                let key = try self.key()
                self.skipSpace()
                guard self.peek == UInt8(ascii: "=") else { throw self.problem("expected = in an inline table") }
                self.index += 1
                self.skipSpace()
                let value = try self.value(depth: depth + 1)
                let snapshot = self
                try Self.modify(&table, key.dropLast()[...], parser: snapshot) { inner, parser in
                    let last = key[key.count - 1]
                    guard inner[last] == nil else { throw parser.problem("the key '\(key.joined(separator: "."))' is defined twice") }
                    inner.entries[last] = value
                }
                self.skipSpace()
                switch self.peek {
                case UInt8(ascii: ","): self.index += 1
                case UInt8(ascii: "}"):
                    self.index += 1
                    return .table(table)
                default: throw self.problem("expected , or } in an inline table")
                }
            }
        }

        // MARK: strings

        mutating func basicString() throws -> String {
            self.index += 1
            var output: [UInt8] = []
            while true {
                guard let byte = self.peek, byte != 0x0A else { throw self.problem("an unterminated string") }
                self.index += 1
                switch byte {
                case UInt8(ascii: "\""): return try self.text(output)
                case UInt8(ascii: "\\"): try self.escape(into: &output)
                case let control where control < 0x20 && control != 0x09 || control == 0x7F:
                    throw self.problem("a control character in a string")
                default: output.append(byte)
                }
            }
        }

        /// Past the opening `"""` or `'''` and a newline right after it, which is not part of the string.
        mutating func openMultiline() {
            self.index += 3
            if self.peek == 0x0A {
                self.index += 1
                self.line += 1
            } else if self.peek == 0x0D, self.peek(1) == 0x0A {
                self.index += 2
                self.line += 1
            }
        }

        /// True (and past it) at the closing delimiter: three `quote`s, and up to two more that belong to the string.
        mutating func closesMultiline(_ quote: UInt8, into output: inout [UInt8]) -> Bool {
            guard self.peek == quote, self.peek(1) == quote, self.peek(2) == quote else { return false }
            self.index += 3
            var extra = 0
            while self.peek == quote, extra < 2 {
                output.append(quote)
                self.index += 1
                extra += 1
            }
            return true
        }

        mutating func multilineBasic() throws -> String {
            self.openMultiline()
            var output: [UInt8] = []
            while true {
                guard let byte = self.peek else { throw self.problem("an unterminated string") }
                if self.closesMultiline(UInt8(ascii: "\""), into: &output) { return try self.text(output) }
                self.index += 1
                switch byte {
                case UInt8(ascii: "\\"):
                    // A backslash at the end of a line trims the newline and the space after it.
                    var lookahead = self.index
                    while lookahead < self.bytes.count, self.bytes[lookahead] == 0x20 || self.bytes[lookahead] == 0x09 { lookahead += 1 }
                    if lookahead < self.bytes.count, self.bytes[lookahead] == 0x0A || self.bytes[lookahead] == 0x0D {
                        self.index = lookahead
                        while let next = self.peek, next == 0x20 || next == 0x09 || next == 0x0A || next == 0x0D {
                            if next == 0x0A { self.line += 1 }
                            self.index += 1
                        }
                    } else {
                        try self.escape(into: &output)
                    }
                case 0x0A:
                    self.line += 1
                    output.append(byte)
                case 0x0D where self.peek == 0x0A: output.append(byte)
                case let control where control < 0x20 && control != 0x09 || control == 0x7F:
                    throw self.problem("a control character in a string")
                default: output.append(byte)
                }
            }
        }

        mutating func literalString() throws -> String {
            self.index += 1
            let start = self.index
            while let byte = self.peek, byte != UInt8(ascii: "'") {
                guard byte >= 0x20 || byte == 0x09, byte != 0x7F else { throw self.problem("a control character in a string") }
                self.index += 1
            }
            guard self.peek == UInt8(ascii: "'") else { throw self.problem("an unterminated string") }
            let output = Array(self.bytes[start..<self.index])
            self.index += 1
            return try self.text(output)
        }

        mutating func multilineLiteral() throws -> String {
            self.openMultiline()
            var output: [UInt8] = []
            while true {
                guard let byte = self.peek else { throw self.problem("an unterminated string") }
                if self.closesMultiline(UInt8(ascii: "'"), into: &output) { return try self.text(output) }
                if byte == 0x0A { self.line += 1 }
                guard byte >= 0x20 || byte == 0x09 || byte == 0x0A || (byte == 0x0D && self.peek(1) == 0x0A), byte != 0x7F else {
                    throw self.problem("a control character in a string")
                }
                output.append(byte)
                self.index += 1
            }
        }

        mutating func escape(into output: inout [UInt8]) throws {
            guard let escaped = self.peek else { throw self.problem("an unterminated escape") }
            self.index += 1
            switch escaped {
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "\""): output.append(escaped)
            case UInt8(ascii: "\\"): output.append(escaped)
            case UInt8(ascii: "u"), UInt8(ascii: "U"):
                let count = escaped == UInt8(ascii: "u") ? 4 : 8
                guard self.index + count <= self.bytes.count else { throw self.problem("a truncated \\u escape") }
                var value: UInt32 = 0
                for _ in 0..<count {
                    guard let digit = Self.hexDigit(self.bytes[self.index]) else { throw self.problem("a bad \\u escape") }
                    value = value << 4 | UInt32(digit)
                    self.index += 1
                }
                guard let scalar = Unicode.Scalar(value) else { throw self.problem("\\u escape of an invalid code point") }
                output.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: throw self.problem("an unknown escape")
            }
        }

        static func hexDigit(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }

        func text(_ bytes: [UInt8]) throws -> String {
            guard let text = String(validating: bytes, as: UTF8.self) else { throw self.problem("a string that is not UTF-8") }
            return text
        }

        // MARK: numbers and booleans

        /// Booleans, integers and floats: the characters up to the next delimiter, then checked as a whole.
        mutating func scalar() throws -> TOMLValue {
            let start = self.index
            while let byte = self.peek, !(byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == UInt8(ascii: ",")
                || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "#")) {
                self.index += 1
            }
            let word = String(decoding: self.bytes[start..<self.index], as: UTF8.self)
            guard !word.isEmpty, word.utf8.count <= 128 else { throw self.problem("expected a value") }
            switch word {
            case "true": return .boolean(true)
            case "false": return .boolean(false)
            case "inf", "+inf": return .float(.infinity)
            case "-inf": return .float(-.infinity)
            case "nan", "+nan", "-nan": return .float(.nan)
            default: break
            }
            if let integer = Self.integer(word) { return .integer(integer) }
            if let float = Self.float(word) { return .float(float) }
            if word.utf8.contains(UInt8(ascii: ":")) || word.utf8.filter({ $0 == UInt8(ascii: "-") }).count >= 2 {
                throw self.problem("dates and times are not supported here; write them as strings")
            }
            throw self.problem("'\(word.prefix(32))' is not a value (strings need quotes)")
        }

        /// Decimal (with `_` between digits, a sign, no leading zero), `0x`, `0o` or `0b`; nil when out of range.
        static func integer(_ word: String) -> Int? {
            var bytes = Array(word.utf8)
            var radix = 10
            var negative = false
            if bytes.count > 2, bytes[0] == UInt8(ascii: "0"), [UInt8(ascii: "x"), UInt8(ascii: "o"), UInt8(ascii: "b")].contains(bytes[1]) {
                radix = bytes[1] == UInt8(ascii: "x") ? 16 : bytes[1] == UInt8(ascii: "o") ? 8 : 2
                bytes.removeFirst(2)
            } else if let first = bytes.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
                negative = first == UInt8(ascii: "-")
                bytes.removeFirst()
            }
            guard let first = bytes.first, let last = bytes.last, first != UInt8(ascii: "_"), last != UInt8(ascii: "_") else { return nil }
            if radix == 10, bytes.count > 1, first == UInt8(ascii: "0") { return nil }
            var value = 0
            var previousUnderscore = false
            for byte in bytes {
                if byte == UInt8(ascii: "_") {
                    guard !previousUnderscore else { return nil }
                    previousUnderscore = true
                    continue
                }
                previousUnderscore = false
                guard let digit = Self.hexDigit(byte), Int(digit) < radix else { return nil }
                let (shifted, overflow1) = value.multipliedReportingOverflow(by: radix)
                let (next, overflow2) = negative ? shifted.subtractingReportingOverflow(Int(digit)) : shifted.addingReportingOverflow(Int(digit))
                guard !overflow1, !overflow2 else { return nil }
                value = next
            }
            return value
        }

        /// A decimal float: sign, integer part, then a fraction, an exponent or both (`_` between digits).
        static func float(_ word: String) -> Double? {
            let bytes = Array(word.utf8)
            var index = 0
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            func digits() -> Bool {
                let start = index
                var previous: UInt8 = 0
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) || bytes[index] == UInt8(ascii: "_") {
                    if bytes[index] == UInt8(ascii: "_") && (previous == UInt8(ascii: "_") || index == start) { return false }
                    previous = bytes[index]
                    index += 1
                }
                return index > start && previous != UInt8(ascii: "_")
            }
            let integerStart = index
            guard digits() else { return nil }
            if index - integerStart > 1 && bytes[integerStart] == UInt8(ascii: "0") { return nil }
            var fractional = false
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard digits() else { return nil }
                fractional = true
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard digits() else { return nil }
                fractional = true
            }
            guard fractional, index == bytes.count else { return nil }
            return Double(String(decoding: bytes.filter { $0 != UInt8(ascii: "_") }, as: UTF8.self))
        }
    }
}
