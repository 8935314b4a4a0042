import Hummingbird
import NIOCore

/// Gives every request body a read timeout, as nginx's `client_body_timeout`: a client that stops sending its body
/// for `timeout` between two reads gets 408 and its connection is closed, instead of holding a handler forever.
/// (Headers that stop arriving are covered by the server's idle timeout.)
public struct BodyReadTimeoutMiddleware: RouterMiddleware {
    public typealias Context = ManagerRequestContext
    let timeout: Duration

    public init(timeout: Duration) {
        self.timeout = timeout
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard self.timeout > .zero else { return try await next(request, context) }
        var request = request
        request.body = RequestBody(asyncSequence: TimedBody(base: request.body, timeout: self.timeout))
        return try await next(request, context)
    }
}

/// A request body whose every read races a timer.
struct TimedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: RequestBody
    let timeout: Duration

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(reader: Reader(self.base.makeAsyncIterator()), timeout: self.timeout)
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let reader: Reader
        let timeout: Duration

        mutating func next() async throws -> ByteBuffer? {
            let reader = self.reader
            let timeout = self.timeout
            return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                group.addTask { try await reader.next() }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw APIError.requestTimeout(after: timeout)
                }
                defer { group.cancelAll() }
                guard let first = try await group.next() else { return nil }
                return first
            }
        }
    }

    /// Holds the base iterator so a child task can advance it; only one read is ever in flight (each `next` waits
    /// for its reader before returning), which is what makes the unchecked sendability sound.
    final class Reader: @unchecked Sendable {
        private var iterator: RequestBody.AsyncIterator

        init(_ iterator: RequestBody.AsyncIterator) {
            self.iterator = iterator
        }

        func next() async throws -> ByteBuffer? {
            try await self.iterator.next()
        }
    }
}
