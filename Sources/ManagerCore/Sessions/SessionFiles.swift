import Foundation
import HTTPTypes
import SchedulerKit

/// The use cases behind `session upload|download|ls`: files in a running session's work folder (`/home/work`),
/// carried out by the session's agent. A call finds the caller's session, queues one request for its agent
/// (`PostgresSessionFileStore`), and waits for the answer, woken by `session_file_results` on whichever replica
/// the agent synced with. Sizes are bounded as Backend.AI bounds them (the channel is for a script or a result
/// file; a folder's data goes through vfolders).
struct SessionFiles: Sendable {
    static let maxUploadFiles = 20
    static let maxUploadFileBytes = 1 << 20
    static let maxDownloadFiles = 5
    static let maxDownloadBytes = 16 << 20
    static let maxListEntries = 10_000
    /// How long a call waits for the agent's answer.
    static let answerTimeout: Duration = .seconds(30)

    let sessions: SessionService
    let store: PostgresSessionFileStore
    let signal: EventSignal

    struct Listing: Sendable {
        let directory: String
        let entries: [AgentProtocol.FileEntry]
    }

    func list(_ reference: String, owner: AccessKey, caller: Identity, path text: String) async throws -> Listing {
        let path = try Self.path(text, field: "path", allowRoot: true)
        let session = try await self.running(reference, owner: owner, caller: caller)
        let result = try await self.ask(.init(id: 0, sessionID: session.id, kind: .list, path: path.description), session)
        let directory = path.isRoot ? FolderPath.workFolder : FolderPath.workFolder + "/" + path.description
        return Listing(directory: directory, entries: result.entries ?? [])
    }

    func upload(_ reference: String, owner: AccessKey, caller: Identity, files: [AgentProtocol.Upload]) async throws {
        guard !files.isEmpty else { throw APIError.invalidAPIParams("'src': no files were attached.") }
        guard files.count <= Self.maxUploadFiles else {
            throw APIError.invalidAPIParams("'src': at most \(Self.maxUploadFiles) files per upload.")
        }
        for file in files {
            _ = try Self.path(file.name, field: "src.filename", allowRoot: false)
        }
        let session = try await self.running(reference, owner: owner, caller: caller)
        _ = try await self.ask(.init(id: 0, sessionID: session.id, kind: .upload, uploads: files), session)
    }

    func download(_ reference: String, owner: AccessKey, caller: Identity, paths texts: [String]) async throws -> [Data] {
        guard !texts.isEmpty else { throw APIError.invalidAPIParams("'files': name at least one file.") }
        guard texts.count <= Self.maxDownloadFiles else {
            throw APIError.invalidAPIParams("'files': at most \(Self.maxDownloadFiles) files per download.")
        }
        let paths = try texts.map { try Self.path($0, field: "files", allowRoot: false).description }
        let session = try await self.running(reference, owner: owner, caller: caller)
        let result = try await self.ask(.init(id: 0, sessionID: session.id, kind: .download, paths: paths), session)
        guard let archives = result.archives, archives.count == paths.count else {
            throw APIError(status: .badGateway, kind: "agent-error", title: "The agent answered wrongly.",
                           msg: "The agent sent \(result.archives?.count ?? 0) archives for \(paths.count) paths.")
        }
        return archives
    }

    // MARK: -

    static func path(_ text: String, field: String, allowRoot: Bool) throws -> FolderPath {
        switch FolderPath.inWorkFolder(text, allowRoot: allowRoot) {
        case .success(let path): return path
        case .failure(let problem):
            throw APIError.invalidAPIParams("'\(field)' '\(text.prefix(128))' \(problem.description) of /home/work.")
        }
    }

    func running(_ reference: String, owner: AccessKey, caller: Identity) async throws -> SessionRecord {
        let session = try await self.sessions.find(reference, owner: owner, caller: caller)
        guard session.status == .running, session.agentID != nil else {
            throw APIError.conflict(
                "invalid-session-state", title: "The session is not running.",
                msg: "The session '\(session.name)' is \(session.status.rawValue); its files can be reached only while it is RUNNING.")
        }
        return session
    }

    /// Queues `request` for the session's agent and waits for its answer; its problem as the API's.
    func ask(_ request: AgentProtocol.FileRequest, _ session: SessionRecord) async throws -> AgentProtocol.FileResult {
        guard let agentID = session.agentID else { throw APIError.conflict("invalid-session-state", title: "The session is not running.", msg: "No agent holds it.") }
        let id = try await self.store.queue(request, agentID: agentID)
        await self.signal.expectFileResult(id)
        let deadline = ContinuousClock.now + Self.answerTimeout
        var answer: AgentProtocol.FileResult?
        do {
            while answer == nil {
                answer = try await self.store.take(id)
                guard answer == nil else { break }
                let left = deadline - ContinuousClock.now
                guard left > .zero else { break }
                // A lost notification costs at most a second.
                await self.signal.waitForFileResult(id, timeout: min(left, .seconds(1)))
            }
        } catch {
            await self.signal.forgetFileResult(id)
            throw error
        }
        await self.signal.forgetFileResult(id)
        guard let answer else {
            try? await self.store.withdraw(id)
            throw APIError(status: .gatewayTimeout, kind: "agent-timeout", title: "The agent did not answer.",
                           msg: "The agent '\(agentID)' did not answer within \(Self.answerTimeout.components.seconds) seconds.")
        }
        if let problem = answer.problem { throw Self.apiError(problem) }
        return answer
    }

    static func apiError(_ problem: AgentProtocol.FileProblem) -> APIError {
        switch problem.kind {
        case .notFound: return .notFound("file-not-found", title: "No such file.", msg: problem.message)
        case .invalid: return .invalidAPIParams(problem.message)
        case .tooLarge:
            return APIError(status: .contentTooLarge, kind: "too-large", title: "The files are too large.", msg: problem.message)
        case .noSession:
            return .conflict("invalid-session-state", title: "The session is not running on its agent.", msg: problem.message)
        case .failed: return APIError(status: .badGateway, kind: "agent-error", title: "The agent failed.", msg: problem.message)
        }
    }
}
