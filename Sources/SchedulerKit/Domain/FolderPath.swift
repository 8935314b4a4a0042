/// A path inside a vfolder as a user names it (`vfolder ls/mkdir/rm/mv/upload/download`): relative to the folder's
/// root, read as plain components. `.` parts and repeated or trailing slashes are dropped; `..`, an absolute path,
/// NUL, and over-long names or paths are refused, so a path can only ever name something inside the folder (the
/// filesystem side also refuses to follow symbolic links: `Storage/FolderFiles`).
public struct FolderPath: Hashable, Sendable, CustomStringConvertible {
    /// Longest accepted path and component, in UTF-8 bytes (Linux's PATH_MAX and NAME_MAX).
    public static let maxBytes = 4096
    public static let maxComponentBytes = 255

    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case absolute
        case parent
        case nul
        case tooLong
        case empty

        public var description: String {
            switch self {
            case .absolute: return "must be relative to the folder (no leading '/')"
            case .parent: return "must not contain '..'"
            case .nul: return "contains a NUL character"
            case .tooLong: return "is longer than \(FolderPath.maxBytes) bytes or has a part longer than \(FolderPath.maxComponentBytes)"
            case .empty: return "names the folder itself, not something in it"
            }
        }
    }

    /// The components, none empty, `.` or `..`; empty for the folder's root.
    public let components: [String]

    public var isRoot: Bool { self.components.isEmpty }
    public var description: String { self.components.isEmpty ? "." : self.components.joined(separator: "/") }
    /// The last component (nil for the root).
    public var name: String? { self.components.last }
    /// The folder holding this path (the root for a top-level name).
    public var parent: FolderPath { FolderPath(components: Array(self.components.dropLast())) }

    public init(components: [String]) {
        self.components = components
    }

    /// Parses `text`; the root (`.`, `""`) is accepted only with `allowRoot`.
    public static func parse(_ text: String, allowRoot: Bool = true) -> Result<FolderPath, Problem> {
        if text.utf8.contains(0) { return .failure(.nul) }
        guard text.utf8.count <= Self.maxBytes else { return .failure(.tooLong) }
        if text.hasPrefix("/") { return .failure(.absolute) }
        var components: [String] = []
        for part in text.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { return .failure(.parent) }
            guard part.utf8.count <= Self.maxComponentBytes else { return .failure(.tooLong) }
            components.append(String(part))
        }
        if components.isEmpty && !allowRoot { return .failure(.empty) }
        return .success(FolderPath(components: components))
    }

    /// A new name for something (`rename-file`'s `new_name`): one component, not `.` or `..`.
    public static func name(_ text: String) -> Result<String, Problem> {
        if text.utf8.contains(0) { return .failure(.nul) }
        guard !text.isEmpty, text != ".", text != ".." else { return .failure(text.isEmpty || text == "." ? .empty : .parent) }
        guard !text.contains("/") else { return .failure(.absolute) }
        guard text.utf8.count <= Self.maxComponentBytes else { return .failure(.tooLong) }
        return .success(text)
    }

    /// `self` followed by `other`'s components.
    public func appending(_ other: FolderPath) -> FolderPath {
        FolderPath(components: self.components + other.components)
    }

    /// True when `other` is `self` or inside it.
    public func contains(_ other: FolderPath) -> Bool {
        other.components.count >= self.components.count && Array(other.components.prefix(self.components.count)) == self.components
    }
}
