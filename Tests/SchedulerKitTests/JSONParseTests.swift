import Testing
@testable import SchedulerKit

@Suite struct JSONParseTests {
    @Test("values of every kind, keys in text order, whitespace anywhere between tokens")
    func values() throws {
        let value = try JSONValue.parse(#" { "b" : [1, -2.5, 3e2, 0, -0.0, 1E-2], "a": {"x": null, "y": true, "z": false}, "": "" } "#)
        #expect(value == .object([
            ("b", .array([.number(1), .number(-2.5), .number(300), .number(0), .number(-0.0), .number(0.01)])),
            ("a", .object([("x", .null), ("y", .bool(true)), ("z", .bool(false))])),
            ("", .string("")),
        ]))
        #expect(try JSONValue.parse("[]") == .array([]))
        #expect(try JSONValue.parse("{}") == .object([]))
        #expect(try JSONValue.parse("\"top\"") == .string("top"))
        #expect(try JSONValue.parse("12") == .number(12))
    }

    @Test("escapes, surrogate pairs and multi-byte text come back as written")
    func strings() throws {
        #expect(try JSONValue.parse(#""q\"b\\s\/n\nr\rt\tb\bf\f""#) == .string("q\"b\\s/n\nr\rt\tb\u{08}f\u{0C}"))
        #expect(try JSONValue.parse(#""\u00e9\u65E5 \ud83d\ude80""#) == .string("é日 🚀"))
        #expect(try JSONValue.parse("\"é日本 🚀\"") == .string("é日本 🚀"))
        // What the daemon writes, it reads back.
        let written = JSONValue.object([("msg", .string("line\nbreak \"quoted\" \u{01} é")), ("n", .number(1.5))])
        #expect(try JSONValue.parse(written.text) == written)
    }

    @Test("malformed text is refused with where it went wrong", arguments: [
        "", " ", "{", "[1,]", "[1 2]", "{\"a\" 1}", "{\"a\":1,}", "{a:1}", "tru", "nul", "01", "1.", "-", "1e", ".5",
        "\"open", "\"bad \\x escape\"", "\"\\ud83d alone\"", "\"\\ude80\"", "\"tab\there\"", "[1] 2", "NaN", "1e999",
    ])
    func malformed(_ text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(text) }
    }

    @Test("nesting deeper than the limit is refused without recursing into it")
    func depth() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: Never.self) { try JSONValue.parse(fine) }
    }
}
