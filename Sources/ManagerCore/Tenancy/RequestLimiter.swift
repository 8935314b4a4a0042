import Crypto
import Foundation
import Logging
import Synchronization

/// Backend.AI's request rate limit and our replay refusal, in one Redis script per signed request.
///
/// Each keypair has a rolling window (`window`, 15 minutes as in Backend.AI) holding at most `keypairs.rate_limit`
/// requests: a sorted set of request ids scored by arrival time. A request over the limit is refused and, unlike
/// Backend.AI, not added to the set, so a flood cannot grow it past the limit. In the same script the request's
/// signature is recorded with `SET NX` for the whole span in which its Date is acceptable, so a captured request
/// cannot be sent again.
///
/// Concurrent requests are checked together: one pipelined round trip to Redis for a batch (`GroupCommit`), so the
/// limiter costs a request a share of a round trip, not a thread hop and a round trip of its own.
///
/// If Redis does not answer, the limiter fails open: requests pass without limit or replay check, the failure is
/// logged once, `/health` reports `rate_limiter: unavailable`, and Redis is not tried again for `retryAfter`
/// (so a dead Redis costs requests nothing).
public final class RequestLimiter: Sendable {
    /// What the limiter decided for one request.
    public enum Verdict: Sendable, Equatable {
        /// Allowed; `remaining` requests left in the window.
        case allowed(remaining: Int)
        /// Over the keypair's rate limit.
        case tooManyRequests
        /// This signature was already accepted.
        case replayed
        /// Redis is unavailable: allowed without checks.
        case unchecked
    }

    public static let window: Duration = .seconds(900)

    let redis: RedisClient
    /// How long a signature is remembered: every instant at which its Date is still within the allowed skew.
    let replayMemory: Duration
    let retryAfter: Duration
    let logger: Logger
    private let state = Mutex<(downUntil: ContinuousClock.Instant?, warned: Bool)>((nil, false))
    /// The script's keys and arguments for one request; batched into pipelines.
    private let batches: GroupCommit<[String], RedisReply>

    /// Whether `rate_limit` is enforced, and whether replays are refused (`[auth]`).
    let limitsRequests: Bool
    let refusesReplays: Bool

    public init(
        redis: RedisClient, maxClockSkew: Duration, limitsRequests: Bool = true, refusesReplays: Bool = true,
        retryAfter: Duration = .seconds(2), logger: Logger
    ) {
        self.redis = redis
        self.limitsRequests = limitsRequests
        self.refusesReplays = refusesReplays
        self.replayMemory = maxClockSkew * 2
        self.retryAfter = retryAfter
        self.logger = logger
        self.batches = GroupCommit(maxBatch: 128, maxConcurrentBatches: 2) { [redis] calls in
            let evaluate = { (calls: [[String]]) in
                try await redis.pipeline(calls.map { ["EVALSHA", Self.scriptSHA, "2"] + $0 })
            }
            var replies = try await evaluate(calls)
            if replies.contains(where: { if case .error(let message) = $0 { return message.hasPrefix("NOSCRIPT") } else { return false } }) {
                // Redis restarted (or never saw the script): load it and run the batch again.
                _ = try await redis.command("SCRIPT", "LOAD", Self.script)
                replies = try await evaluate(calls)
            }
            return replies.map { .success($0) }
        }
    }

    /// True while Redis is considered down (the limiter fails open).
    public var isDegraded: Bool {
        self.state.withLock { state in state.downUntil.map { ContinuousClock.now < $0 } ?? false }
    }

    // KEYS[1]: the keypair's window; KEYS[2]: the signature's replay key (or "" to skip the check).
    // ARGV: now in ms, window in ms, limit, replay memory in seconds.
    static let script = """
        if KEYS[2] ~= '' and not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[4]) then return -1 end
        local now = tonumber(ARGV[1])
        local window = tonumber(ARGV[2])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - window)
        local count = redis.call('ZCARD', KEYS[1])
        if count >= tonumber(ARGV[3]) then return -2 end
        local id = redis.call('INCR', 'manager:ratelimit:seq')
        redis.call('ZADD', KEYS[1], now, tostring(id))
        redis.call('PEXPIRE', KEYS[1], window)
        return tonumber(ARGV[3]) - count - 1
        """
    /// Redis names scripts by their SHA-1.
    static let scriptSHA = Insecure.SHA1.hash(data: Data(script.utf8)).map { String(format: "%02x", $0) }.joined()

    /// Counts one request of `accessKey` against `limit`; refuses `signature` if it was seen (nil: no replay check).
    public func admit(accessKey: AccessKey, limit: Int, signature: String?) async -> Verdict {
        if self.isDegraded { return .unchecked }
        let nowMS = Int(Date().timeIntervalSince1970 * 1000)
        let replayKey = self.refusesReplays ? signature.map { "manager:signature:\($0)" } : nil
        let keys = ["manager:ratelimit:\(accessKey.rawValue)", replayKey ?? ""]
        // Without the rate limit, only the replay check runs (a limit no window reaches).
        let arguments = [String(nowMS), String(Int(Self.window.components.seconds) * 1000),
                         String(self.limitsRequests ? limit : Int(Int32.max)),
                         String(max(1, self.replayMemory.components.seconds))]
        do {
            let reply = try await self.batches.submit(keys + arguments)
            guard let value = reply.integer else {
                throw RedisError(message: "unexpected reply to the rate-limit script: \(reply)", isConnectionFailure: false)
            }
            self.state.withLock { $0 = (nil, false) }
            switch value {
            case -1: return .replayed
            case -2: return .tooManyRequests
            default: return .allowed(remaining: max(0, value))
            }
        } catch {
            let first = self.state.withLock { state -> Bool in
                state.downUntil = ContinuousClock.now + self.retryAfter
                defer { state.warned = true }
                return !state.warned
            }
            if first {
                self.logger.warning("rate limiter unavailable: failing open", metadata: ["error": "\(error)"])
            }
            return .unchecked
        }
    }
}
