import NIOCore
import NIOHTTP1

/// Answers `Expect: 100-continue` with `100 Continue` as soon as the request head arrives, so a client that asks
/// (curl sends it for large bodies) sends its body at once instead of waiting a second for an answer that Hummingbird
/// never gives. The final answer comes as usual (a refusal after 100 is allowed: RFC 9110 §10.1.1).
///
/// It sits right after NIO's request decoder. A WebSocket upgrade replaces the HTTP handlers with the WebSocket
/// ones, after which raw bytes would reach this handler: it steps out of the pipeline when it sees a head that asks
/// for an upgrade, before the upgrade happens (later requests on such a connection get no 100, which is harmless).
final class ContinueHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = self.unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        if head.headers.contains(name: "upgrade") {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        if head.version != .http1_0, head.version.major >= 1, head.headers["expect"].contains(where: { $0.lowercased() == "100-continue" }) {
            context.writeAndFlush(self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }
}
