import Foundation
import Testing

/// Every fuzz target's corpus (seeds and past findings) replayed by `manager-fuzz` as built for the tests: a
/// finding that comes back fails here, without libFuzzer.
@Suite struct FuzzCorpusTests {
    static let targets = ["http-date", "authorization", "json", "session-create", "agent-protocol", "graphql", "toml", "amounts", "request-path", "paths", "multipart"]

    @Test("each corpus replays without a failure", arguments: Self.targets)
    func replay(target: String) async throws {
        let root = TestEnvironment.repositoryRoot
        let binary = URL(fileURLWithPath: TestEnvironment.managerExecutable).deletingLastPathComponent().appendingPathComponent("manager-fuzz").path
        let corpus = root.appendingPathComponent("Fuzz/corpus/\(target)").path
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus)
        #expect(files.contains { $0.hasPrefix("seed-") }, "no seeds for \(target)")
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        let run = try await runProcess(binary, [target, corpus], environment: environment, timeout: .seconds(120))
        #expect(run.status == 0, "\(target): \(run.stdout.suffix(500)) \(run.stderr.suffix(2000))")
        #expect(run.stdout.contains("\(target): \(files.count) inputs replayed, no failure"), "\(run.stdout)")
    }
}
