import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A failed system call on a path, with errno's text.
public struct FileSystemError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let path: String
    public let code: Int32

    public init(_ operation: String, _ path: String, code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String { "\(self.operation) \(self.path): \(String(cString: strerror(self.code)))" }
}

/// File type bits of `st_mode`.
enum FileMode {
    static let typeMask: mode_t = 0o170000
    static let directory: mode_t = 0o040000
    static let regular: mode_t = 0o100000
    static let symbolicLink: mode_t = 0o120000

    static func type(_ mode: mode_t) -> mode_t { mode & Self.typeMask }
}

/// A directory entry's name as the kernel has it: bytes ending in NUL, not necessarily UTF-8 (a name that is not
/// must still be copied, counted and removed, not skipped).
typealias FileName = [CChar]

extension FileName {
    /// The name for messages (invalid UTF-8 shown as U+FFFD).
    var display: String { String(decoding: self.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
}

/// Folder trees are walked with explicit stacks, never recursion; this bounds their depth (and so the descriptors a
/// walk holds open: one per level, two for a copy).
enum TreeWalk {
    static let maxDepth = 1024

    /// A walk reached `maxDepth`: the tree is refused (clone, usage) or moved up in parts (purge).
    struct TooDeep: Error, CustomStringConvertible {
        let path: String
        var description: String { "the folder tree is deeper than \(TreeWalk.maxDepth) levels (at \(self.path.suffix(200)))" }
    }

    static func tooDeep(_ path: String) -> TooDeep { TooDeep(path: path) }
}

/// Reads a directory's entry names (without `.` and `..`) from a descriptor; the descriptor stays open.
func directoryEntries(_ descriptor: Int32, path: String) throws -> [FileName] {
    let copy = dup(descriptor)
    guard copy >= 0, let stream = fdopendir(copy) else {
        if copy >= 0 { close(copy) }
        throw FileSystemError("opendir", path)
    }
    defer { closedir(stream) }
    var names: [FileName] = []
    while let entry = readdir(stream) {
        let name: FileName = withUnsafePointer(to: &entry.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) { pointer in
                let length = strnlen(pointer, MemoryLayout.size(ofValue: entry.pointee.d_name))
                return Array(UnsafeBufferPointer(start: pointer, count: length)) + [0]
            }
        }
        if name != [46, 0] && name != [46, 46, 0] { names.append(name) }
    }
    return names
}
