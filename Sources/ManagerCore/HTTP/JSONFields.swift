import SchedulerKit

/// A JSON object body read field by field; every wrong type is a 400 that names the field.
struct JSONFields {
    let pairs: [String: JSONValue]

    init(_ body: JSONValue) throws {
        guard case .object(let pairs) = body else { throw APIError.invalidAPIParams("The request body must be a JSON object.") }
        var fields: [String: JSONValue] = [:]
        for (key, value) in pairs { fields[key] = value }
        self.pairs = fields
    }

    /// The first of `keys` present and not null.
    private func value(_ keys: [String]) -> (key: String, value: JSONValue)? {
        for key in keys {
            if let value = self.pairs[key], value != .null { return (key, value) }
        }
        return nil
    }

    func string(_ keys: String..., maxLength: Int = 1024) throws -> String? {
        guard let (key, value) = self.value(keys) else { return nil }
        guard case .string(let text) = value else { throw APIError.invalidAPIParams("'\(key)' must be a string.") }
        guard text.unicodeScalars.count <= maxLength else {
            throw APIError.invalidAPIParams("'\(key)' must be at most \(maxLength) characters.")
        }
        return text
    }

    func requiredString(_ keys: String..., maxLength: Int = 1024) throws -> String {
        guard let (key, value) = self.value(keys) else { throw APIError.invalidAPIParams("'\(keys[0])' is required.") }
        guard case .string(let text) = value else { throw APIError.invalidAPIParams("'\(key)' must be a string.") }
        guard text.unicodeScalars.count <= maxLength else {
            throw APIError.invalidAPIParams("'\(key)' must be at most \(maxLength) characters.")
        }
        return text
    }

    func bool(_ keys: String...) throws -> Bool? {
        guard let (key, value) = self.value(keys) else { return nil }
        switch value {
        case .bool(let flag): return flag
        case .string(let text) where ["true", "false", "1", "0"].contains(text.lowercased()):
            return text.lowercased() == "true" || text == "1"
        default: throw APIError.invalidAPIParams("'\(key)' must be true or false.")
        }
    }

    /// A string that must be one of an enum's raw values.
    func choice<Choice: RawRepresentable & CaseIterable>(_ keys: String..., as type: Choice.Type) throws -> Choice?
    where Choice.RawValue == String {
        guard let (key, value) = self.value(keys) else { return nil }
        guard case .string(let text) = value, let choice = Choice(rawValue: text) else {
            let allowed = Choice.allCases.map(\.rawValue).joined(separator: ", ")
            throw APIError.invalidAPIParams("'\(key)' must be one of \(allowed).")
        }
        return choice
    }
}
