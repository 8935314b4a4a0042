import Foundation

/// A Swift value that can be sent to PostgreSQL as a bound parameter in text format.
public protocol PostgresEncodable: Sendable {
    /// The parameter type sent with the statement.
    static var postgresType: PostgresType { get }
    /// The value in PostgreSQL's text input format.
    var postgresText: String { get }
}

/// A Swift value that can be read from a column returned in text format.
public protocol PostgresDecodable: Sendable {
    /// Parses PostgreSQL's text output format; throws `PostgresError.decoding` on a malformed value.
    init(postgresText: String) throws
}

extension String: PostgresEncodable, PostgresDecodable {
    public static var postgresType: PostgresType { .text }
    public var postgresText: String { self }
    public init(postgresText: String) { self = postgresText }
}

extension Int: PostgresEncodable, PostgresDecodable {
    public static var postgresType: PostgresType { .int8 }
    public var postgresText: String { String(self) }
    public init(postgresText: String) throws {
        guard let value = Int(postgresText) else {
            throw PostgresError(.decoding, message: "not an integer: \(postgresText.prefix(32))")
        }
        self = value
    }
}

extension Int32: PostgresEncodable {
    public static var postgresType: PostgresType { .int4 }
    public var postgresText: String { String(self) }
}

extension Double: PostgresEncodable, PostgresDecodable {
    public static var postgresType: PostgresType { .float8 }
    public var postgresText: String { "\(self)" }
    public init(postgresText: String) throws {
        guard let value = Double(postgresText) else {
            throw PostgresError(.decoding, message: "not a number: \(postgresText.prefix(32))")
        }
        self = value
    }
}

extension Bool: PostgresEncodable, PostgresDecodable {
    public static var postgresType: PostgresType { .bool }
    public var postgresText: String { self ? "t" : "f" }
    public init(postgresText: String) throws {
        switch postgresText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw PostgresError(.decoding, message: "not a boolean: \(postgresText.prefix(32))")
        }
    }
}

extension UUID: PostgresEncodable, PostgresDecodable {
    public static var postgresType: PostgresType { .uuid }
    public var postgresText: String { UUIDText.lowercase(self) }
    public init(postgresText: String) throws {
        guard let value = UUIDText.parse(postgresText) else {
            throw PostgresError(.decoding, message: "not a uuid: \(postgresText.prefix(40))")
        }
        self = value
    }
}

extension Date: PostgresEncodable, PostgresDecodable {
    public static var postgresType: PostgresType { .timestamptz }
    public var postgresText: String { Timestamp.iso8601(self) }
    public init(postgresText: String) throws {
        guard let date = Timestamp.parse(postgresText) else {
            throw PostgresError(.decoding, message: "not a timestamptz: \(postgresText.prefix(40))")
        }
        self = date
    }
}

/// A `jsonb` value, kept as its JSON text.
public struct JSONB: PostgresEncodable, PostgresDecodable, Hashable {
    public static var postgresType: PostgresType { .jsonb }
    /// The JSON document's text.
    public var text: String
    public var postgresText: String { self.text }

    /// Wraps JSON text that the caller has already serialized.
    public init(text: String) { self.text = text }
    public init(postgresText: String) { self.text = postgresText }

    /// Encodes a value with JSONEncoder (sorted keys, so equal values store equal text).
    public init(encoding value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Decodes the document into a Swift type.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(self.text.utf8))
    }
}

extension Array: PostgresEncodable where Element == String {
    public static var postgresType: PostgresType { .textArray }
    public var postgresText: String { PostgresArrayText.encode(self) }
}

extension Array: PostgresDecodable where Element == String {
    public init(postgresText: String) throws {
        self = try PostgresArrayText.decode(postgresText)
    }
}

/// A `uuid[]` parameter.
public struct UUIDArray: PostgresEncodable, PostgresDecodable {
    public static var postgresType: PostgresType { .uuidArray }
    /// The elements.
    public var values: [UUID]
    public var postgresText: String { PostgresArrayText.encode(self.values.map(\.postgresText)) }
    public init(_ values: [UUID]) { self.values = values }
    public init(postgresText: String) throws {
        self.values = try PostgresArrayText.decode(postgresText).map { try UUID(postgresText: $0) }
    }
}

/// PostgreSQL's one-dimensional array text format: `{a,"b c",NULL}`.
enum PostgresArrayText {
    /// Every element quoted, `\` and `"` escaped; byte by byte (the scheduler encodes arrays of thousands).
    static func encode(_ values: [String]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.reduce(2) { $0 + $1.utf8.count + 3 })
        bytes.append(UInt8(ascii: "{"))
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "\""))
            for byte in value.utf8 {
                if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\"") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    static func decode(_ text: String) throws -> [String] {
        let bytes = Array(text.utf8)
        guard bytes.first == UInt8(ascii: "{"), bytes.last == UInt8(ascii: "}"), bytes.count >= 2 else {
            throw PostgresError(.decoding, message: "not a one-dimensional array: \(text.prefix(40))")
        }
        let body = bytes[1..<(bytes.count - 1)]
        var result: [String] = []
        var current: [UInt8] = []
        var inQuotes = false
        var wasQuoted = false
        var escaping = false
        // The special characters are ASCII, so they never occur inside a multi-byte UTF-8 sequence.
        for byte in body {
            if escaping {
                current.append(byte)
                escaping = false
            } else if byte == UInt8(ascii: "\\") {
                escaping = true
            } else if byte == UInt8(ascii: "\"") {
                inQuotes.toggle()
                wasQuoted = true
            } else if byte == UInt8(ascii: ",") && !inQuotes {
                result.append(String(decoding: current, as: UTF8.self))
                current.removeAll(keepingCapacity: true)
                wasQuoted = false
            } else {
                current.append(byte)
            }
        }
        if !body.isEmpty || wasQuoted { result.append(String(decoding: current, as: UTF8.self)) }
        return result
    }
}
