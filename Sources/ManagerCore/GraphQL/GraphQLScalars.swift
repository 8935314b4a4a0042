import Foundation
import GraphQL
import OrderedCollections
import SchedulerKit

/// Backend.AI's custom scalars. `JSONString` travels as a string holding JSON, both ways.
enum GraphQLScalars {
    static let jsonString: GraphQLScalarType = {
        do {
            return try GraphQLScalarType(
                name: "JSONString",
                serialize: { value in
                    if let json = value as? JSONValue { return .string(json.text) }
                    return try map(from: value)
                })
        } catch {
            preconditionFailure("JSONString is a valid scalar name")
        }
    }()

    static let uuid: GraphQLScalarType = {
        do {
            return try GraphQLScalarType(
                name: "UUID",
                serialize: { value in
                    if let id = value as? UUID { return .string(UUIDText.lowercase(id)) }
                    return try map(from: value)
                },
                parseValue: { value in
                    guard let text = value.string, UUID(uuidString: text) != nil else {
                        throw GraphQLError(message: "Expected a UUID, got \(value)")
                    }
                    return value
                },
                parseLiteral: { literal in
                    guard let text = (literal as? StringValue)?.value, UUID(uuidString: text) != nil else {
                        throw GraphQLError(message: "Expected a UUID")
                    }
                    return .string(text)
                })
        } catch {
            preconditionFailure("UUID is a valid scalar name")
        }
    }()

    /// Backend.AI's `BigInt`: an integer past GraphQL's 32 bits (sizes, seconds), as a JSON number.
    static let bigInt: GraphQLScalarType = {
        do {
            return try GraphQLScalarType(
                name: "BigInt",
                serialize: { value in try map(from: value) },
                parseValue: { value in
                    guard let number = value.double, number.rounded() == number, abs(number) < 9.0e15 else {
                        throw GraphQLError(message: "Expected an integer, got \(value)")
                    }
                    return value
                },
                parseLiteral: { literal in
                    guard let text = (literal as? IntValue)?.value, let number = Int(text), abs(number) < 9_000_000_000_000_000 else {
                        throw GraphQLError(message: "Expected an integer")
                    }
                    return .number(Number(number))
                })
        } catch {
            preconditionFailure("BigInt is a valid scalar name")
        }
    }()

    static let dateTime: GraphQLScalarType = {
        do {
            return try GraphQLScalarType(
                name: "DateTime",
                serialize: { value in
                    if let date = value as? Date { return .string(Timestamp.pythonISO(date)) }
                    return try map(from: value)
                })
        } catch {
            preconditionFailure("DateTime is a valid scalar name")
        }
    }()

    /// Reads a JSONString argument: a string holding JSON (as the client sends it) or an inline object.
    static func json(_ argument: Map, name: String) throws -> JSONValue? {
        if argument.isUndefined || argument.isNull { return nil }
        if let text = argument.string {
            do {
                return try JSONValue.decode(text)
            } catch {
                throw GraphQLFailure("\(name) is not valid JSON")
            }
        }
        let data = try JSONEncoder().encode(argument)
        return try JSONDecoder().decode(JSONValue.self, from: data)
    }
}

/// An error message for the GraphQL `errors` list.
struct GraphQLFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
