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
        return value
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
