import Foundation
import SchedulerKit

/// An image registered with `manager image import`.
public struct ImageRecord: Sendable, Hashable {
    public var reference: ImageReference
    public var architecture: String
    public var digest: String
    public var sizeBytes: Int
    public var labels: [String: String]
    public var createdAt: Date
}

/// The images sessions may name (enqueue asks it when `require_images` is on).
public protocol ImageCatalog: Sendable {
    func image(_ reference: ImageReference, architecture: String) async throws -> ImageRecord?
}
