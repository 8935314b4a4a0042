/// Parsing JSON text (RFC 8259) straight into a `JSONValue`, keeping object keys in text order.
///
/// Reading a page of sessions decodes several JSON columns per row, and a scheduling pass one per pending
/// session; going through `Decodable` (which probes each value's kind by throwing) cost a sixth of the daemon's
/// CPU under load. This reads the UTF-8 bytes once. Nesting deeper than `maxDepth` is refused, not recursed into.
extension JSONValue {
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let offset: Int
        public let reason: String
        public var description: String { "invalid JSON at byte \(self.offset): \(self.reason)" }
    }

    public static let maxDepth = 512

    public static func parse(_ text: String) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { bytes throws -> JSONValue in
            var parser = Parser(bytes: bytes)
            parser.skipSpace()
            let value = try parser.value(depth: 0)
            parser.skipSpace()
            guard parser.position == bytes.count else { throw parser.error("unexpected text after the value") }
            return value
        }
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func error(_ reason: String) -> ParseError { ParseError(offset: self.position, reason: reason) }

        var current: UInt8? { self.position < self.bytes.count ? self.bytes[self.position] : nil }

        mutating func skipSpace() {
            while let byte = self.current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { self.position += 1 }
        }

        mutating func expect(_ literal: StaticString, _ value: JSONValue) throws -> JSONValue {
            let count = literal.utf8CodeUnitCount
            guard self.position + count <= self.bytes.count else { throw self.error("truncated literal") }
            for index in 0..<count where self.bytes[self.position + index] != literal.utf8Start[index] {
                throw self.error("unknown literal")
            }
            self.position += count
            return value
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < JSONValue.maxDepth else { throw self.error("nested deeper than \(JSONValue.maxDepth)") }
            switch self.current {
            case UInt8(ascii: "{"): return try self.object(depth: depth)
            case UInt8(ascii: "["): return try self.array(depth: depth)
            case UInt8(ascii: "\""): return .string(try self.string())
            case UInt8(ascii: "t"): return try self.expect("true", .bool(true))
            case UInt8(ascii: "f"): return try self.expect("false", .bool(false))
            case UInt8(ascii: "n"): return try self.expect("null", .null)
            case let byte? where byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte):
                return .number(try self.number())
            case nil: throw self.error("unexpected end")
            default: throw self.error("unexpected character")
            }
        }

        mutating func object(depth: Int) throws -> JSONValue {
            self.position += 1
            var pairs: [(key: String, value: JSONValue)] = []
            self.skipSpace()
            if self.current == UInt8(ascii: "}") {
                self.position += 1
                return .object(pairs)
            }
            while true {
                self.skipSpace()
                guard self.current == UInt8(ascii: "\"") else { throw self.error("expected a key") }
                let key = try self.string()
                self.skipSpace()
                guard self.current == UInt8(ascii: ":") else { throw self.error("expected ':'") }
                self.position += 1
                self.skipSpace()
                pairs.append((key, try self.value(depth: depth + 1)))
                self.skipSpace()
                switch self.current {
                case UInt8(ascii: ","): self.position += 1
                case UInt8(ascii: "}"):
                    self.position += 1
                    return .object(pairs)
                default: throw self.error("expected ',' or '}'")
                }
            }
        }

        mutating func array(depth: Int) throws -> JSONValue {
            self.position += 1
            var values: [JSONValue] = []
            self.skipSpace()
            if self.current == UInt8(ascii: "]") {
                self.position += 1
                return .array(values)
            }
            while true {
                self.skipSpace()
                values.append(try self.value(depth: depth + 1))
                self.skipSpace()
                switch self.current {
                case UInt8(ascii: ","): self.position += 1
                case UInt8(ascii: "]"):
                    self.position += 1
                    return .array(values)
                default: throw self.error("expected ',' or ']'")
                }
            }
        }

        mutating func number() throws -> Double {
            let start = self.position
            func digits(_ parser: inout Parser) -> Int {
                let from = parser.position
                while let byte = parser.current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { parser.position += 1 }
                return parser.position - from
            }
            if self.current == UInt8(ascii: "-") { self.position += 1 }
            let integer = self.position
            guard digits(&self) > 0 else { throw self.error("expected digits") }
            if self.bytes[integer] == UInt8(ascii: "0") && self.position - integer > 1 { throw self.error("leading zero") }
            if self.current == UInt8(ascii: ".") {
                self.position += 1
                guard digits(&self) > 0 else { throw self.error("expected digits after '.'") }
            }
            if self.current == UInt8(ascii: "e") || self.current == UInt8(ascii: "E") {
                self.position += 1
                if self.current == UInt8(ascii: "+") || self.current == UInt8(ascii: "-") { self.position += 1 }
                guard digits(&self) > 0 else { throw self.error("expected exponent digits") }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: self.bytes[start..<self.position]), as: UTF8.self)
            guard let value = Double(text), value.isFinite else { throw self.error("number out of range") }
            return value
        }

        mutating func string() throws -> String {
            self.position += 1
            let start = self.position
            // Fast path: no escapes.
            while let byte = self.current, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\"), byte >= 0x20 {
                self.position += 1
            }
            if self.current == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: self.bytes[start..<self.position])
                self.position += 1
                guard let text = String(validating: slice, as: UTF8.self) else { throw self.error("invalid UTF-8") }
                return text
            }
            var output = Array(self.bytes[start..<self.position])
            while true {
                guard let byte = self.current else { throw self.error("unterminated string") }
                switch byte {
                case UInt8(ascii: "\""):
                    self.position += 1
                    guard let text = String(validating: output, as: UTF8.self) else { throw self.error("invalid UTF-8") }
                    return text
                case UInt8(ascii: "\\"):
                    self.position += 1
                    guard let escaped = self.current else { throw self.error("unterminated escape") }
                    self.position += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(escaped)
                    case UInt8(ascii: "b"): output.append(0x08)
                    case UInt8(ascii: "f"): output.append(0x0C)
                    case UInt8(ascii: "n"): output.append(0x0A)
                    case UInt8(ascii: "r"): output.append(0x0D)
                    case UInt8(ascii: "t"): output.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try self.hex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard self.current == UInt8(ascii: "\\"), self.position + 1 < self.bytes.count,
                                self.bytes[self.position + 1] == UInt8(ascii: "u")
                            else { throw self.error("lone surrogate") }
                            self.position += 2
                            let low = try self.hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw self.error("lone surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw self.error("lone surrogate")
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw self.error("invalid code point") }
                        output.append(contentsOf: Array(String(Character(unicode)).utf8))
                    default: throw self.error("unknown escape")
                    }
                case 0..<0x20: throw self.error("control character in a string")
                default:
                    output.append(byte)
                    self.position += 1
                }
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard self.position + 4 <= self.bytes.count else { throw self.error("truncated \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = self.bytes[self.position]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw self.error("bad \\u escape")
                }
                value = value << 4 | UInt32(digit)
                self.position += 1
            }
            return value
        }
    }
}
