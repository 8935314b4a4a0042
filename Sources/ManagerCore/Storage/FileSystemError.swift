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

/// Reads a directory's entry names (without `.` and `..`) from a descriptor; the descriptor stays open.
func directoryEntries(_ descriptor: Int32, path: String) throws -> [String] {
    let copy = dup(descriptor)
    guard copy >= 0, let stream = fdopendir(copy) else {
        if copy >= 0 { close(copy) }
        throw FileSystemError("opendir", path)
    }
    defer { closedir(stream) }
    var names: [String] = []
    while let entry = readdir(stream) {
        let name = withUnsafePointer(to: &entry.pointee.d_name) {
            String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
