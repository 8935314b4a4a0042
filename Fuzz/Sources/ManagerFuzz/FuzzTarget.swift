import Foundation

/// The parsers fuzzed, each one entry point from bytes; a finding is a trap (a crash, an overflow, a failed
/// property). Each has a seed corpus in `Fuzz/corpus/<name>/`.
enum FuzzTarget: String, CaseIterable {
    case httpDate = "http-date"
    case authorization
    case json
    case sessionCreate = "session-create"
    case agentProtocol = "agent-protocol"
    case graphql
    case toml
    case amounts
    case requestPath = "request-path"
    case paths
    case multipart

    func run(_ bytes: [UInt8]) {
        switch self {
        case .httpDate: ParserTargets.httpDate(bytes)
        case .authorization: ParserTargets.authorization(bytes)
        case .json: ParserTargets.json(bytes)
        case .sessionCreate: ParserTargets.sessionCreate(bytes)
        case .agentProtocol: ParserTargets.agentProtocol(bytes)
        case .graphql: ParserTargets.graphql(bytes)
        case .toml: ParserTargets.toml(bytes)
        case .amounts: ParserTargets.amounts(bytes)
        case .requestPath: RequestPathTarget.shared.run(bytes)
        case .paths: ParserTargets.paths(bytes)
        case .multipart: ParserTargets.multipart(bytes)
        }
    }

    /// Selected by `FUZZ_TARGET` when run under libFuzzer.
    static let selected: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("set FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        return target
    }()
}

/// A property every input must keep; a violation traps so libFuzzer records the input.
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition {
        FileHandle.standardError.write(Data("property violated: \(message())\n".utf8))
        abort()
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    FuzzTarget.selected.run(bytes)
    return 0
}

#if FUZZING
/// libFuzzer's driver, called from our entry point: SwiftPM links an executable's `main` to `manager_fuzz_main`,
/// so libFuzzer's own `main` is not used.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("manager_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    _ = FuzzTarget.selected
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzOneInput(data, size) }
}
#endif
