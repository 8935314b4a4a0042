import GraphQL
import Testing
@testable import ManagerCore

/// The GraphQL bounds, on parsed documents (no daemon).
@Suite struct GraphQLLimitsTests {
    static let schema: GraphQLSchema? = try? ManagerGraphQLSchema.make()

    static func check(_ text: String, _ limits: GraphQLLimits = GraphQLLimits(), variables: [String: Map] = [:]) throws {
        try limits.scan(text)
        let schema = try #require(Self.schema)
        try limits.check(try parse(source: Source(body: text)), schema: schema, operationName: nil, variables: variables)
    }

    static func exceeded(_ text: String, _ limits: GraphQLLimits = GraphQLLimits(), variables: [String: Map] = [:]) -> String? {
        do {
            try Self.check(text, limits, variables: variables)
            return nil
        } catch let error as GraphQLLimits.Exceeded {
            return error.setting
        } catch {
            return "other: \(error)"
        }
    }

    @Test("brackets inside strings, block strings and comments do not count as nesting")
    func scanIgnoresStrings() {
        let brackets = String(repeating: "{[(", count: 100)
        #expect(Self.exceeded(#"{ agent_list(limit: 1, offset: 0, status: "\#(brackets)") { total_count } } # \#(brackets)"#) == nil)
        #expect(Self.exceeded("{ agent_list(limit: 1, offset: 0, status: \"\"\"\(brackets)\"\"\") { total_count } }") == nil)
        #expect(Self.exceeded("{ " + String(repeating: "[", count: 100) + " }") == "max_depth")
    }

    @Test("cost: limit arguments, from literals or variables, multiply what is below them; other lists count list_factor")
    func cost() {
        var limits = GraphQLLimits()
        limits.maxCost = 1000
        let list = "query($l: Int!) { compute_session_list(limit: $l, offset: 0) { items { id name containers { id agent } } } }"
        // 1 + l (items) + 2l (id, name) + l (containers) + 2 * 10 * l: 1 + 24 l.
        #expect(Self.exceeded(list, limits, variables: ["l": 41]) == nil)
        #expect(Self.exceeded(list, limits, variables: ["l": 42]) == "max_cost")
        limits.listFactor = 1
        #expect(Self.exceeded(list, limits, variables: ["l": 100]) == nil)
    }

    @Test("depth, fields with fragments expanded, aliases")
    func counts() {
        #expect(Self.exceeded("{ compute_session_list(limit: 1, offset: 0) { items { containers { id } } } }") == nil)
        var limits = GraphQLLimits()
        limits.maxDepth = 3
        #expect(Self.exceeded("{ compute_session_list(limit: 1, offset: 0) { items { containers { id } } } }", limits) == "max_depth")
        limits = GraphQLLimits()
        limits.maxFields = 10
        let fragment = " fragment A on Query { agent_list(limit: 1, offset: 0) { total_count items { id status } } }"
        #expect(Self.exceeded("{ ...A ...A }" + fragment, limits) == nil)  // 2 x 5 fields
        #expect(Self.exceeded("{ ...A ...A ...A }" + fragment, limits) == "max_fields")
        limits = GraphQLLimits()
        limits.maxAliases = 2
        #expect(Self.exceeded("{ a: agent_list(limit: 1, offset: 0) { total_count } b: agent_list(limit: 1, offset: 0) { total_count } }", limits) == nil)
        #expect(Self.exceeded("{ a: agent_list(limit: 1, offset: 0) { t: total_count } b: agent_list(limit: 1, offset: 0) { u: total_count } }", limits) == "max_aliases")
    }

    @Test("a fragment that spreads itself ends (validation refuses it afterwards); spreads with no field are bounded too")
    func fragmentCycle() {
        #expect(Self.exceeded("{ ...A } fragment A on Query { agent_list(limit: 1, offset: 0) { total_count } ...A }") == nil)
        // Without a bound on spreads this expands 4^12 times before validation could see the cycle.
        #expect(Self.exceeded("{ ...A } fragment A on Query { ...B ...B ...B ...B } fragment B on Query { ...A ...A ...A ...A }") == "max_fields")
    }
}
