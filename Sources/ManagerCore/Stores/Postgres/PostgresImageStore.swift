import Foundation
import SchedulerKit

/// The `images` table: what `manager image import` registered.
public struct PostgresImageStore: ImageCatalog {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func list() async throws -> [ImageRecord] {
        try await self.pool.query(
            """
            SELECT name, tag, architecture, digest, size_bytes, labels, created_at FROM images ORDER BY name, tag, architecture
            """
        ).map(Self.record)
    }

    public func image(_ reference: ImageReference, architecture: String) async throws -> ImageRecord? {
        try await self.pool.query(
            """
            SELECT name, tag, architecture, digest, size_bytes, labels, created_at FROM images
            WHERE name = \(reference.name) AND tag = \(reference.tag) AND architecture = \(architecture)
            """
        ).first.map(Self.record)
    }

    /// Registers (or replaces) an image.
    public func register(_ image: ImageRecord) async throws {
        var labels: [(String, JSONValue)] = []
        for (key, value) in image.labels.sorted(by: { $0.key < $1.key }) { labels.append((key, .string(value))) }
        _ = try await self.pool.withConnection { connection in
            try await connection.execute(
                """
                INSERT INTO images (name, tag, architecture, registry, digest, size_bytes, labels)
                VALUES (\(image.reference.name), \(image.reference.tag), \(image.architecture), \(image.reference.registry),
                        \(image.digest), \(image.sizeBytes), \(JSONB(text: JSONValue.object(labels).text)))
                ON CONFLICT (name, tag, architecture) DO UPDATE SET registry = EXCLUDED.registry, digest = EXCLUDED.digest,
                    size_bytes = EXCLUDED.size_bytes, labels = EXCLUDED.labels, updated_at = now()
                """)
        }
    }

    static func record(_ row: PostgresRow) throws -> ImageRecord {
        let name: String = try row.decode("name")
        let tag: String = try row.decode("tag")
        guard let reference = ImageReference(name + ":" + tag) else {
            throw ImageStoreFailure(description: "the stored image '\(name):\(tag)' is not a valid reference")
        }
        var labels: [String: String] = [:]
        if case .object(let pairs) = try JSONValue.decode(try row.decode("labels", as: JSONB.self).text) {
            for (key, value) in pairs { if case .string(let text) = value { labels[key] = text } }
        }
        return ImageRecord(
            reference: reference, architecture: try row.decode("architecture"), digest: try row.decode("digest"),
            sizeBytes: try row.decode("size_bytes"), labels: labels, createdAt: try row.decode("created_at"))
    }
}

struct ImageStoreFailure: Error, CustomStringConvertible {
    let description: String
}
