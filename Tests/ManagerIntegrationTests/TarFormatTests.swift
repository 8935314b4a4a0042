import Foundation
import Testing
@testable import ManagerCore

/// The tar writer against Python's `tarfile` (what the CLI extracts with): long and non-ASCII names, directories,
/// padding, and the pax records' self-counting lengths.
@Suite struct TarFormatTests {
    @Test("archives read back with tarfile: ustar names, prefix splits, pax paths, directories and contents")
    func readBack() async throws {
        let names = [
            "a.txt",
            String(repeating: "d", count: 120) + "/" + String(repeating: "f", count: 90),  // ustar prefix split
            String(repeating: "x", count: 300),  // no split possible: a pax path
            "données/été-😀.txt",
        ]
        var bytes: [UInt8] = []
        bytes += TarFormat.header(.init(name: "dir", kind: .directory, size: 0, mode: 0o755, modified: 1_700_000_000))
        for (index, name) in names.enumerated() {
            let content = Array(String(repeating: "\(index)", count: 700 + index).utf8)
            bytes += TarFormat.header(.init(name: name, kind: .file, size: Int64(content.count), mode: 0o644, modified: 1_700_000_000))
            bytes += content + TarFormat.padding(Int64(content.count))
        }
        bytes += TarFormat.trailer
        #expect(bytes.count % 512 == 0)
        let path = try TestEnvironment.current().scratchDirectory("tar").appendingPathComponent("t.tar").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let script = """
            import json, sys, tarfile
            with tarfile.open(sys.argv[1]) as t:
                print(json.dumps([[m.name, m.size, m.isdir(), m.mode, t.extractfile(m).read().decode()[:1] if m.isfile() else ""] for m in t.getmembers()]))
            """
        let result = try await runProcess("/usr/bin/env", ["python3", "-c", script, path])
        #expect(result.status == 0, "\(result.stderr)")
        let members = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[Any]])
        #expect(members.count == names.count + 1)
        #expect(members.first?[0] as? String == "dir" && members.first?[2] as? Bool == true)
        for (index, name) in names.enumerated() {
            let member = members[index + 1]
            #expect(member[0] as? String == name)
            #expect(member[1] as? Int == 700 + index)
            #expect(member[3] as? Int == 0o644)
            #expect(member[4] as? String == "\(index)")
        }
    }

    @Test("a pax record's length counts itself, across digit-count boundaries; huge sizes move to a record")
    func paxRecords() {
        for length in [1, 2, 5, 80, 89, 90, 91, 95, 96, 97, 98, 990, 995, 996, 997, 4000] {
            let record = TarFormat.paxRecord(key: "path", value: String(repeating: "p", count: length))
            let declared = Int(String(decoding: record.prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self))
            #expect(declared == record.count, "value of \(length)")
            #expect(record.last == UInt8(ascii: "\n"))
        }
        let huge = TarFormat.header(.init(name: "big", kind: .file, size: 1 << 40, mode: 0o644, modified: 0))
        #expect(huge.count == 3 * 512)
        #expect(String(decoding: huge[512..<1024], as: UTF8.self).contains("size=\(1 << 40)\n"))
        // Out-of-range inputs never trap.
        _ = TarFormat.header(.init(name: "", kind: .file, size: .max, mode: .max, modified: .min))
        _ = TarFormat.header(.init(name: String(repeating: "/", count: 500), kind: .directory, size: -1, mode: 0, modified: .max))
    }
}
