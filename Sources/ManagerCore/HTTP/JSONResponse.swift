import Foundation
import Hummingbird
import NIOCore
import SchedulerKit

/// Builds JSON responses with keys in declaration order (no sorting), as Backend.AI's clients read them.
public enum JSONResponse {
    /// Encodes `value` as the body with `status`.
    public static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A response whose body is JSON text already (a `JSONValue`'s `text`, which keeps key order).
    public static func raw(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Reads and decodes a JSON body, with the body limit applied; malformed JSON is a 400 naming the problem.
    public static func decode<T: Decodable>(
        _ type: T.Type, from request: Request, limit: Int, allowEmpty: Bool = false
    ) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError.tooLarge(limit: limit)
        } catch is NIOTooManyBytesError {
            throw APIError.tooLarge(limit: limit)
        }
        if T.self == JSONValue.self {
            return try Self.decodeJSONValue(buffer, allowEmpty: allowEmpty, as: T.self)
        }
        var data = Data(buffer: buffer)
        if data.isEmpty && allowEmpty { data = Data("{}".utf8) }
        let value: T
        do {
            value = try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw APIError.invalidAPIParams(Self.describe(error))
        }
        if let key = JSONDuplicateKeys.first(in: buffer.readableBytesView) {
            throw APIError.invalidAPIParams("The key '\(key.prefix(64))' appears twice in one object of the body.")
        }
        if Self.mayHoldNUL(buffer.readableBytesView), let text = String(validating: buffer.readableBytesView, as: UTF8.self),
            let parsed = try? JSONValue.parse(text)
        {
            try Self.refuseNUL(parsed)
        }
        return value
    }

    /// True when the text has a `\u0000` escape (or something that looks like one): the only way a NUL gets into
    /// a JSON string, since raw control characters are not valid JSON.
    static func mayHoldNUL(_ bytes: ByteBufferView) -> Bool {
        let pattern = Array("\\u0000".utf8)
        var matched = 0
        for byte in bytes {
            if byte == pattern[matched] {
                matched += 1
                if matched == pattern.count { return true }
            } else {
                matched = byte == pattern[0] ? 1 : 0
            }
        }
        return false
    }

    /// No text anywhere in a body may hold U+0000: neither PostgreSQL nor a C string can carry it. The 400 names
    /// the field.
    static func refuseNUL(_ value: JSONValue) throws {
        if let path = value.firstPath(whereText: { $0.utf8.contains(0) }) {
            throw APIError.invalidAPIParams("'\(path)' contains a NUL character (\\u0000), which no text here may hold.")
        }
    }

    /// A body read as a `JSONValue` (the session create request, among others) goes straight through
    /// `JSONValue.parse`: one pass over the bytes, keys in the order sent, nesting limited.
    private static func decodeJSONValue<T>(_ buffer: ByteBuffer, allowEmpty: Bool, as type: T.Type) throws -> T {
        let bytes = buffer.readableBytesView
        guard let text = bytes.isEmpty && allowEmpty ? "{}" : String(validating: bytes, as: UTF8.self) else {
            throw APIError.invalidAPIParams("The request body is not valid JSON (it is not UTF-8).")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(text)
        } catch let error as JSONValue.ParseError {
            throw APIError.invalidAPIParams("The request body is not valid JSON (\(error.reason) at byte \(error.offset)).")
        }
        if let key = JSONDuplicateKeys.first(in: bytes) {
            throw APIError.invalidAPIParams("The key '\(key.prefix(64))' appears twice in one object of the body.")
        }
        if Self.mayHoldNUL(bytes) { try Self.refuseNUL(value) }
        guard let typed = value as? T else { throw APIError.invalidAPIParams("The request body is invalid.") }
        return typed
    }

    /// A sentence naming the field and the problem, without Swift type names.
    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            let text = codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return text.isEmpty ? "the body" : "'\(text)'"
        }
        switch error {
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "The request body is not valid JSON."
                : "\(path(context.codingPath)) is invalid: \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is required."
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)) must be \(Self.typeName(type))."
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)) must be \(Self.typeName(type)), not null."
        @unknown default:
            return "The request body is invalid."
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Double.Type: return "a number"
        case is Bool.Type: return "a boolean"
        case is [Any].Type: return "a list"
        default: return "an object"
        }
    }
}

extension Data {
    init(buffer: ByteBuffer) {
        self = buffer.withUnsafeReadableBytes { Data($0) }
    }
}
