import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// The embedded agent's sandbox, with real bubblewrap, real cgroups and slirp4netns: what a session can and cannot
/// reach. Nothing here is skipped: on a machine that cannot sandbox the daemon refuses to start and these fail
/// with its message.
@Suite("Session sandbox", .serialized)
struct SandboxTests {
    struct Setup {
        let manager: ManagerProcess
        let cli: BackendAICLI
        let pool: PostgresPool
        let volume: URL
        let probe: SessionProbe

        func logs(_ name: String) async throws -> String {
            try await self.pool.query(
                "SELECT l.content FROM session_logs l JOIN sessions s ON s.id = l.session_id WHERE s.name = \(name)"
            ).first?.decode("content", as: String.self) ?? ""
        }

        func folder(_ name: String) async throws -> String {
            let row = try #require(try await self.pool.query("SELECT id FROM vfolders WHERE name = \(name) ORDER BY created_at DESC LIMIT 1").first)
            let id: UUID = try row.decode("id")
            return self.volume.path + "/" + id.uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        }

        func finished(_ names: [String], timeout: Duration = .seconds(60)) async throws -> [String: SessionProbe.Row] {
            try await self.probe.waitFor(names, in: ["TERMINATED", "ERROR", "CANCELLED"], timeout: timeout)
        }
    }

    static func setUp(agentConfig: String = "") async throws -> Setup {
        let environment = try TestEnvironment.current()
        let volume = try environment.scratchDirectory("volume1")
        let manager = try await ManagerProcess(
            environment,
            extraConfig: agentConfig + "\n" + VFolderTests.storageConfig(volume: volume, rateLimit: "0", lease: "10s"),
            localAgent: .init(cpu: "2", mem: "2g"))
        let cli = BackendAICLI(
            environment: environment, endpoint: manager.endpoint, accessKey: manager.adminAccessKey,
            secretKey: manager.adminSecretKey)
        let pool = manager.database.makePool()
        return Setup(manager: manager, cli: cli, pool: pool, volume: volume, probe: SessionProbe(pool: pool))
    }

