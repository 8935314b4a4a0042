import Foundation
import SchedulerKit

/// Carries out the manager's file requests (`AgentProtocol.FileRequest`) on this agent's copy of each session's
/// work folder (`SessionWorkspace.workDir`, the sandbox's `/home/work`), through `FolderFiles`: every path is
/// walked from the folder's root without following a symbolic link, new files get the folder's owner (the
/// sandbox's user), downloads are tar archives capped at `SessionFiles.maxDownloadBytes`.
///
/// Folders mounted into the session are bind mounts inside its sandbox only: here their mount points are empty
/// directories, so their files are reached through the folder (`vfolder download`), not the session.
///
/// Blocking: run `answer` on `BlockingExecutor`.
struct SessionFileHandler: Sendable {
    let agentDir: String

    func answer(_ request: AgentProtocol.FileRequest) -> AgentProtocol.FileResult {
        let workspace = SessionWorkspace(agentDir: self.agentDir, sessionID: request.sessionID)
        guard workspace.has(.started), !workspace.has(.reported),
            FileManager.default.fileExists(atPath: workspace.workDir.path)
        else {
            return .init(id: request.id, problem: .init(.noSession, "The session is not running on this agent."))
        }
        let files = FolderFiles(root: workspace.workDir.path)
        do {
            switch AgentProtocol.FileRequest.Kind(rawValue: request.kind) {
            case .list:
                let path = try Self.path(request.path ?? ".", allowRoot: true)
                let entries = try files.list(path, limit: SessionFiles.maxListEntries).map {
                    AgentProtocol.FileEntry(name: $0.name, kind: $0.kind.rawValue, size: $0.size, mode: $0.mode, modified: $0.modified)
                }
                return .init(id: request.id, entries: entries)
            case .upload:
                for upload in request.uploads ?? [] {
                    guard upload.data.count <= SessionFiles.maxUploadFileBytes else {
                        return .init(id: request.id, problem: .init(.tooLarge, "'\(upload.name.prefix(128))' is larger than \(SessionFiles.maxUploadFileBytes) bytes."))
                    }
                    try files.write(upload.data, to: try Self.path(upload.name, allowRoot: false))
                }
                return .init(id: request.id)
            case .download:
                var archives: [Data] = []
                var total = 0
                for text in request.paths ?? [] {
                    let archive = FolderArchive(files: files, paths: [try Self.path(text, allowRoot: false)])
                    defer { archive.close() }
                    var bytes = Data()
                    while let chunk = try archive.next() {
                        total += chunk.count
                        guard total <= SessionFiles.maxDownloadBytes else {
                            return .init(id: request.id, problem: .init(
                                .tooLarge, "The files are larger than \(SessionFiles.maxDownloadBytes) bytes; move large results through a vfolder."))
                        }
                        bytes.append(contentsOf: chunk)
                    }
                    archives.append(bytes)
                }
                return .init(id: request.id, archives: archives)
            case .execute, .output, .input:
                return .init(id: request.id, problem: .init(.invalid, "Executions are answered by the agent's state."))
            case nil:
                return .init(id: request.id, problem: .init(.invalid, "This agent does not know the file request '\(request.kind.prefix(32))'."))
            }
        } catch let failure as FolderFiles.Failure {
            switch failure {
            case .notFound: return .init(id: request.id, problem: .init(.notFound, failure.description))
            case .io: return .init(id: request.id, problem: .init(.failed, failure.description))
            default: return .init(id: request.id, problem: .init(.invalid, failure.description))
            }
        } catch let problem as AgentProtocol.FileProblem {
            return .init(id: request.id, problem: problem)
        } catch {
            return .init(id: request.id, problem: .init(.failed, "\(error)".prefix(300).description))
        }
    }

    static func path(_ text: String, allowRoot: Bool) throws -> FolderPath {
        switch FolderPath.inWorkFolder(text, allowRoot: allowRoot) {
        case .success(let path): return path
        case .failure(let problem): throw AgentProtocol.FileProblem(.invalid, "'\(text.prefix(128))' \(problem.description).")
        }
    }
}

extension AgentProtocol.FileProblem: Error {}
