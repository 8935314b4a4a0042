import CHiredis
import Foundation

/// One hiredis connection. Calls block, so only the Redis client's threads (or the subscriber's own thread)
/// make them.
///
/// `@unchecked Sendable`: a connection is held by one caller at a time (the client's idle list hands it out
/// under a lock), so the context is never used by two threads at once.
final class RedisConnection: @unchecked Sendable {
    nonisolated(unsafe) private let context: UnsafeMutablePointer<redisContext>

    private init(context: UnsafeMutablePointer<redisContext>) {
        self.context = context
    }

    deinit {
        redisFree(self.context)
    }

    /// Connects with a connect timeout, sets the read/write timeout, and authenticates when a password is given.
    static func connect(host: String, port: Int, timeout: Duration, password: String?) throws -> RedisConnection {
        let tv = Self.timeval(timeout)
        guard let context = redisConnectWithTimeout(host, Int32(port), tv) else {
            throw RedisError(message: "hiredis could not allocate a context", isConnectionFailure: true)
        }
        if context.pointee.err != 0 {
            let message = Self.errorText(context)
            redisFree(context)
            throw RedisError(message: message, isConnectionFailure: true)
        }
        _ = redisSetTimeout(context, tv)
        let connection = RedisConnection(context: context)
        if let password, !password.isEmpty {
            if case .error(let message) = try connection.command(["AUTH", password]) {
                throw RedisError(message: message, isConnectionFailure: true)
            }
        }
        return connection
    }

    /// Sends one command and reads its reply. An I/O failure throws and leaves the connection unusable.
    func command(_ arguments: [String]) throws -> RedisReply {
        try self.send(arguments)
        return try self.readReply()
    }

    /// Queues a command without reading the reply (pipelining, SUBSCRIBE).
    func send(_ arguments: [String]) throws {
        let buffers = arguments.map { Array($0.utf8) }
        var lengths = buffers.map { $0.count }
        let pointers = buffers.map { bytes -> UnsafeMutablePointer<CChar> in
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: max(bytes.count, 1))
            bytes.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) { chars in
                    if let base = chars.baseAddress { pointer.initialize(from: base, count: bytes.count) }
                }
            }
            return pointer
        }
        defer { pointers.forEach { $0.deallocate() } }
        var argv: [UnsafePointer<CChar>?] = pointers.map { UnsafePointer($0) }
        let status = argv.withUnsafeMutableBufferPointer { argvBuffer in
            lengths.withUnsafeMutableBufferPointer { lengthBuffer in
                redisAppendCommandArgv(self.context, Int32(arguments.count), argvBuffer.baseAddress, lengthBuffer.baseAddress)
            }
        }
        guard status == REDIS_OK else { throw self.failure() }
    }

    /// Writes everything queued by `send` to the socket (SUBSCRIBE is only sent once flushed).
    func flush() throws {
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(self.context, &done) == REDIS_OK else { throw self.failure() }
        }
    }

    /// Blocks (up to the timeout) for the next reply.
    func readReply() throws -> RedisReply {
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(self.context, &raw) == REDIS_OK, let raw else { throw self.failure() }
        defer { freeReplyObject(raw) }
        return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// The socket, for the subscriber's poll loop.
    var socket: Int32 { self.context.pointee.fd }

    /// Reads what is on the socket into hiredis' buffer; false on EOF or error.
    func fillBuffer() -> Bool {
        redisBufferRead(self.context) == REDIS_OK
    }

    /// Takes one complete reply out of the buffer, if there is one.
    func bufferedReply() throws -> RedisReply? {
        var raw: UnsafeMutableRawPointer?
        guard redisGetReplyFromReader(self.context, &raw) == REDIS_OK else { throw self.failure() }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    private func failure() -> RedisError {
        RedisError(message: Self.errorText(self.context), isConnectionFailure: true)
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafePointer(to: context.pointee.errstr) { pointer in
            pointer.withMemoryRebound(to: CChar.self, capacity: 128) { String(cString: $0) }
        }
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        func text() -> String {
            guard let str = value.str else { return "" }
            let buffer = UnsafeRawBufferPointer(start: str, count: Int(value.len))
            return String(decoding: buffer, as: UTF8.self)
        }
        switch value.type {
        case REDIS_REPLY_STATUS: return .status(text())
        case REDIS_REPLY_ERROR: return .error(text())
        case REDIS_REPLY_INTEGER: return .integer(Int(value.integer))
        case REDIS_REPLY_STRING: return .string(text())
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            for index in 0..<Int(value.elements) {
                if let element = value.element[index] { elements.append(Self.convert(element)) }
            }
            return .array(elements)
        default: return .null
        }
    }

    private static func timeval(_ duration: Duration) -> Glibc.timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
