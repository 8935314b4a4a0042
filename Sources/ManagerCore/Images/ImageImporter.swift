import Crypto
import Foundation
import SchedulerKit

/// Unpacks an image into the agent's image store (`<root>/<image>/rootfs`): a root filesystem folder, a tarball of
/// one, a `docker save` tarball or an OCI image layout (folder or tarball), whose layers are applied in order with
/// their whiteouts. The new root replaces the old one in one rename. Blocking; `manager image import` runs it.
struct ImageImporter {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let store: ImageStore

    struct Imported {
        var digest: String
        var sizeBytes: Int
    }

    func importImage(_ reference: ImageReference, from source: String) throws -> Imported {
        let final = self.store.folder(for: reference)
        let staging = final + ".import-\(getpid())"
        let fm = FileManager.default
        try? TreeRemover.remove(staging)
        try fm.createDirectory(atPath: staging + "/rootfs", withIntermediateDirectories: true)
        chmod(self.store.root, 0o755)
        chmod(staging, 0o755)
        do {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: source, isDirectory: &isDirectory) else { throw Failure(description: "\(source) does not exist") }
            var digest = ""
            if isDirectory.boolValue {
                if fm.fileExists(atPath: source + "/oci-layout") {
                    digest = try self.applyLayout(source, into: staging + "/rootfs")
                } else {
                    try Self.run(["/bin/cp", "-a", "--", source + "/.", staging + "/rootfs"])
                }
            } else {
                digest = "sha256:" + (try Self.sha256(of: source))
                let unpacked = staging + "/unpacked"
                try fm.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
                try Self.run(["/bin/tar", "-x", "-f", source, "-C", unpacked, "--no-same-owner"])
                if fm.fileExists(atPath: unpacked + "/oci-layout") {
                    _ = try self.applyLayout(unpacked, into: staging + "/rootfs")
                } else if fm.fileExists(atPath: unpacked + "/manifest.json") {
                    try self.applyDockerSave(unpacked, into: staging + "/rootfs")
                } else {
                    try fm.removeItem(atPath: staging + "/rootfs")
                    try fm.moveItem(atPath: unpacked, toPath: staging + "/rootfs")
                }
                try? TreeRemover.remove(unpacked)
            }
            chmod(staging + "/rootfs", 0o755)
            let size = try Self.run(["/usr/bin/du", "-sb", "--", staging + "/rootfs"])
            let bytes = Int(size.split(separator: "\t").first ?? "") ?? 0
            let trash = final + ".old-\(getpid())"
            if fm.fileExists(atPath: final) { try fm.moveItem(atPath: final, toPath: trash) }
            try fm.moveItem(atPath: staging, toPath: final)
            try? TreeRemover.remove(trash)
            return Imported(digest: digest, sizeBytes: bytes)
        } catch {
            try? TreeRemover.remove(staging)
            throw error
        }
    }

    /// `docker save`: manifest.json lists the layers (tarballs, maybe compressed) from the bottom up.
    private func applyDockerSave(_ folder: String, into root: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/manifest.json"))
        guard let manifests = try JSONSerialization.jsonObject(with: data) as? [[String: Any]], let first = manifests.first,
            let layers = first["Layers"] as? [String]
        else { throw Failure(description: "manifest.json does not list layers") }
        for layer in layers { try self.applyLayer(try Self.inside(folder, layer), into: root) }
    }

    /// An OCI image layout: index.json → the first manifest → its layers (blobs/sha256/…).
    private func applyLayout(_ folder: String, into root: String) throws -> String {
        func json(_ path: String) throws -> [String: Any] {
            guard let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] else {
                throw Failure(description: "\(path) is not a JSON object")
            }
            return object
        }
        func blob(_ digest: String) throws -> String {
            let parts = digest.split(separator: ":")
            guard parts.count == 2, parts[1].allSatisfy({ $0.isHexDigit }) else { throw Failure(description: "bad digest \(digest)") }
            return try Self.inside(folder, "blobs/\(parts[0])/\(parts[1])")
        }
        let index = try json(folder + "/index.json")
        guard let manifests = index["manifests"] as? [[String: Any]], let digest = manifests.first?["digest"] as? String else {
            throw Failure(description: "index.json lists no manifest")
        }
        let manifest = try json(try blob(digest))
        guard let layers = manifest["layers"] as? [[String: Any]] else { throw Failure(description: "the manifest lists no layers") }
        for layer in layers {
            guard let layerDigest = layer["digest"] as? String else { throw Failure(description: "a layer without a digest") }
            try self.applyLayer(try blob(layerDigest), into: root)
        }
        return digest
    }

    /// One layer: its whiteouts remove what lower layers put there (`.wh.NAME`, and `.wh..wh..opq` empties the
    /// folder), then the rest is unpacked on top.
    private func applyLayer(_ tarball: String, into root: String) throws {
        let listing = try Self.run(["/bin/tar", "-t", "-f", tarball])
        for line in listing.split(separator: "\n") {
            var path = String(line)
            while path.hasPrefix("./") { path.removeFirst(2) }
            let parts = path.split(separator: "/")
            guard let last = parts.last, last.hasPrefix(".wh."), !parts.contains(".."), !path.hasPrefix("/") else { continue }
            let parent = parts.dropLast().joined(separator: "/")
            let folder = parent.isEmpty ? root : root + "/" + parent
            if last == ".wh..wh..opq" {
                for entry in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] { try? TreeRemover.remove(folder + "/" + entry) }
            } else {
                try? TreeRemover.remove(folder + "/" + last.dropFirst(4))
            }
        }
        try Self.run(["/bin/tar", "-x", "-f", tarball, "-C", root, "--exclude=.wh.*", "--numeric-owner"])
    }

    /// A path named by a manifest, kept inside the unpacked image.
    static func inside(_ folder: String, _ relative: String) throws -> String {
        let parts = relative.split(separator: "/")
        guard !relative.hasPrefix("/"), !parts.contains(".."), !parts.isEmpty else {
            throw Failure(description: "the manifest names a path outside the image: \(relative.prefix(200))")
        }
        return folder + "/" + relative
    }

    @discardableResult
    static func run(_ words: [String]) throws -> String {
        let result = ProcessLauncher.runQuietly(words)
        guard result.status == 0 else {
            throw Failure(description: "\(words.prefix(2).joined(separator: " ")) failed: \(result.output.suffix(400))")
        }
        return result.output
    }

    static func sha256(of path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw Failure(description: "cannot read \(path)") }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
