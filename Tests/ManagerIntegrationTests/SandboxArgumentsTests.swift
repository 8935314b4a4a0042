import Foundation
import SchedulerKit
import Glibc
import Testing
@testable import ManagerCore

/// The pure parts of the sandbox: the bubblewrap command line and the cgroup layout, from values only.
@Suite("Sandbox arguments and cgroup layout")
struct SandboxArgumentsTests {
    static func arguments(network: SandboxSettings.Network, mounts: [SandboxArguments.Mount] = []) -> SandboxArguments {
        SandboxArguments(
            rootSource: "/", rootEntries: [.init(name: "usr", kind: .directory), .init(name: "bin", kind: .symlink("usr/bin"))],
            etcSource: "/etc", etcEntries: [.init(name: "ssl", kind: .directory), .init(name: "passwd", kind: .file)],
            generatedEtc: ["passwd": "/agent/s/sandbox/passwd"], workDir: "/agent/s/work", mounts: mounts, hostname: "job-1",
            network: network, environment: [("A", "1")], command: "echo hi", statusFD: 3)
    }

    static func pairs(_ args: [String], _ flag: String) -> [[String]] {
        var found: [[String]] = []
        for (index, arg) in args.enumerated() where arg == flag && index + 2 < args.count {
            found.append([args[index + 1], args[index + 2]])
        }
        return found
    }

    @Test("namespaces, an unprivileged user, the host's system read-only, our /etc files, /home/work, mounts ro or rw in parent order")
    func layout() throws {
        let mounts = [
            SandboxArguments.Mount(hostPath: "/v/inner", path: try MountPath(alias: "data/inner"), readOnly: false),
            SandboxArguments.Mount(hostPath: "/v/data", path: try MountPath(alias: "data"), readOnly: true),
        ]
        let args = Self.arguments(network: .none, mounts: mounts).options()
        for flag in ["--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--new-session", "--disable-userns", "--clearenv"] {
            #expect(args.contains(flag), "\(flag)")
        }
        #expect(!args.contains("--die-with-parent"), "sessions outlive an agent restart")
        #expect(Self.pairs(args, "--uid").isEmpty == false && args[args.firstIndex(of: "--uid")! + 1] == "1000")
        let ro = Self.pairs(args, "--ro-bind")
        #expect(ro.contains(["/usr", "/usr"]) && ro.contains(["/etc/ssl", "/etc/ssl"]) && ro.contains(["/agent/s/sandbox/passwd", "/etc/passwd"]))
        #expect(!ro.contains(["/etc/passwd", "/etc/passwd"]), "the host's passwd is never shown")
        #expect(Self.pairs(args, "--symlink").contains(["usr/bin", "/bin"]))
        let binds = Self.pairs(args, "--bind")
        #expect(binds.first == ["/agent/s/work", "/home/work"])
        #expect(ro.contains(["/v/data", "/home/work/data"]) && binds.contains(["/v/inner", "/home/work/data/inner"]))
        let parent = try #require(args.firstIndex(of: "/home/work/data"))
        let child = try #require(args.firstIndex(of: "/home/work/data/inner"))
        #expect(parent < child, "a folder inside another is bound after it")
        #expect(Self.pairs(args, "--setenv").contains(["A", "1"]))
        #expect(args.suffix(2) == ["--json-status-fd", "3"])
        let line = Self.arguments(network: .none).commandLine(bwrap: "/usr/bin/bwrap", argsFD: 4)
        #expect(line.prefix(6) == ["/usr/bin/bwrap", "--args", "4", "--", "/bin/sh", "-c"] && line.suffix(2) == ["session", "echo hi"])
        #expect(line[6].contains(">&\(SandboxArguments.startedFD)") && line[6].hasSuffix("exec /bin/sh -c \"$1\""))
    }

    @Test("with the agent's /etc base: /etc bound whole, only its folders and the session's own files on top")
    func etcBase() {
        var arguments = Self.arguments(network: .none)
        arguments.etcBase = "/agent/sandbox-etc"
        arguments.generatedEtc = ["hosts": "/agent/s/sandbox/hosts"]
        let ro = Self.pairs(arguments.options(), "--ro-bind")
        #expect(ro.contains(["/agent/sandbox-etc", "/etc"]) && ro.contains(["/etc/ssl", "/etc/ssl"]))
        #expect(ro.contains(["/agent/s/sandbox/hosts", "/etc/hosts"]))
        #expect(!ro.contains { $0[0] == "/etc/passwd" }, "files come from the base, never the host's own")
        let etc = ro.firstIndex(of: ["/agent/sandbox-etc", "/etc"]) ?? 99
        let ssl = ro.firstIndex(of: ["/etc/ssl", "/etc/ssl"]) ?? -1
        #expect(etc < ssl)
    }

    @Test("the network policy: host shares the namespace, none gets an empty one, outbound starts in its prepared one and keeps its helpers' pipe")
    func network() {
        let host = Self.arguments(network: .host).options()
        let none = Self.arguments(network: .none).options()
        let outbound = Self.arguments(network: .outbound).options()
        #expect(!host.contains("--unshare-net") && !host.contains("--sync-fd"))
        #expect(none.contains("--unshare-net") && !none.contains("--sync-fd"))
        #expect(!outbound.contains("--unshare-net"))
        #expect(outbound.firstIndex(of: "--sync-fd").map { outbound[$0 + 1] } == String(SandboxArguments.lifetimeFD))
        let namespace = NetworkNamespacePool.Namespace(holder: 4242, slirp: 4243, lifetime: -1)
        #expect(namespace.enter(nsenter: "/usr/bin/nsenter") == ["/usr/bin/nsenter", "--net=/proc/4242/ns/net", "--"])
    }

