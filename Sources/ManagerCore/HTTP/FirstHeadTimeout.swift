import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

/// Closes a connection whose first request head does not arrive whole within `timeout`, and answers 431 to a first
/// head longer than `maxHeadBytes`.
///
/// With WebSocket upgrades on (`HTTP1WebSocketUpgradeChannel`), Hummingbird adds its idle timeout only once the
/// first head has been parsed and the upgrade decided, so a client that sends half a head and stops would hold the
/// connection for ever (found by `BadInputTests`' stalled-head case). This handler sits first in the pipeline,
/// watches the raw bytes for the head's end (`\r\n\r\n`), and removes itself then; later requests on the connection
/// are under Hummingbird's own idle timeout. The upgrade pipeline also leaves the HTTP parser's errors unanswered
/// (the connection just closes), so an oversized head is answered here, as problem+json, before the parser sees it.
final class FirstHeadTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let maxHeadBytes = 64 << 10

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    /// The last bytes seen, so an end split across reads is found.
    private var tail: [UInt8] = []
    private var seen = 0
    private var refused = false

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.arm(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.deadline?.cancel()
        self.deadline = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.refused else { return }
        let buffer = self.unwrapInboundIn(data)
        let complete = Self.endsHead(self.tail, buffer.readableBytesView)
        self.seen += buffer.readableBytes
        if !complete, self.seen > Self.maxHeadBytes {
            self.refused = true
            let body = #"{"type":"https://api.backend.ai/probs/request-header-fields-too-large","title":"The request head is too large.","msg":"A request head may hold at most 65536 bytes."}"#
            let response = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/problem+json\r\n"
                + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
            let channel = context.channel
            context.writeAndFlush(NIOAny(ByteBuffer(string: response))).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        if !complete { self.tail = Array((self.tail + buffer.readableBytesView).suffix(3)) }
        context.fireChannelRead(data)
        if complete {
            self.deadline?.cancel()
            self.deadline = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    /// Whether `\r\n\r\n` occurs in `tail` followed by `bytes` (`tail` holds at most three bytes).
    static func endsHead(_ tail: [UInt8], _ bytes: ByteBufferView) -> Bool {
        var window = tail
        for byte in bytes {
            window.append(byte)
            if window.count > 4 { window.removeFirst() }
            if window == [13, 10, 13, 10] { return true }
        }
        return false
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard self.deadline == nil else { return }
        let channel = context.channel
        self.deadline = context.eventLoop.scheduleTask(in: self.timeout) { channel.close(promise: nil) }
    }
}

/// The daemon's server channel: HTTP/1 with WebSocket upgrades, behind `FirstHeadTimeoutHandler`, answering
/// `Expect: 100-continue` (`ContinueHandler`).
struct GuardedHTTPChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value
    let inner: HTTP1WebSocketUpgradeChannel
    /// nil: no limit (`server.idle_timeout` 0).
    let headTimeout: TimeAmount?

    /// The largest read from a connection's socket: NIO's adaptive allocator starts at 2 KiB and grows only while
    /// reads fill it, so small requests keep small buffers, and a large upload arrives in fewer, larger pieces (NIO's
    /// default, 64 KiB, made an upload a hop per 64 KiB).
    static let largestRead = 256 << 10

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let options = channel.syncOptions
            try options?.setOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: Self.largestRead))
            if let timeout = self.headTimeout {
                try channel.pipeline.syncOperations.addHandler(FirstHeadTimeoutHandler(timeout: timeout), position: .first)
            }
        }.flatMap {
            self.inner.setup(channel: channel, logger: logger)
        }.flatMapThrowing { value in
            // Right after the request decoder: it sees request parts, and its 100 goes out through the encoder.
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try operations.addHandler(ContinueHandler(), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await self.inner.handle(value: value, logger: logger)
    }

    /// The server builder for `Application(server:)`.
    static func builder(
        webSocketRouter: Router<ManagerRequestContext>, configuration: HTTP1WebSocketUpgradeChannel.Configuration, headTimeout: TimeAmount?
    ) -> HTTPServerBuilder {
        let webSocketResponder = webSocketRouter.buildResponder()
        return HTTPServerBuilder { responder in
            GuardedHTTPChannel(
                inner: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder, configuration: configuration),
                headTimeout: headTimeout)
        }
    }
}
