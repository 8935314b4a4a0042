import Foundation
import Glibc
import NIOCore
import Testing
@testable import ManagerCore

/// The storage endpoint's file I/O without a server: an upload's batches written with `writev` in calls of at most
/// `StorageRoutes.writeSize` bytes (vectors cut across calls, more vectors than one call takes, empty buffers), and
/// a download's reads at offsets up to the file's end.
@Suite struct StorageWriteTests {
    private static func scratchFile(_ name: String) throws -> String {
        try TestEnvironment.current().scratchDirectory("storage-write").appendingPathComponent(name).path
    }

    /// Deterministic bytes: piece `index` of `size` bytes.
    private static func piece(_ index: Int, size: Int) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        for offset in 0..<size { buffer.writeInteger(UInt8(truncatingIfNeeded: index &* 31 &+ offset &* 7)) }
        return buffer
    }

    @Test("batches reach the file whole and in order, whatever the pieces' sizes and count", arguments: [
        [0],
        [1, 0, 5],
        [StorageRoutes.writeSize - 1, 2, StorageRoutes.writeSize + 3],  // a vector cut across two calls
        [3 * StorageRoutes.writeSize + 17],  // one piece larger than several calls
        Array(repeating: 100, count: StorageRoutes.maxVectors + 300),  // more vectors than one call takes
    ])
    func writesEveryByte(sizes: [Int]) throws {
        let path = try Self.scratchFile("batch-\(sizes.count)-\(sizes.reduce(0, +)).bin")
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        try #require(descriptor >= 0)
        var pieces = sizes.enumerated().map { Self.piece($0.offset, size: $0.element) }
        // Slices, as NIO hands them over (their readable bytes start past their storage's start).
        pieces = pieces.map { buffer in
            var prefixed = ByteBufferAllocator().buffer(capacity: buffer.readableBytes + 3)
            prefixed.writeBytes([9, 9, 9])
            prefixed.writeImmutableBuffer(buffer)
            prefixed.moveReaderIndex(forwardBy: 3)
            return prefixed
        }
        let written = try StorageRoutes.write(pieces, to: descriptor)
        close(descriptor)
        let expected = pieces.reduce(into: [UInt8]()) { $0 += Array($1.readableBytesView) }
        #expect(written == expected.count)
        let onDisk = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(onDisk == expected)
    }

    @Test("a write to a descriptor that cannot take it throws, naming the uploads directory")
    func failedWrite() throws {
        let path = try Self.scratchFile("read-only.bin")
        FileManager.default.createFile(atPath: path, contents: Data())
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        #expect(throws: FolderFiles.Failure.self) { try StorageRoutes.write([Self.piece(0, size: 10)], to: descriptor) }
    }

    @Test("reads return the bytes at their offset, fewer at the end, and fail past it")
    func reads() throws {
        let path = try Self.scratchFile("source.bin")
        let content = Array(Self.piece(7, size: 3000).readableBytesView)
        try Data(content).write(to: URL(fileURLWithPath: path))
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        #expect(Array(try StorageRoutes.read(descriptor, count: 1000, at: 500).readableBytesView) == Array(content[500..<1500]))
        #expect(Array(try StorageRoutes.read(descriptor, count: 1000, at: 2500).readableBytesView) == Array(content[2500...]))
        #expect(throws: FolderFiles.Failure.self) { try StorageRoutes.read(descriptor, count: 10, at: 3000) }
    }
}
