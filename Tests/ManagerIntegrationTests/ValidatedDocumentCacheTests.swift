import GraphQL
import Testing
@testable import ManagerCore

@Suite struct ValidatedDocumentCacheTests {
    @Test("valid short documents are kept (least recently used dropped first); invalid and long ones never are")
    func keepsOnlyWhatItShould() throws {
        let schema = try ManagerGraphQLSchema.make()
        let cache = ValidatedDocumentCache(capacity: 2, maxTextLength: 200)
        let first = "{ compute_session_list(limit: 1, offset: 0) { total_count } }"
        let second = "{ compute_session_list(limit: 2, offset: 0) { total_count } }"
        let third = "{ compute_session_list(limit: 3, offset: 0) { total_count } }"
        for text in [first, second, first, third] {
            guard case .document = try cache.document(for: text, schema: schema) else {
                Issue.record("\(text) did not validate")
                return
            }
        }
        #expect(cache.count == 2, "the least recently used (second) made room for the third")
        #expect(cache.contains(first) && cache.contains(third) && !cache.contains(second))

        guard case .invalid(let errors) = try cache.document(for: "{ no_such_field }", schema: schema) else {
            Issue.record("an unknown field validated")
            return
        }
        #expect(errors.first?.message.contains("no_such_field") == true, "\(errors)")
        #expect(throws: GraphQLError.self) { try cache.document(for: "{ compute_session_list(", schema: schema) }
        let long = "{ compute_session_list(limit: 1, offset: 0) { total_count } }" + String(repeating: " ", count: 300)
        _ = try cache.document(for: long, schema: schema)
        #expect(!cache.contains("{ no_such_field }") && !cache.contains(long) && cache.count == 2)
    }
}
