import Foundation

/// A SQL statement whose user data can only travel as bound parameters.
///
/// Interpolating a value (`"... WHERE id = \(id)"`) appends `$n` to the text and the value to the bindings;
/// there is no interpolation that pastes a `String` into the text. Fragments built the same way compose with
/// `\(fragment)`. Only the migration runner may build text from a file with `SQL(unsafeText:)`.
public struct SQL: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    enum Segment: Sendable {
        case text(String)
        case binding(PostgresBinding)
    }

    var segments: [Segment]

    public init(stringLiteral value: String) {
        self.segments = [.text(value)]
    }

    public init(stringInterpolation: StringInterpolation) {
        self.segments = stringInterpolation.segments
    }

    /// Raw SQL text, for migration files read from disk. Never pass user data here.
    public init(unsafeText text: String) {
        self.segments = [.text(text)]
    }

    /// Builds the interpolated statement.
    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        var segments: [Segment] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            self.segments.reserveCapacity(interpolationCount * 2 + 1)
        }

        public mutating func appendLiteral(_ literal: String) {
            self.segments.append(.text(literal))
        }

        /// A value, bound as `$n`.
        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            self.segments.append(.binding(PostgresBinding(value)))
        }

        /// An optional value, bound as `$n` (NULL when nil).
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            if let value {
                self.segments.append(.binding(PostgresBinding(value)))
            } else {
                self.segments.append(.binding(PostgresBinding(null: Value.postgresType)))
            }
        }

        /// A value that must not be printed in logs (secret keys, passwords).
        public mutating func appendInterpolation(secret value: some PostgresEncodable) {
            var binding = PostgresBinding(value)
            binding.isSecret = true
            self.segments.append(.binding(binding))
        }

        /// An optional secret (NULL when absent).
        public mutating func appendInterpolation<Value: PostgresEncodable>(secret value: Value?) {
            var binding = value.map { PostgresBinding($0) } ?? PostgresBinding(null: Value.postgresType)
            binding.isSecret = true
            self.segments.append(.binding(binding))
        }

        /// Another statement fragment built the same way; its bindings are renumbered.
        public mutating func appendInterpolation(_ fragment: SQL) {
            self.segments.append(contentsOf: fragment.segments)
        }
    }

    /// Appends another fragment (for building WHERE clauses from optional filters).
    public mutating func append(_ other: SQL) {
        self.segments.append(contentsOf: other.segments)
    }

    /// The text with `$1…$n` placeholders and the values in order.
    public func render() -> (text: String, bindings: [PostgresBinding]) {
        var text = ""
        var bindings: [PostgresBinding] = []
        for segment in self.segments {
            switch segment {
            case .text(let literal):
                text += literal
            case .binding(let binding):
                bindings.append(binding)
                text += "$\(bindings.count)"
            }
        }
        return (text, bindings)
    }

    /// The statement with its bindings, secrets redacted: safe to log.
    public var description: String {
        let (text, bindings) = self.render()
        let values = bindings.enumerated().map { index, binding in
            "$\(index + 1)=\(binding.isSecret ? "<redacted>" : (binding.text.map { "'\($0.prefix(64))'" } ?? "NULL"))"
        }
        return values.isEmpty ? text : "\(text) [\(values.joined(separator: ", "))]"
    }
}

/// One bound parameter: its PostgreSQL type and its text form (nil for NULL).
public struct PostgresBinding: Sendable {
    /// The parameter's type OID; 0 lets the server infer it.
    public var oid: UInt32
    /// The text representation, or nil for NULL.
    public var text: String?
    /// Redacted in logs.
    public var isSecret: Bool = false

    init(_ value: some PostgresEncodable) {
        self.oid = type(of: value).postgresType.oid
        self.text = value.postgresText
    }

    init(null type: PostgresType) {
        self.oid = type.oid
        self.text = nil
    }
}
