import Foundation
import SchedulerKit

/// The use cases behind `/session`: each finds the caller's session where it needs one, then makes the one store
/// call that does the work (itself one transaction). Routes decode, call one method, encode. Failures are the
/// API's problems (`APIError`), so every route reports them alike.
struct SessionService: Sendable {
    let sessions: any SessionStore
    /// Set when only imported images may run (`[agent.local] require_images`).
    var requiredImages: (any ImageCatalog)? = nil
    /// Wakes a create that waits for its session to start (nil: creates answer at once).
    var events: EventBroadcaster? = nil

    /// The longest a create without `enqueueOnly` holds its request (then it answers `TIMEOUT`; the session
    /// stays queued).
    static let maxCreateWait: Duration = .seconds(600)

    /// Waits until session `id` is RUNNING or has ended (a quick batch session), woken by its own events (no
    /// polling); returns its status then, or nil after `timeout` (Backend.AI's `TIMEOUT`).
    func awaitStart(_ id: UUID, timeout: Duration) async throws -> SessionStatus? {
        guard let events = self.events else { return nil }
        // Subscribed before the first look: an event between the look and the wait still wakes it.
        let subscription = events.subscribe(.session(id), bufferSize: 16)
        defer { events.unsubscribe(subscription) }
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = try await self.sessions.session(id: id)?.status, status == .running || status.hasEnded {
                return status
            }
            let woken = await withTaskGroup(of: Bool.self) { group in
                group.addTask { await subscription.next() != nil }
                group.addTask {
                    try? await Task.sleep(until: deadline)
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            guard woken, ContinuousClock.now < deadline else {
                let status = try await self.sessions.session(id: id)?.status
                return status.flatMap { $0 == .running || $0.hasEnded ? $0 : nil }
            }
        }
    }

    /// Enqueues a session (or finds the live one of that name, with `reuseIfExists`).
    func create(_ creation: SessionCreation) async throws -> EnqueueOutcome {
        if let catalog = self.requiredImages {
            guard let reference = ImageReference(creation.image),
                try await catalog.image(reference, architecture: creation.architecture) != nil
            else {
                throw APIError.notFound(
                    "image-not-found", title: "Unknown image",
                    msg: "The image '\(creation.image.prefix(128))' (\(creation.architecture.prefix(32))) is not imported; see `manager image import`.")
            }
        }
        do {
            return try await self.sessions.enqueue(creation)
        } catch let refusal as SessionStoreRefusal {
            throw SessionRoutes.apiError(refusal)
        }
    }

    /// The session `reference` (a name or an id) of `owner`, if the caller may see it; with `anyOwnerForAdmins`, an
    /// admin's id finds the session whoever owns it.
    func find(_ reference: String, owner: AccessKey, caller: Identity, anyOwnerForAdmins: Bool = false) async throws -> SessionRecord {
        var found = try await self.sessions.session(nameOrID: reference, owner: owner)
        if found == nil, anyOwnerForAdmins, caller.isAdmin, let id = UUID(uuidString: reference) {
            found = try await self.sessions.session(id: id)
        }
        guard let session = found, caller.isAdmin || session.accessKey == caller.accessKey
        else {
            throw APIError.notFound("session-not-found", title: "No such session.", msg: "No session named or with id '\(reference)'.")
        }
        // Looking at a running session is activity on it (`idle_timeout`); a failed write only delays nothing.
        if session.status == .running { try? await self.sessions.touch(session.id) }
        return session
    }

    /// Destroys the session (and, recursively, its dependents first); returns the sessions whose status changed.
    func destroy(
        _ reference: String, owner: AccessKey, caller: Identity, recursive: Bool, forced: Bool
    ) async throws -> (session: SessionRecord, changed: [SessionRecord]) {
        let session = try await self.find(reference, owner: owner, caller: caller)
        if session.status.isDead && !recursive { throw SessionRoutes.apiError(.alreadyEnded(session.name)) }
        return (session, try await self.sessions.destroy(session.id, recursive: recursive, forced: forced))
    }

    /// Restarts the session's process (`PATCH /session/{name}`): RUNNING interactive or inference sessions only.
    func restart(_ reference: String, owner: AccessKey, caller: Identity) async throws -> SessionRecord {
        let session = try await self.find(reference, owner: owner, caller: caller)
        if let refusal = try await self.sessions.restart(session.id) {
            let why = session.type == .batch
                ? "A batch session's process is its task; start a new session to run it again."
                : "Only a RUNNING session can be restarted; '\(session.name)' is \(refusal.from.rawValue)."
            throw APIError.conflict("invalid-session-state", title: "The session cannot be restarted now.", msg: why)
        }
        // As Backend.AI's restart, the answer comes when the session runs again (or after `maxRestartWait`; it then
        // goes on restarting), woken by its events.
        _ = try await self.awaitStart(session.id, timeout: Self.maxRestartWait)
        return session
    }

    /// How long a restart request waits for the session to run again (the agent's stop grace, then the start).
    static let maxRestartWait: Duration = .seconds(60)

    /// Renames the caller's RUNNING session (Backend.AI renames only running ones).
    func rename(_ reference: String, owner: AccessKey, caller: Identity, to name: String) async throws {
        if let problem = SessionName.problem(with: name) { throw APIError.invalidAPIParams("'name': \(problem)") }
        let session = try await self.find(reference, owner: owner, caller: caller)
        do {
            guard try await self.sessions.rename(session.id, to: name) else {
                throw APIError.conflict(
                    "invalid-session-state", title: "The session is not running.",
                    msg: "Only a RUNNING session can be renamed; '\(session.name)' is \(session.status.rawValue).")
            }
        } catch let refusal as SessionStoreRefusal {
            throw SessionRoutes.apiError(refusal)
        }
    }

    /// What the session's agent reported of its output.
    func logs(_ reference: String, owner: AccessKey, caller: Identity) async throws -> String {
        let session = try await self.find(reference, owner: owner, caller: caller)
        return try await self.sessions.logs(of: session.id)
    }

    /// The session's dependency graph, or nil when it vanished meanwhile.
    func dependencyGraph(_ reference: String, owner: AccessKey, caller: Identity) async throws -> DependencyNode? {
        let session = try await self.find(reference, owner: owner, caller: caller)
        return try await self.sessions.dependencyGraph(of: session.id)
    }
}