    @Test("the launcher gives each inherited descriptor its place even when one's number is where another is copied first")
    func inheritedDescriptors() throws {
        // Copies are made above 100 before each goes to its place. A pipe end numbered where an earlier one's copy
        // would land (100 + its index) must still reach the child as its own descriptor.
        var first: [Int32] = [-1, -1]
        var second: [Int32] = [-1, -1]
        #expect(pipe(&first) == 0 && pipe(&second) == 0)
        let high = fcntl(second[1], F_DUPFD, 100)
        let other = fcntl(first[1], F_DUPFD, 100)
        close(first[1])
        close(second[1])
        defer { [first[0], second[0]].forEach { close($0) } }
        let index = Int(high) - 100
        try #require(high >= 100 && other >= 100 && index < 200, "descriptors \(high), \(other)")
        var descriptors = [ProcessLauncher.Descriptor](repeating: .null, count: index + 2)
        descriptors[index] = .inherit(other)
        descriptors[index + 1] = .inherit(high)
        let pid = try ProcessLauncher.spawnDirectly(
            ["/usr/bin/python3", "-c", "import os, sys; os.write(int(sys.argv[1]), b'one'); os.write(int(sys.argv[2]), b'two')",
             String(index), String(index + 1)],
            descriptors: descriptors, environment: ["PATH": "/usr/bin:/bin"])
        #expect(ProcessLauncher.reapBlocking(pid) == 0)
        func read(_ fd: Int32) -> String {
            var buffer = [UInt8](repeating: 0, count: 64)
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            return String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
        }
        close(high)
        close(other)
        #expect(read(first[0]) == "one")
        #expect(read(second[0]) == "two")
    }

    @Test("cgroup v1 hybrid (this machine's shape): per-controller folders under the agent's own paths")
    func v1() throws {
        let cgroup = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n2:cpuacct:/\n1:cpu:/\n0::/\n"
        let mountinfo = """
            30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
            31 25 0:27 / /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu
            32 25 0:28 / /sys/fs/cgroup/cpuacct rw,nosuid - cgroup cgroup rw,cpuacct
            33 25 0:29 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
            34 25 0:30 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
            """
        let layout = try #require(CGroupLayout.detect(cgroupFile: cgroup, mountinfo: mountinfo))
        #expect(layout.version == .v1)
        let folders = layout.sessionFolders("s1")
        #expect(folders["memory"] == "/sys/fs/cgroup/memory/process_api/abc/manager-sessions/s1")
        #expect(folders["cpu"] == "/sys/fs/cgroup/cpu/manager-sessions/s1")
        #expect(folders["cpuacct"] == "/sys/fs/cgroup/cpuacct/manager-sessions/s1")
        #expect(folders["pids"] == "/sys/fs/cgroup/pids/manager-sessions/s1")
    }

    @Test("cgroup v2 (unified) and co-mounted cpu,cpuacct; escaped mount points")
    func v2() throws {
        let layout = try #require(CGroupLayout.detect(
            cgroupFile: "0::/system.slice/manager.service\n",
            mountinfo: "25 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"))
        #expect(layout.version == .v2)
        #expect(layout.sessionFolders("s1") == ["unified": "/sys/fs/cgroup/system.slice/manager.service/manager-sessions/s1"])
        let comounted = try #require(CGroupLayout.detect(
            cgroupFile: "3:cpu,cpuacct:/a\n2:memory:/a\n1:pids:/a\n",
            mountinfo: """
                1 1 0:1 / /cg/cpu\\040acct rw - cgroup cgroup rw,cpu,cpuacct
                2 1 0:2 / /cg/memory rw - cgroup cgroup rw,memory
                3 1 0:3 / /cg/pids rw - cgroup cgroup rw,pids
                """))
        let folders = comounted.sessionFolders("s")
        #expect(folders["cpu"] == "/cg/cpu acct/a/manager-sessions/s" && folders["cpuacct"] == nil)
        #expect(CGroupLayout.detect(cgroupFile: "", mountinfo: "") == nil)
    }

    @Test("a report's cause: oom-killed is read, one this manager does not know is none (the report is kept)")
    func reportCause() throws {
        let id = UUID()
        func decode(_ cause: String) throws -> AgentProtocol.SessionReport {
            try JSONDecoder().decode(AgentProtocol.SessionReport.self, from: Data(
                #"{"session_id": "\#(id.uuidString)", "status": "TERMINATED", "exit_code": 137, "cause": \#(cause)}"#.utf8))
        }
        #expect(try decode(#""oom-killed""#).cause == .oomKilled)
        let unknown = try decode(#""disk-full""#)
        #expect(unknown.cause == nil && unknown.exitCode == 137 && unknown.sessionID == id)
        #expect(try decode("42").cause == nil)
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(AgentProtocol.SessionReport.self, from: Data(#"{"status": "TERMINATED"}"#.utf8))
        }
    }

    @Test("bubblewrap's status: the child's pid, then the exit code")
    func status() {
        let text = "{ \"child-pid\": 17515, \"pid-namespace\": 4026532181 }\n{ \"exit-code\": 137 }\n"
        #expect(SandboxStatus.number(after: "\"child-pid\"", in: text) == 17515)
        #expect(SandboxStatus.number(after: "\"exit-code\"", in: text) == 137)
        #expect(SandboxStatus.number(after: "\"exit-code\"", in: "{ \"child-pid\": 1 }") == nil)
    }
}
