import Foundation
import Testing
@testable import ManagerCore

/// The config's TOML parser: TOML 1.0 (without dates), total on any text.
@Suite struct TOMLDocumentTests {
    @Test("tables, arrays of tables, dotted and quoted keys, every kind of string, numbers and booleans")
    func values() throws {
        let table = try TOMLDocument.parse(#"""
            # comment
            title = "a \"quoted\" \u00e9 \U0001F600"   # trailing comment
            'literal key' = 'C:\path'
            dotted.key = 1_000
            hex = 0xff
            octal = 0o17
            binary = 0b101
            negative = -42
            float = 6.5e-3
            flag = true
            list = [ "a", 'b',
              # inside
              """c""", ]
            nested = [[1, 2], []]
            inline = { a = 1, b.c = "x" }
            multi = """
            one \
               two"""
            raw = '''
            line'''
            quotes = """it's 'quoted' ''' here"""""
            rawQuotes = '''say "hi" """ '''''

            [server]
            port = 8091

            [storage.volumes.v1]
            path = "/srv"

            [[webhooks]]
            name = "w1"
            [[webhooks]]
            name = "w2"
            """#)
        #expect(table["title"]?.string == "a \"quoted\" é 😀")
        #expect(table["literal key"]?.string == #"C:\path"#)
        #expect(table["dotted"]?.table?["key"]?.int == 1000)
        #expect(table["hex"]?.int == 255 && table["octal"]?.int == 15 && table["binary"]?.int == 5 && table["negative"]?.int == -42)
        #expect(table["float"]?.double == 0.0065 && table["flag"]?.bool == true)
        #expect(table["list"]?.array?.compactMap(\.string) == ["a", "b", "c"])
        #expect(table["nested"]?.array?.count == 2)
        #expect(table["inline"]?.table?["b"]?.table?["c"]?.string == "x")
        #expect(table["multi"]?.string == "one two")
        #expect(table["raw"]?.string == "line")
        #expect(table["quotes"]?.string == "it's 'quoted' ''' here\"\"")
        #expect(table["rawQuotes"]?.string == "say \"hi\" \"\"\" ''")
        #expect(table["server"]?.table?["port"]?.int == 8091)
        #expect(table["storage"]?.table?["volumes"]?.table?["v1"]?.table?["path"]?.string == "/srv")
        #expect(table["webhooks"]?.array?.compactMap { $0.table?["name"]?.string } == ["w1", "w2"])
    }

    @Test("the shipped config parses and loads")
    func shippedConfig() throws {
        let text = try String(contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("config/manager.toml"), encoding: .utf8)
        _ = try TOMLDocument.parse(text)
        _ = try ConfigLoader(environment: [:]).parse(text)
    }

    @Test("malformed text is an error with its line, never a crash: including what aborted toml++")
    func errors() {
        let cases: [(String, Int)] = [
            ("a = 1\na = 2", 2), ("[t]\n[t]", 2), ("[[)ebhooks]]\nx = 1", 1), ("#\n#\n[\\d\\..\\", 3),
            ("\u{FEFF}[[\u{1}\0bhooks]]", 1), ("x = [   }}", 1), ("x = 99999999999999999999999", 1), ("x = 1979-05-27T07:32:00Z", 1),
            ("x = " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000), 1), ("x = \"unterminated", 1),
            ("x = 'a\u{7F}'", 1), ("a = 1\nb = 2 3", 2), ("a.b = 1\na = 2", 2), ("a = { b = 1, b = 2 }", 1), ("= 1", 1),
            ("x = 01", 1), ("x = 1__0", 1), ("x = _1", 1), ("x = \"\\q\"", 1), ("x = \"\\uD800\"", 1), ("[a.b.]", 1),
        ]
        for (text, line) in cases {
            do {
                let table = try TOMLDocument.parse(text)
                Issue.record("parsed \(text.prefix(40).debugDescription) as \(table)")
            } catch let problem as TOMLDocument.Problem {
                #expect(problem.line == line, "\(text.prefix(40).debugDescription): \(problem)")
            } catch {
                Issue.record("\(error)")
            }
        }
    }
}
