import Foundation

/// A folder tree as `cp -a` must reproduce it: each entry's type, mode, modification time, contents or link target.
struct TreeSnapshot: Equatable, CustomStringConvertible {
    struct Entry: Equatable {
        let type: String
        let mode: Int
        let modified: Int
        let contents: Data?
        let link: String?
    }

    let entries: [String: Entry]

    var description: String {
        self.entries.keys.sorted().map { key in
            let entry = self.entries[key]!
            return "\(key) \(entry.type) \(String(entry.mode, radix: 8)) \(entry.modified) \(entry.contents?.count ?? -1) \(entry.link ?? "")"
        }.joined(separator: "\n")
    }

    /// Reads `root` without following links.
    static func read(_ root: String) throws -> TreeSnapshot {
        var entries: [String: Entry] = [:]
        func walk(_ relative: String) throws {
            let path = relative.isEmpty ? root : root + "/" + relative
            for name in try FileManager.default.contentsOfDirectory(atPath: path) {
                let child = relative.isEmpty ? name : relative + "/" + name
                let full = root + "/" + child
                let attributes = try FileManager.default.attributesOfItem(atPath: full)
                let type = attributes[.type] as? FileAttributeType
                let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
                let modified = Int((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1)
                switch type {
                case .typeDirectory?:
                    entries[child] = Entry(type: "dir", mode: mode, modified: modified, contents: nil, link: nil)
                    try walk(child)
                case .typeSymbolicLink?:
                    entries[child] = Entry(
                        type: "link", mode: 0, modified: modified, contents: nil,
                        link: try FileManager.default.destinationOfSymbolicLink(atPath: full))
                default:
                    entries[child] = Entry(
                        type: "file", mode: mode, modified: modified, contents: try Data(contentsOf: URL(fileURLWithPath: full)),
                        link: nil)
                }
            }
        }
        try walk("")
        return TreeSnapshot(entries: entries)
    }

    /// Fills `root` with files of `sizes` bytes of random data, a nested folder with a private file and an old
    /// modification time, an empty file, and links pointing inside and outside.
    static func populate(_ root: String, sizes: [Int]) throws {
        let manager = FileManager.default
        var generator = SystemRandomNumberGenerator()
        for (index, size) in sizes.enumerated() {
            var bytes = [UInt8](repeating: 0, count: size)
            for i in stride(from: 0, to: size, by: 8) {
                let value = generator.next()
                for j in 0..<min(8, size - i) { bytes[i + j] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(j))) }
            }
            try Data(bytes).write(to: URL(fileURLWithPath: "\(root)/data-\(index).bin"))
        }
        try manager.createDirectory(atPath: "\(root)/sub/deep", withIntermediateDirectories: true)
        try Data("private\n".utf8).write(to: URL(fileURLWithPath: "\(root)/sub/deep/notes.txt"))
        try manager.setAttributes(
            [.posixPermissions: 0o640, .modificationDate: Date(timeIntervalSince1970: 1_500_000_000)],
            ofItemAtPath: "\(root)/sub/deep/notes.txt")
        try manager.setAttributes([.posixPermissions: 0o750], ofItemAtPath: "\(root)/sub")
        try Data().write(to: URL(fileURLWithPath: "\(root)/empty"))
        try manager.createSymbolicLink(atPath: "\(root)/link-inside", withDestinationPath: "sub/deep/notes.txt")
        try manager.createSymbolicLink(atPath: "\(root)/link-outside", withDestinationPath: "/etc/hostname")
    }
}
