/// What `backend.ai run` asks a session to execute, as the shell command its agent runs in the session's sandbox.
/// The user's text never becomes shell syntax: it travels in environment variables the command names
/// (`"$BACKENDAI_CODE"`), so no quoting can break out.
///
/// - `query` (`run -c CODE`): CODE in the image's language, for images whose language is known
///   (`interpreter(forImage:)`); others are refused with a message saying to use `--exec`.
/// - `batch` (`run --exec CMD [--build CMD] FILES…`): shell commands in `/home/work`, the build first (a failed
///   build ends the run with its exit code), `*` meaning none, as the CLI sends it.
public enum ExecutionCommand {
    public static let maxCodeBytes = 64 << 10

    public struct Script: Equatable, Sendable {
        public let command: String
        public let environment: [String: String]
        /// The process reads answers on its stdin and says when it waits for one (`ExecutionOutputScanner`'s
        /// markers): Python code, whose `input()` and `getpass()` the prelude replaces.
        public var acceptsInput = false

        public init(command: String, environment: [String: String], acceptsInput: Bool = false) {
            self.command = command
            self.environment = environment
            self.acceptsInput = acceptsInput
        }
    }

    /// Runs `BACKENDAI_CODE` as the main module after replacing `input()` and `getpass.getpass()`: each prints its
    /// prompt, then the waiting-input marker (with whether the answer is secret), and reads one line of stdin, which
    /// the manager fills with the client's answer (`waiting-input`, then mode `input`, as Backend.AI's kernels do).
    static let pythonPrelude = """
        import builtins, getpass, os, sys
        def _backendai_ask(prompt, secret):
            sys.stdout.write(str(prompt))
            sys.stdout.write("\\x1b]1337;backend.ai-input;" + ("password" if secret else "text") + "\\x07")
            sys.stdout.flush()
            line = sys.stdin.readline()
            if not line:
                raise EOFError("EOF when reading a line")
            return line[:-1] if line.endswith("\\n") else line
        builtins.input = lambda prompt="": _backendai_ask(prompt, False)
        getpass.getpass = lambda prompt="Password: ", stream=None: _backendai_ask(prompt, True)
        _backendai_code = os.environ.pop("BACKENDAI_CODE", "")
        os.environ.pop("BACKENDAI_PRELUDE", None)
        _backendai_main = {"__name__": "__main__", "__builtins__": builtins}
        exec(compile(_backendai_code, "<string>", "exec"), _backendai_main)
        """

    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case unknownMode(String)
        case noInterpreter(image: String)
        case tooLong(field: String)
        case nul(field: String)
        case missing(field: String)

        public var description: String {
            switch self {
            case .unknownMode(let mode): return "'mode' '\(mode.prefix(32))' is not supported here (use query or batch)"
            case .noInterpreter(let image):
                return "the language of the image '\(image.prefix(128))' is not known, so '-c' cannot run code in it; run a command with --exec"
            case .tooLong(let field): return "'\(field)' is longer than \(ExecutionCommand.maxCodeBytes) bytes"
            case .nul(let field): return "'\(field)' contains a NUL character"
            case .missing(let field): return "'\(field)' is required"
            }
        }
    }

    /// Image names (the last path part, before the tag) to the interpreter that runs `-c` code.
    static let interpreters: [(prefix: String, command: String)] = [
        ("python", "python3"), ("pytorch", "python3"), ("tensorflow", "python3"), ("jupyter", "python3"),
        ("ngc-pytorch", "python3"), ("ngc-tensorflow", "python3"),
        ("julia", "julia"), ("node", "node"), ("nodejs", "node"), ("ruby", "ruby"), ("perl", "perl"), ("php", "php"),
        ("r-base", "Rscript"), ("lua", "lua"),
        ("busybox", "/bin/sh"), ("alpine", "/bin/sh"), ("ubuntu", "/bin/sh"), ("debian", "/bin/sh"), ("bash", "/bin/sh"),
        ("shell", "/bin/sh"),
    ]

    /// The interpreter for `image` (`python:3.11`, `cr.backend.ai/stable/python-ff:3.9`), if its name is known.
    public static func interpreter(forImage image: String) -> String? {
        let withoutTag = image.split(separator: "@", maxSplits: 1).first.map(String.init) ?? image
        let lastPart = withoutTag.split(separator: "/").last.map(String.init) ?? withoutTag
        let name = (lastPart.split(separator: ":", maxSplits: 1).first.map(String.init) ?? lastPart).lowercased()
        // The longest known prefix, so `ngc-pytorch` wins over nothing and `python-ff` is Python.
        return Self.interpreters.filter { name.hasPrefix($0.prefix) }.max { $0.prefix.count < $1.prefix.count }?.command
    }

    /// The command for one execution request.
    public static func script(mode: String, code: String, options: [String: String?], image: String) -> Result<Script, Problem> {
        func checked(_ field: String, _ text: String) -> Problem? {
            if text.utf8.count > Self.maxCodeBytes { return .tooLong(field: field) }
            if text.utf8.contains(0) { return .nul(field: field) }
            return nil
        }
        switch mode {
        case "query":
            if let problem = checked("code", code) { return .failure(problem) }
            guard let interpreter = Self.interpreter(forImage: image) else { return .failure(.noInterpreter(image: image)) }
            if interpreter == "python3" {
                return .success(Script(
                    command: "exec python3 -c \"$BACKENDAI_PRELUDE\"",
                    environment: ["BACKENDAI_CODE": code, "BACKENDAI_PRELUDE": Self.pythonPrelude], acceptsInput: true))
            }
            let command = interpreter == "/bin/sh"
                ? "exec /bin/sh -c \"$BACKENDAI_CODE\""
                : "exec \(interpreter) -c \"$BACKENDAI_CODE\""
            return .success(Script(command: command, environment: ["BACKENDAI_CODE": code]))
        case "batch":
            var environment: [String: String] = [:]
            var steps: [String] = []
            for field in ["clean", "build", "exec"] {
                guard let value = options[field] ?? nil, !value.isEmpty, value != "*" else {
                    if field == "exec" { return .failure(.missing(field: "options.exec")) }
                    continue
                }
                if let problem = checked("options.\(field)", value) { return .failure(problem) }
                let variable = "BACKENDAI_" + field.uppercased()
                environment[variable] = value
                steps.append(field == "exec" ? "exec /bin/sh -c \"$\(variable)\"" : "/bin/sh -c \"$\(variable)\"")
            }
            return .success(Script(command: steps.joined(separator: " && "), environment: environment))
        default:
            return .failure(.unknownMode(mode))
        }
    }
}
