import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs blocking filesystem work on a thread of its own, so neither the event loops nor Swift's cooperative pool
/// (two threads on a small machine) wait on disk.
enum BlockingThread {
    static func run<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let thread = Thread {
                continuation.resume(with: Result { try body() })
            }
            thread.name = name
            thread.stackSize = 1 << 20
            thread.start()
        }
    }
}
