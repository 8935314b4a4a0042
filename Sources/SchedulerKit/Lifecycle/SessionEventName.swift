/// The names of session events: the `events` log, the SSE stream's `event:` line and, for those starting with
/// `session_`, webhook deliveries (migration 0008's trigger applies the same prefix rule, so no name is typed twice).
public enum SessionEventName: String, Sendable, Hashable, CaseIterable, Codable {
    case enqueued = "session_enqueued"
    case scheduled = "session_scheduled"
    case preparing = "session_preparing"
    case started = "session_started"
    /// A user restarted it; `session_started` follows when its process runs again.
    case restarting = "session_restarting"
    case terminating = "session_terminating"
    case terminated = "session_terminated"
    case cancelled = "session_cancelled"
    case success = "session_success"
    case failure = "session_failure"
    /// Backend.AI also sends the kernel's own cancellation on the session stream (`scope=kernel`).
    case kernelCancelled = "kernel_cancelled"

    /// Whether webhooks (callback URLs and endpoints) receive it.
    public var isWebhookEvent: Bool { self.rawValue.hasPrefix("session_") }

    /// The SSE scope (`session` or `kernel`) it belongs to.
    public var scope: String { self.rawValue.hasPrefix("kernel_") ? "kernel" : "session" }
}
