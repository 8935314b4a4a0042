import SchedulerKit
import Testing

@Suite struct FolderPathTests {
    @Test("plain paths are read as components; . and extra slashes drop out", arguments: [
        ("a/b/c.txt", ["a", "b", "c.txt"]), ("./a//b/", ["a", "b"]), (".", []), ("", []), ("a/./b", ["a", "b"]),
        ("név/файл", ["név", "файл"]), ("..a/b..", ["..a", "b.."]),
    ])
    func parses(text: String, components: [String]) throws {
        #expect(try FolderPath.parse(text).get().components == components)
    }

    @Test("what could leave the folder is refused", arguments: [
        ("../x", FolderPath.Problem.parent), ("a/../../b", .parent), ("/etc/passwd", .absolute), ("a\u{0}b", .nul),
        (String(repeating: "a", count: 256), .tooLong), (String(repeating: "a/", count: 2100), .tooLong),
    ])
    func refuses(text: String, problem: FolderPath.Problem) {
        #expect(FolderPath.parse(text) == .failure(problem))
    }

    @Test("the root is refused where a name is needed; names are single components")
    func rootsAndNames() {
        #expect(FolderPath.parse(".", allowRoot: false) == .failure(.empty))
        #expect(FolderPath.name("b.txt") == .success("b.txt"))
        #expect(FolderPath.name("a/b") == .failure(.absolute))
        #expect(FolderPath.name("..") == .failure(.parent))
        #expect(FolderPath.name("") == .failure(.empty))
    }

    @Test("a / inside a grapheme cluster still separates (found by fuzzing: U+06DD makes one Character with the next)")
    func graphemeSeparators() throws {
        let path = try FolderPath.parse("a\u{06DD}/.txt").get()
        #expect(path.components == ["a\u{06DD}", ".txt"])
        #expect(FolderPath.parse("a\u{06DD}/../../etc") == .failure(.parent))
        #expect(FolderPath.name("x\u{06DD}/y") == .failure(.absolute))
        #expect(path.components.allSatisfy { !$0.utf8.contains(UInt8(ascii: "/")) })
    }

    @Test("parent, appending and containment")
    func relations() throws {
        let path = try FolderPath.parse("a/b/c").get()
        #expect(path.parent.description == "a/b" && path.name == "c")
        #expect(FolderPath(components: []).description == ".")
        #expect(try FolderPath.parse("a").get().contains(path))
        #expect(!path.contains(try FolderPath.parse("a/b").get()))
        #expect(path.parent.appending(FolderPath(components: ["d"])).description == "a/b/d")
    }
}
