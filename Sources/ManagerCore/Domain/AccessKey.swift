/// A keypair's public half: the `credential` in a signed request.
public struct AccessKey: Hashable, Sendable, Codable, CustomStringConvertible, PostgresEncodable, PostgresDecodable {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { self.rawValue }

    public static var postgresType: PostgresType { .text }
    public var postgresText: String { self.rawValue }
    public init(postgresText: String) { self.rawValue = postgresText }

    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.rawValue)
    }
}
