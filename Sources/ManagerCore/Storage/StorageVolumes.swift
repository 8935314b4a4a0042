import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The configured storage volumes: host `local:<name>` is a directory on this machine (shared by every replica).
/// A folder's data lives in `<volume>/<id as 32 hex digits>`, so nothing a user names ever becomes a path.
public struct StorageVolumes: Sendable {
    public struct Volume: Sendable, Hashable {
        public let host: String
        public let root: String
    }

    public let volumes: [Volume]
    public let defaultHost: String?

    public init(_ config: ManagerConfig.Storage) {
        self.volumes = config.volumes.map {
            Volume(host: "local:" + $0.name, root: URL(fileURLWithPath: $0.path).standardizedFileURL.path)
        }
        self.defaultHost = config.defaultHost ?? self.volumes.first?.host
    }

    public var hosts: [String] { self.volumes.map(\.host) }

    public func volume(_ host: String) -> Volume? { self.volumes.first { $0.host == host } }

    /// The folder's directory on its volume, or nil when the volume is not configured here.
    public func path(host: String, folderID: UUID) -> String? {
        guard let volume = self.volume(host) else { return nil }
        return volume.root + "/" + Self.directoryName(folderID)
    }

    static func directoryName(_ id: UUID) -> String {
        id.uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }

    /// Creates the volume roots that do not exist yet.
    public func prepare() throws {
        for volume in self.volumes {
            try FileManager.default.createDirectory(atPath: volume.root, withIntermediateDirectories: true)
        }
    }

    public struct Usage: Sendable, Equatable {
        public let capacityBytes: Int64
        public let usedBytes: Int64
    }

    /// The volume's filesystem size and what is used of it (blocking: a system call).
    public func usage(_ host: String) -> Usage? {
        guard let volume = self.volume(host) else { return nil }
        var info = statvfs()
        guard statvfs(volume.root, &info) == 0 else { return nil }
        let block = Int64(info.f_frsize)
        let (capacity, capacityOverflow) = Int64(info.f_blocks).multipliedReportingOverflow(by: block)
        let (free, freeOverflow) = Int64(info.f_bfree).multipliedReportingOverflow(by: block)
        guard !capacityOverflow, !freeOverflow else { return nil }
        return Usage(capacityBytes: capacity, usedBytes: max(0, capacity - free))
    }

    /// Bytes free for unprivileged writers on the volume.
    public func freeBytes(_ host: String) -> Int64? {
        guard let volume = self.volume(host) else { return nil }
        var info = statvfs()
        guard statvfs(volume.root, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }
}
