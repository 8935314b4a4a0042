import Testing
@testable import SchedulerKit

@Suite struct ListFilterTests {
    @Test("Backend.AI's filter expressions parse into the tree the store compiles")
    func parses() throws {
        #expect(try ListFilter.parse(#"name ilike "%x%""#).get() == .compare(field: "name", op: .ilike, value: .string("%x%")))
        #expect(try ListFilter.parse(#"status == "RUNNING" & type == "batch""#).get()
                == .and([.compare(field: "status", op: .equal, value: .string("RUNNING")),
                         .compare(field: "type", op: .equal, value: .string("batch"))]))
        // & binds tighter than |; parentheses and ! group.
        #expect(try ListFilter.parse(#"a == 1 | b == 2 & c == 3"#).get()
                == .or([.compare(field: "a", op: .equal, value: .number(1)),
                        .and([.compare(field: "b", op: .equal, value: .number(2)), .compare(field: "c", op: .equal, value: .number(3))])]))
        #expect(try ListFilter.parse(#"!(tag isnull) & exit_code >= -1"#).get()
                == .and([.not(.null(field: "tag", isNull: true)), .compare(field: "exit_code", op: .greaterOrEqual, value: .number(-1))]))
        #expect(try ListFilter.parse(#"type not in ["batch", "x\"y"] | name notnull | ok != true | z == null"#).get().fields
                == ["type", "name", "ok", "z"])
        #expect(try ListFilter.parse(#"name contains "a\\b""#).get() == .compare(field: "name", op: .contains, value: .string(#"a\b"#)))
    }

    @Test("malformed expressions are problems that say where", arguments: [
        "", "name", "name ==", #"name == "open"#, "name ~ 1", "(a == 1", "a == 1)", "a == [1, [2]]", "1 == a",
        "a == 1 &", "a in 1e999", "a == tru", String(repeating: "(", count: 100) + "a == 1" + String(repeating: ")", count: 100),
        String(repeating: "!", count: 100) + "a == 1", String(repeating: "a", count: 5000),
    ])
    func refuses(text: String) {
        guard case .failure(let problem) = ListFilter.parse(text) else {
            Issue.record("accepted \(text.prefix(40))")
            return
        }
        #expect(problem.offset >= 0 && problem.offset <= text.unicodeScalars.count)
    }

    @Test("orders: comma-separated fields, - for descending")
    func orders() throws {
        #expect(try ListOrder.parse("-created_at, name,+status").get()
                == [.init(field: "created_at", descending: true), .init(field: "name", descending: false), .init(field: "status", descending: false)])
        for bad in ["", "-", "a,,b", "1abc", "name;drop", "a b"] {
            guard case .failure = ListOrder.parse(bad) else {
                Issue.record("accepted \(bad)")
                continue
            }
        }
    }
}
