/// `VFolderOperationStatus` of Backend.AI, with the sets its API checks.
public enum VFolderStatus: String, Sendable, CaseIterable {
    case ready, performing, cloning, mounted, error
    case deletePending = "delete-pending"
    case deleteOngoing = "delete-ongoing"
    case deleteComplete = "delete-complete"
    case deleteError = "delete-error"

    /// Shown in lists and info.
    public var isReadable: Bool { self != .deleteComplete && self != .deleteOngoing && self != .deleteError }
    /// A session may mount it.
    public var isMountable: Bool { [.ready, .performing, .cloning, .mounted].contains(self) }
    /// It may be cloned, renamed or have its options changed.
    public var isUpdatable: Bool { self == .ready || self == .mounted }
    /// It may be moved to the trash.
    public var isDeletable: Bool { self == .ready || self == .error }
    /// Its name no longer counts (Backend.AI's DEAD_VFOLDER_STATUSES).
    public var isDead: Bool { self.rawValue.hasPrefix("delete-") }
}

/// `usage_mode`.
public enum VFolderUsageMode: String, Sendable, CaseIterable {
    case general, model, data
}

/// `permission` (Backend.AI's legacy mount permission).
public enum VFolderPermission: String, Sendable, CaseIterable {
    case readOnly = "ro"
    case readWrite = "rw"
    case readWriteDelete = "wd"
}
