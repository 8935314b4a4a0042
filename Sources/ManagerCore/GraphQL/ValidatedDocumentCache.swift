import GraphQL
import OrderedCollections
import Synchronization

/// GraphQL documents that parsed and validated, by their text, least recently used dropped first.
///
/// Clients send the same few queries over and over (the CLI's `session list` is one text with different
/// variables), and parsing and validating a document costs more than executing it over a page of rows. Only valid
/// documents are kept, and only short ones, so the cache stays small whatever clients send.
final class ValidatedDocumentCache: Sendable {
    enum Lookup {
        case document(Document)
        case invalid([GraphQLError])
    }

    let capacity: Int
    let maxTextLength: Int
    private let entries = Mutex(OrderedDictionary<String, Document>())

    init(capacity: Int = 128, maxTextLength: Int = 16 << 10) {
        self.capacity = capacity
        self.maxTextLength = maxTextLength
    }

    /// The document for `text`; throws GraphQLSwift's syntax error as `graphql(…)` does. `check` runs on every
    /// document, cached or new, before it is returned, and on a new one before validation (some validation rules
    /// cost more than linear time on a document built to blow up).
    func document(for text: String, schema: GraphQLSchema, check: (Document) throws -> Void = { _ in }) throws -> Lookup {
        if let cached = self.entries.withLock({ entries -> Document? in
            guard let index = entries.index(forKey: text) else { return nil }
            let (key, document) = entries.remove(at: index)
            entries[key] = document
            return document
        }) {
            try check(cached)
            return .document(cached)
        }
        let document = try parse(source: Source(body: text, name: "GraphQL request"))
        try check(document)
        let errors = validate(schema: schema, ast: document)
        guard errors.isEmpty else { return .invalid(errors) }
        if text.utf8.count <= self.maxTextLength {
            self.entries.withLock { entries in
                entries[text] = document
                if entries.count > self.capacity { entries.removeFirst() }
            }
        }
        return .document(document)
    }

    var count: Int { self.entries.withLock { $0.count } }

    func contains(_ text: String) -> Bool { self.entries.withLock { $0[text] != nil } }
}
