import Testing
@testable import SchedulerKit

@Suite("Mount paths and image references")
struct MountPathTests {
    @Test("aliases under /home/work, absolute paths elsewhere; system folders, parents of /home/work and odd parts refused", arguments: [
        ("data", "/home/work/data"), ("sub/data", "/home/work/sub/data"), ("/home/work/data/", "/home/work/data"),
        ("/data", "/data"), ("/srv2/x", "/srv2/x"), ("/home/other", "/home/other"),
    ])
    func accepted(alias: String, path: String) throws {
        let mount = try MountPath(alias: alias)
        #expect(mount.path == path)
        #expect(try MountPath(alias: mount.alias) == mount)
    }

    @Test("refused", arguments: [
        ("", MountPath.Problem.empty), ("/home/work/", .reserved("/home/work")), ("/", .reserved("/")), ("/home", .reserved("/home")),
        ("/home/work", .reserved("/home/work")), ("/usr", .reserved("/usr")), ("/usr/lib/x", .reserved("/usr/lib/x")),
        ("/etc", .reserved("/etc")), ("/proc/1", .reserved("/proc/1")), ("/tmp", .reserved("/tmp")), ("a/../b", .notNormal),
        ("./a", .notNormal), ("a//b", .notNormal), ("a\u{1}b", .notNormal), (".ssh", .reserved(".ssh")),
        ("/home/work/.ssh/keys", .reserved(".ssh")),
    ])
    func refused(alias: String, problem: MountPath.Problem) {
        #expect(throws: problem) { try MountPath(alias: alias) }
    }

    @Test("overlap is by path parts, not by text")
    func overlap() throws {
        let data = try MountPath(alias: "data")
        #expect(data.overlaps(try MountPath(alias: "data/inner")))
        #expect(data.overlaps(try MountPath(alias: "/home/work/data")))
        #expect(!data.overlaps(try MountPath(alias: "data2")))
        #expect(!data.overlaps(try MountPath(alias: "/data")))
    }

    @Test("image references: tag defaults to latest, registry when the first part is a host, store folders cannot escape", arguments: [
        ("python:3.11", "python", "3.11", "local"), ("python", "python", "latest", "local"),
        ("cr.backend.ai/stable/python:3.9", "cr.backend.ai/stable/python", "3.9", "cr.backend.ai"),
        ("localhost:5000/tiny", "localhost:5000/tiny", "latest", "localhost:5000"),
    ])
    func images(text: String, name: String, tag: String, registry: String) throws {
        let image = try #require(ImageReference(text))
        #expect(image.name == name && image.tag == tag && image.registry == registry)
        #expect(!image.storeFolder.contains("/") && image.storeFolder != ".." && image.storeFolder != ".")
    }

    @Test("bad image references", arguments: ["", "a b", "../x:1", "x/../y", "x:", "x\u{0}", String(repeating: "a", count: 300)])
    func badImages(text: String) {
        #expect(ImageReference(text) == nil)
    }
}
