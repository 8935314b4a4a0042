/// The rows a statement returned, fully read into memory, with their column names.
public struct PostgresRows: Sendable, Sequence {
    /// Column name → index, shared by all rows.
    let columns: [String: Int]
    let values: [[String?]]
    /// Rows changed by an INSERT/UPDATE/DELETE (from `PQcmdTuples`), or 0.
    public let affectedRows: Int

    /// The number of rows.
    public var count: Int { self.values.count }
    /// True when the statement returned no row.
    public var isEmpty: Bool { self.values.isEmpty }
    /// The first row, if any.
    public var first: PostgresRow? { self.values.first.map { PostgresRow(columns: self.columns, values: $0) } }

    public func makeIterator() -> some IteratorProtocol<PostgresRow> {
        self.values.lazy.map { PostgresRow(columns: self.columns, values: $0) }.makeIterator()
    }
}

/// One row, decoded column by column into typed values.
public struct PostgresRow: Sendable {
    let columns: [String: Int]
    let values: [String?]

    /// The non-NULL value of `column`; throws when it is missing, NULL or malformed.
    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let index = self.columns[column] else {
            throw PostgresError(.decoding, message: "no column \(column)")
        }
        guard let text = self.values[index] else {
            throw PostgresError(.decoding, message: "column \(column) is NULL")
        }
        return try T(postgresText: text)
    }

    /// The value of `column`, or nil when it is NULL.
    public func decodeOptional<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T? {
        guard let index = self.columns[column] else {
            throw PostgresError(.decoding, message: "no column \(column)")
        }
        guard let text = self.values[index] else { return nil }
        return try T(postgresText: text)
    }
}