    /// max_open_files (65536), or the host's hard limit when that is lower and cannot be raised.
    static var expectedOpenFiles: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 65536 }
        return geteuid() == 0 && limit.rlim_max < 65536 ? Int(limit.rlim_max) : 65536
    }

    /// The port of the test PostgreSQL (from its conninfo).
    static func postgresPort(_ environment: TestEnvironment) -> Int {
        let part = environment.postgresAdmin.split(separator: " ").first { $0.hasPrefix("port=") }
        return part.flatMap { Int($0.dropFirst(5)) } ?? 5432
    }

    @Test("a session runs as uid 1000 with no capabilities and sees only its own folder, processes and descriptors; the manager's state, config, PostgreSQL and Redis are out of reach")
    func isolation() async throws {
        let setup = try await Self.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let environment = setup.manager.environment
        // A neighbour that keeps running, with a marker in its folder and in its command line.
        try await SchedulerFlowTests.batch(setup.cli, "neighbour", "echo secret-of-neighbour > mine.txt; exec sleep 120")
        _ = try await setup.probe.waitFor(["neighbour"], in: ["RUNNING"])
        let state = setup.manager.directory.path
        let pgPort = Self.postgresPort(environment)
        let script = """
            echo "uid=$(id -u) gid=$(id -g) user=$(id -un)"
            echo "host=$(hostname)"
            grep -E '^(CapEff|NoNewPrivs)' /proc/self/status
            ls '\(state)' >/dev/null 2>&1 && echo STATE-VISIBLE || echo state-hidden
            cat '\(setup.manager.configPath)' >/dev/null 2>&1 && echo CONFIG-VISIBLE || echo config-hidden
            ls /root >/dev/null 2>&1 && echo ROOT-VISIBLE || echo root-hidden
            grep -r secret-of-neighbour / --include=mine.txt -s -l 2>/dev/null | head -1 | grep -q . && echo NEIGHBOUR-VISIBLE || echo neighbour-hidden
            ps -eo args | grep -v grep | grep -q 'sleep 120' && echo NEIGHBOUR-PROCESS || echo neighbour-process-hidden
            echo "pids=$(ls /proc | grep -c '^[0-9]')"
            echo "fds=$(ls /proc/self/fd | tr '\\n' ' ')"
            echo hello > /tmp/t && echo "tmp=$(cat /tmp/t)"
            touch /usr/x 2>/dev/null && echo USR-WRITABLE || echo usr-readonly
            echo "home=$HOME pwd=$(pwd) mine=$MINE"
            echo "nofile=$(ulimit -n)"
            python3 - <<'EOF'
            import socket
            for name, host, port in [("pg-loopback", "127.0.0.1", \(pgPort)), ("redis-loopback", "127.0.0.1", \(environment.redisPort)),
                                     ("pg-host", "10.0.2.2", \(pgPort)), ("manager", "10.0.2.2", \(setup.manager.port))]:
                s = socket.socket(); s.settimeout(2)
                try:
                    s.connect((host, port)); print(name, "REACHED")
                except OSError:
                    print(name, "unreachable")
            EOF
            """
        try await SchedulerFlowTests.batch(setup.cli, "prober", script, extra: ["-e", "MINE=value-of-mine"])
        let rows = try await setup.finished(["prober"])
        #expect(rows["prober"]?.result == "SUCCESS", "\(String(describing: rows["prober"]))")
        let out = try await setup.logs("prober")
        for expected in [
            "uid=1000 gid=1000 user=work", "host=prober", "CapEff:\t0000000000000000", "NoNewPrivs:\t1", "state-hidden",
            "config-hidden", "root-hidden", "neighbour-hidden", "neighbour-process-hidden", "tmp=hello", "usr-readonly",
            "home=/home/work pwd=/home/work mine=value-of-mine", "pg-loopback unreachable", "redis-loopback unreachable",
            "pg-host unreachable", "manager unreachable", "nofile=\(Self.expectedOpenFiles)",
        ] {
            #expect(out.contains(expected), "missing '\(expected)' in:\n\(out)")
        }
        // Its own processes only (bubblewrap's init, the shell, ls), and descriptors 0-2 (+ the one ls reads with).
        let pids = out.split(separator: "\n").first { $0.hasPrefix("pids=") }.flatMap { Int($0.dropFirst(5)) } ?? 99
        #expect(pids <= 5, "\(out)")
        let fds = out.split(separator: "\n").first { $0.hasPrefix("fds=") }.map { $0.dropFirst(4).split(separator: " ") } ?? []
        #expect(fds.count <= 4 && fds.prefix(3) == ["0", "1", "2"], "\(out)")
        _ = try await setup.cli.run(["session", "rm", "neighbour"])
    }

    @Test("vfolders: a rw mount at /home/work/<name> is written and a later session reads it; an ro mount cannot be written; the CLI's -v flow and logs work")
    func mounts() async throws {
        let setup = try await Self.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        _ = try await setup.cli.run(["vfolder", "create", "shared", "local:volume1"])
        let ro = try await setup.cli.run(["vfolder", "create", "--permission", "ro", "frozen", "local:volume1"])
        #expect(ro.status == 0, "\(ro.stdout) \(ro.stderr)")
        try "kept safe\n".write(toFile: try await setup.folder("frozen") + "/file", atomically: true, encoding: .utf8)

        try await SchedulerFlowTests.batch(setup.cli, "writer", "echo from-writer > /home/work/shared/note && echo wrote", extra: ["-v", "shared"])
        #expect(try await setup.finished(["writer"])["writer"]?.result == "SUCCESS")
        #expect(try String(contentsOfFile: try await setup.folder("shared") + "/note", encoding: .utf8) == "from-writer\n")

        // The official CLI flow: create with -v, then `session logs`.
        let reader = try await setup.cli.run(
            ["session", "create", "--type", "batch", "-v", "shared", "-c", "cat /home/work/shared/note", "-t", "reader", "python:3.11"])
        #expect(reader.status == 0, "\(reader.stderr)")
        let row = try #require(try await setup.finished(["reader"])["reader"])
        #expect(row.result == "SUCCESS", "\(row)")
        let logs = try await setup.cli.run(["session", "logs", row.id.uuidString.lowercased()])
        #expect(logs.stdout.contains("from-writer"), "\(logs.stdout) \(logs.stderr)")

        try await SchedulerFlowTests.batch(
            setup.cli, "ro-writer",
            "cat frozen/file; echo changed > frozen/file 2>/dev/null && echo RO-WRITTEN || echo ro-refused; touch frozen/new 2>/dev/null && echo RO-CREATED || echo ro-create-refused",
            extra: ["-v", "frozen"])
        #expect(try await setup.finished(["ro-writer"])["ro-writer"]?.result == "SUCCESS")
        let out = try await setup.logs("ro-writer")
        #expect(out.contains("kept safe") && out.contains("ro-refused") && out.contains("ro-create-refused"), "\(out)")
        #expect(try String(contentsOfFile: try await setup.folder("frozen") + "/file", encoding: .utf8) == "kept safe\n")

        // An absolute mount path outside /home/work is honoured; a system folder is refused at enqueue.
        let absolute = try await setup.manager.admin.send(.POST, "/session", json: [
            "name": "absolute", "image": "python:3.11", "type": "batch", "startupCommand": "cat /data/note",
            "config": ["mounts": ["shared"], "mount_map": ["shared": "/data"]],
        ])
        #expect(absolute.status == 201, "\(absolute.text)")
        #expect(try await setup.finished(["absolute"])["absolute"]?.result == "SUCCESS")
        #expect(try await setup.logs("absolute").contains("from-writer"))
        let system = try await setup.manager.admin.send(.POST, "/session", json: [
            "name": "over-usr", "image": "python:3.11", "type": "batch", "startupCommand": "true",
            "config": ["mounts": ["shared"], "mount_map": ["shared": "/usr/lib"]],
        ])
        #expect(system.status == 400 && system.text.contains("reserved"), "\(system.text)")
    }

    @Test("limits: a session over its memory slot ends FAILURE oom-killed with the reason in its logs and events; a fork bomb stays inside pids_limit; live_stat reports use")
    func limits() async throws {
        let setup = try await Self.setUp(agentConfig: "pids_limit = 64")
        defer { Task { [pool = setup.pool] in await pool.close() } }
        try await SchedulerFlowTests.batch(
            setup.cli, "memhog", "python3 -c 'x = bytearray(400 << 20); print(len(x))'", extra: ["-r", "mem=128m"])
        let hog = try #require(try await setup.finished(["memhog"])["memhog"])
        #expect(hog.status == "TERMINATED" && hog.statusInfo == "oom-killed" && hog.result == "FAILURE", "\(hog)")
        #expect(try await setup.logs("memhog").contains("out of memory"))
        let events = try await setup.manager.admin.events("/events/session?name=memhog", count: 6)
        #expect(events.contains { $0.event == "session_failure" && $0.data.contains("oom-killed") }, "\(events)")

        // 200 children wanted, 64 processes allowed: forks fail inside, the session ends, nothing is left behind.
        let bomb = """
            python3 -c '
            import os, time
            forked = 0
            for i in range(200):
                try:
                    if os.fork() == 0:
                        os.execvp("sleep", ["sleep", "4321"])
                    forked += 1
                except OSError:
                    pass
            print("forked", forked, "running", len([p for p in os.listdir("/proc") if p.isdigit()]))
            '
            """
        try await SchedulerFlowTests.batch(setup.cli, "forker", bomb)
        #expect(try await setup.finished(["forker"])["forker"]?.result == "SUCCESS")
        let out = try await setup.logs("forker")
        let words = out.split(separator: " ")
        let forked = words.firstIndex(of: "forked").flatMap { Int(words[$0 + 1]) } ?? 999
        let running = words.firstIndex(of: "running").flatMap { Int(words[$0 + 1].trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 999
        #expect(forked < 64 && running <= 64, "\(out)")
        try await eventually("no sleep 4321 left on the host") { !Self.hostHasProcess(matching: "sleep 4321") }

        // cpu = 0.5: a busy loop gets about half a processor (the cfs quota), whatever the machine has.
        try await SchedulerFlowTests.batch(
            setup.cli, "spinner", "python3 -c 'import os, time\nt = time.time()\nwhile time.time() - t < 2: pass\nu = os.times()\nprint(\"share\", (u.user + u.system) / (time.time() - t))'",
            extra: ["-r", "cpu=0.5"])
        #expect(try await setup.finished(["spinner"])["spinner"]?.result == "SUCCESS")
        let spun = try await setup.logs("spinner").split(separator: " ")
        let share = spun.firstIndex(of: "share").flatMap { Double(spun[$0 + 1].trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 9
        #expect(share < 0.7, "cpu share \(share) with a 0.5 quota")

        // live_stat while running, last_stat after: the agent's cgroup figures.
        try await SchedulerFlowTests.batch(setup.cli, "measured", "python3 -c 'x = bytearray(50 << 20); import time; time.sleep(8)'")
        _ = try await setup.probe.waitFor(["measured"], in: ["RUNNING"])
        let id = try #require(try await setup.probe.sessions(named: ["measured"])["measured"]).id
        try await eventually("live_stat to show the session's memory", timeout: .seconds(20)) {
            let reply = try await setup.manager.admin.send(.POST, "/admin/gql", json: [
                "query": "query($id: UUID!) { compute_session(id: $id) { containers { live_stat } } }",
                "variables": ["id": id.uuidString.lowercased()],
            ])
            return reply.text.contains("mem") && reply.text.contains("cpu_used") && reply.text.contains("stats.max")
        }
    }

    @Test("network: outbound reaches the host's own address from outside, never its loopback; none reaches nothing")
    func network() async throws {
        let environment = try TestEnvironment.current()
        // A listener on every address of this host; the session dials the host's first non-loopback address.
        let address = try #require(Self.externalAddress(), "the host has no non-loopback IPv4 address for the outbound test")
        let portFile = try environment.scratchDirectory("listener").appendingPathComponent("port").path
        let listener = try spawn(
            "/usr/bin/python3",
            ["-c", "import socket, sys\ns = socket.socket(); s.bind(('0.0.0.0', 0)); s.listen(8)\nopen(sys.argv[1], 'w').write(str(s.getsockname()[1]))\nwhile True:\n    c, _ = s.accept(); c.sendall(b'hello-from-host'); c.close()", portFile],
            environment: [:], currentDirectory: nil, stdout: "/dev/null", stderr: "/dev/null")
        defer { kill(listener, SIGKILL); var status: Int32 = 0; waitpid(listener, &status, 0) }
        var port = 0
        try await eventually("the listener") {
            port = Int((try? String(contentsOfFile: portFile, encoding: .utf8)) ?? "") ?? 0
            return port > 0
        }
        let dial = """
            python3 -c '
            import socket
            for name, host in [("external", "\(address)"), ("loopback", "127.0.0.1"), ("host-loopback", "10.0.2.2")]:
                s = socket.socket(); s.settimeout(3)
                try:
                    s.connect((host, \(port))); print(name, s.recv(64).decode())
                except OSError as e:
                    print(name, "unreachable")
            '
            """
        let outbound = try await Self.setUp(agentConfig: "network = \"outbound\"\nprepared_networks = 2")
        defer { Task { [pool = outbound.pool] in await pool.close() } }
        try await SchedulerFlowTests.batch(outbound.cli, "dialer", dial)
        // Three at once, more than the pool holds: each gets a namespace of its own, never the host's.
        for name in ["net-a", "net-b", "net-c"] {
            try await SchedulerFlowTests.batch(outbound.cli, name, "readlink /proc/self/ns/net; sleep 1")
        }
        _ = try await outbound.finished(["dialer", "net-a", "net-b", "net-c"])
        let out = try await outbound.logs("dialer")
        #expect(out.contains("external hello-from-host") && out.contains("loopback unreachable") && out.contains("host-loopback unreachable"), "\(out)")
        var namespaces: Set<String> = []
        for name in ["net-a", "net-b", "net-c"] {
            let text = try await outbound.logs(name).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(text.hasPrefix("net:["), "\(name): \(text)")
            namespaces.insert(text)
        }
        let hostNamespace = try #require(NetworkNamespacePool.namespace(of: "self"))
        #expect(namespaces.count == 3 && !namespaces.contains(hostNamespace), "\(namespaces) host \(hostNamespace)")
        // The used namespaces' helpers end and are reaped (no zombie is left); two fresh ones wait for the next
        // sessions, in namespaces of their own.
        let managerPID = try #require(outbound.manager.processID)
        try await eventually("the pool refilled and every ended helper reaped") {
            let children = Self.children(of: managerPID)
            let ready = children.filter { $0.command == "cat" && NetworkNamespacePool.namespace(of: String($0.pid)) != hostNamespace }
            return ready.count == 2 && !children.contains { $0.state == "Z" }
        }

        // slirp4netns ends with its session (it watches the sandbox's lifetime pipe) even when no agent is left to
        // clean up: the manager and its agent are killed, then the session ends.
        try await SchedulerFlowTests.batch(outbound.cli, "orphaned", "while [ ! -e release ]; do sleep 0.1; done")
        let orphan = try #require(try await outbound.probe.waitFor(["orphaned"], in: ["RUNNING"])["orphaned"])
        try await eventually("its slirp4netns") { Self.slirpAlive(for: orphan.id) }
        _ = try await outbound.manager.stop(signal: SIGKILL)
        let work = outbound.manager.directory.appendingPathComponent("agent/sessions/\(orphan.id.uuidString.lowercased())/work")
        #expect(FileManager.default.createFile(atPath: work.appendingPathComponent("release").path, contents: Data()))
        try await eventually("slirp4netns to end with the session") { !Self.slirpAlive(for: orphan.id) }

        let isolated = try await Self.setUp(agentConfig: #"network = "none""#)
        defer { Task { [pool = isolated.pool] in await pool.close() } }
        try await SchedulerFlowTests.batch(isolated.cli, "dialer", dial)
        _ = try await isolated.finished(["dialer"])
        let none = try await isolated.logs("dialer")
        #expect(none.contains("external unreachable") && none.contains("host-loopback unreachable"), "\(none)")
    }

    /// The processes whose parent is `parent`: pid, state letter and command name, from /proc.
    static func children(of parent: pid_t) -> [(pid: pid_t, state: String, command: String)] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return pids.compactMap { name -> (pid_t, String, String)? in
            guard let pid = pid_t(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, pid_t(fields[1]) == parent else { return nil }
            return (pid, String(fields[0]), String(stat[stat.index(after: open)..<close]))
        }
    }

    /// Whether a slirp4netns of this session (by its cgroup) still runs.
    static func slirpAlive(for session: UUID) -> Bool {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in pids where pid.allSatisfy(\.isNumber) {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                String(decoding: data, as: UTF8.self).hasPrefix("/usr/bin/slirp4netns"),
                let cgroup = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
            else { continue }
            if cgroup.contains(session.uuidString.lowercased()) { return true }
        }
        return false
    }

    /// The host's first non-loopback IPv4 address.
    static func externalAddress() -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return nil }
        defer { freeifaddrs(list) }
        var cursor = list
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == UInt16(AF_INET) else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            let ok = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet -> Bool in
                var raw = inet.pointee.sin_addr
                return inet_ntop(AF_INET, &raw, &text, socklen_t(INET_ADDRSTRLEN)) != nil
            }
            let value = String(cString: text)
            if ok, !value.hasPrefix("127.") { return value }
        }
        return nil
    }

    @Test("destroy kills the whole cgroup: a process that setsid'ed and double-forked dies with its session")
    func destroyKillsEverything() async throws {
        let setup = try await Self.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let created = try await setup.cli.run([
            "session", "create", "-c", "setsid sh -c '(sleep 5432 &) ; sleep 5433' & exec sleep 5434", "-t", "escaper", "python:3.11",
        ])
        #expect(created.status == 0, "\(created.stderr)")
        _ = try await setup.probe.waitFor(["escaper"], in: ["RUNNING"])
        try await eventually("the escapees to run") { Self.hostHasProcess(matching: "sleep 5432") }
        _ = try await setup.cli.run(["session", "rm", "escaper"])
        _ = try await setup.finished(["escaper"], timeout: .seconds(30))
        try await eventually("every process of the session to be gone") {
            !Self.hostHasProcess(matching: "sleep 5432") && !Self.hostHasProcess(matching: "sleep 5433")
                && !Self.hostHasProcess(matching: "sleep 5434")
        }
    }

    @Test("output.log is capped at max_log_size, keeping its newest part with a marker")
    func logCap() async throws {
        let setup = try await Self.setUp(agentConfig: #"max_log_size = "64k""#)
        defer { Task { [pool = setup.pool] in await pool.close() } }
        try await SchedulerFlowTests.batch(
            setup.cli, "chatty", "i=0; while [ $i -lt 20000 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done; echo last-line; while [ ! -e release ]; do sleep 0.1; done")
        let running = try #require(try await setup.probe.waitFor(["chatty"], in: ["RUNNING"])["chatty"])
        let folder = setup.manager.directory.appendingPathComponent("agent/sessions/\(running.id.uuidString.lowercased())")
        // The agent cuts the log as it grows; lines written after a cut make it briefly longer, so the bound is
        // checked once the session has written everything (it then waits for `release`) and the next cut ran.
        func logSize() -> Int {
            (try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent("output.log").path)[.size] as? Int) ?? 0
        }
        try await eventually("the log to be cut, with the last line kept") {
            let text = (try? String(contentsOf: folder.appendingPathComponent("output.log"), encoding: .utf8)) ?? ""
            return text.contains("last-line") && text.contains("output truncated") && logSize() <= 64 << 10
        }
        let size = logSize()
        #expect(size <= 64 << 10, "output.log is \(size) bytes")
        #expect(FileManager.default.createFile(atPath: folder.appendingPathComponent("work/release").path, contents: Data()))
        let row = try #require(try await setup.finished(["chatty"])["chatty"])
        #expect(row.result == "SUCCESS", "\(row)")
        #expect(try await setup.logs("chatty").contains("last-line"))
    }

    @Test("images: `manager image import` registers a busybox root; a session runs on it; `admin image list` shows it; require_images refuses others with 404")
    func images() async throws {
        let environment = try TestEnvironment.current()
        let root = try environment.scratchDirectory("tiny-root")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("bin"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("etc"), withIntermediateDirectories: true)
        let busybox = try #require(["/usr/bin/busybox", "/bin/busybox"].first { FileManager.default.fileExists(atPath: $0) },
                                   "busybox-static is not installed (scripts/test.sh installs it)")
        try FileManager.default.copyItem(atPath: busybox, toPath: root.appendingPathComponent("bin/busybox").path)
        for tool in ["sh", "cat", "ls", "id"] {
            try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("bin/\(tool)").path, withDestinationPath: "busybox")
        }
        try "tiny-image-marker\n".write(to: root.appendingPathComponent("etc/issue"), atomically: true, encoding: .utf8)
        // As a tarball, the way images usually travel.
        let tarball = root.deletingLastPathComponent().appendingPathComponent("tiny-\(UUID().uuidString.prefix(6)).tar").path
        let tar = try await runProcess("/bin/tar", ["-c", "-f", tarball, "-C", root.path, "."], timeout: .seconds(60))
        #expect(tar.status == 0, "\(tar.stderr)")

        let setup = try await Self.setUp(agentConfig: "require_images = true")
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let imported = try await setup.manager.command(["image", "import", "tiny:v1", tarball])
        #expect(imported.status == 0, "\(imported.stderr)")
        let list = try await setup.cli.run(["admin", "image", "list"])
        #expect(list.stdout.contains("tiny") && list.stdout.contains("v1"), "\(list.stdout) \(list.stderr)")

        let created = try await setup.manager.admin.send(.POST, "/session", json: [
            "name": "tiny-run", "image": "tiny:v1", "type": "batch",
            "startupCommand": "cat /etc/issue; ls /usr >/dev/null 2>&1 && echo HOST-USR || echo no-usr; id -u",
        ])
        #expect(created.status == 201, "\(created.text)")
        #expect(try await setup.finished(["tiny-run"])["tiny-run"]?.result == "SUCCESS")
        let out = try await setup.logs("tiny-run")
        #expect(out.contains("tiny-image-marker") && out.contains("no-usr") && out.contains("1000"), "\(out)")

        // A `docker save` tarball: two layers, the second deleting a file of the first with a whiteout.
        let save = try environment.scratchDirectory("docker-save")
        let lower = save.appendingPathComponent("lower"), upper = save.appendingPathComponent("upper")
        try FileManager.default.createDirectory(at: lower.appendingPathComponent("etc"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: upper.appendingPathComponent("etc"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: root.appendingPathComponent("bin"), to: lower.appendingPathComponent("bin"))
        try "gone\n".write(to: lower.appendingPathComponent("etc/old"), atomically: true, encoding: .utf8)
        try "layered\n".write(to: upper.appendingPathComponent("etc/issue"), atomically: true, encoding: .utf8)
        try Data().write(to: upper.appendingPathComponent("etc/.wh.old"))
        for (layer, folder) in [("l1", lower), ("l2", upper)] {
            try FileManager.default.createDirectory(at: save.appendingPathComponent("image/\(layer)"), withIntermediateDirectories: true)
            let made = try await runProcess("/bin/tar", ["-c", "-f", save.appendingPathComponent("image/\(layer)/layer.tar").path, "-C", folder.path, "."], timeout: .seconds(60))
            #expect(made.status == 0, "\(made.stderr)")
        }
        try #"[{"Config": "config.json", "RepoTags": ["layered:v2"], "Layers": ["l1/layer.tar", "l2/layer.tar"]}]"#
            .write(to: save.appendingPathComponent("image/manifest.json"), atomically: true, encoding: .utf8)
        let saved = save.appendingPathComponent("layered.tar").path
        let packed = try await runProcess("/bin/tar", ["-c", "-f", saved, "-C", save.appendingPathComponent("image").path, "."], timeout: .seconds(60))
        #expect(packed.status == 0, "\(packed.stderr)")
        let layered = try await setup.manager.command(["image", "import", "layered:v2", saved])
        #expect(layered.status == 0, "\(layered.stderr)")
        let onLayers = try await setup.manager.admin.send(.POST, "/session", json: [
            "name": "layered-run", "image": "layered:v2", "type": "batch",
            "startupCommand": "cat /etc/issue; cat /etc/old 2>/dev/null || echo whiteout-applied",
        ])
        #expect(onLayers.status == 201, "\(onLayers.text)")
        _ = try await setup.finished(["layered-run"])
        let layeredOut = try await setup.logs("layered-run")
        #expect(layeredOut.contains("layered") && layeredOut.contains("whiteout-applied"), "\(layeredOut)")

        let unknown = try await setup.manager.admin.send(.POST, "/session", json: [
            "name": "not-imported", "image": "python:3.11", "type": "batch", "startupCommand": "true",
        ])
        #expect(unknown.status == 404 && unknown.text.contains("image-not-found"), "\(unknown.text)")
        #expect(try await setup.probe.sessions(named: ["not-imported"]).isEmpty)
    }

    @Test("a sandbox that fails to set up before its command runs is started again, from an empty log")
    func setupRetried() async throws {
        let environment = try TestEnvironment.current()
        // bubblewrap's set-up fails now and then under load ("loopback: Failed RTM_NEWADDR"); here a wrapper found
        // first on the agent's PATH makes the first session start fail that way, then runs the real bubblewrap.
        let fault = try environment.scratchDirectory("bwrap-fault")
        let marks = fault.appendingPathComponent("marks")
        try FileManager.default.createDirectory(at: marks, withIntermediateDirectories: true)
        chmod(fault.path, 0o755)
        chmod(marks.path, 0o777)  // the wrapper runs as the sessions' host user
        let real = try #require(SandboxRuntime.find("bwrap"))
        let wrapper = fault.appendingPathComponent("bwrap")
        try """
            #!/bin/sh
            if [ "$1" = "--args" ] && mkdir "\(marks.path)/failed" 2>/dev/null; then
                echo "bwrap: loopback: Failed RTM_NEWADDR: injected by the test" >&2
                exit 1
            fi
            exec \(real) "$@"
            """.write(to: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper.path, 0o755)
        let volume = try environment.scratchDirectory("volume1")
        let manager = try await ManagerProcess(
            environment, extraConfig: VFolderTests.storageConfig(volume: volume, rateLimit: "0", lease: "10s"),
            localAgent: .init(cpu: "2", mem: "2g"), start: false)
        try await manager.start(environment: ["PATH": fault.path + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
        defer { Task { _ = try? await manager.stop() } }
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let created = try await manager.admin.send(.POST, "/session", json: [
            "name": "retried", "image": "python:3.11", "type": "batch", "startupCommand": "echo ran-once",
        ])
        #expect(created.status == 201, "\(created.text)")
        let row = try #require(try await SessionProbe(pool: pool).waitFor(["retried"], in: ["TERMINATED", "ERROR"])["retried"])
        #expect(row.status == "TERMINATED" && row.result == "SUCCESS", "\(row)")
        #expect(FileManager.default.fileExists(atPath: marks.appendingPathComponent("failed").path), "the fault was not injected")
        let logs = try await pool.query(
            "SELECT l.content FROM session_logs l JOIN sessions s ON s.id = l.session_id WHERE s.name = 'retried'"
        ).first?.decode("content", as: String.self) ?? ""
        #expect(logs.contains("ran-once") && !logs.contains("injected"), "\(logs)")
        #expect(manager.log().contains("the sandbox failed to set up and was started again"), "\(manager.log().suffix(3000))")
    }

    @Test("unsafe or impossible sandboxes refuse to start and say what to do: sandbox = none as root, no bubblewrap")
    func refusals() async throws {
        let environment = try TestEnvironment.current()
        let unsandboxed = try await ManagerProcess(environment, extraConfig: #"sandbox = "none""#, localAgent: .init(), start: false)
        if geteuid() == 0 {
            let refused = try await unsandboxed.runToExit()
                #expect(refused.status != 0 && refused.log.contains("allow_unsandboxed_root"), "\(refused.log.suffix(3000))")
        }
        let allowed = try await ManagerProcess(
            environment, extraConfig: "sandbox = \"none\"\nallow_unsandboxed_root = true", localAgent: .init())
        try await eventually("the warning") { allowed.log().contains("WITHOUT a sandbox") }
        _ = try await allowed.stop()

        let noBubblewrap = try await ManagerProcess(environment, localAgent: .init(), start: false)
        let missing = try await noBubblewrap.runToExit(environment: ["PATH": "/nonexistent"])
        #expect(missing.status != 0 && missing.log.contains("apt-get install bubblewrap"), "\(missing.log.suffix(3000))")
    }

    /// Whether any process on the host has this command line (the session's processes run as the sandbox user).
    static func hostHasProcess(matching text: String) -> Bool {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in pids where pid.allSatisfy(\.isNumber) {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            let line = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            if line.contains(text) && !line.contains("grep") { return true }
        }
        return false
    }
}
