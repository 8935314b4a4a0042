import Foundation
import GraphQL
import NIOHTTP1
import Testing
@testable import ManagerCore

/// The compiled `compute_session_list` path against GraphQLSwift: every document the installed client builds
/// (`Support/cli_documents.py` records them from the client's own code), run by both paths over the same rows,
/// must give the same bytes; documents and requests the plan does not cover are left to GraphQLSwift.
@Suite struct CompiledSessionListTests {
    struct Request: Decodable {
        let query: String
        let variables: [String: Map]
    }

    struct Fixture {
        let pool: PostgresPool
        let context: (Identity) -> GraphQLContext
        let admin: Identity
        let user: Identity
    }

    static func fixture() async throws -> Fixture {
        let environment = try TestEnvironment.current()
        let database = try await TestDatabase.create(environment)
        let pool = database.makePool()
        let keypairs = PostgresKeypairStore(pool: pool)
        let adminKey = try await keypairs.createKeypair(email: "admin@example.com", isAdmin: true)
        let userKey = try await keypairs.createKeypair(email: "user@example.com", isAdmin: false)
        func identity(_ key: KeypairRecord) -> Identity {
            Identity(accessKey: key.accessKey, userID: key.userID, email: key.email, domainName: key.domainName, isAdmin: key.isAdmin)
        }
        // Rows with every kind of value a field writes: escapes of every class (quote, backslash, slash, control
        // characters, non-ASCII), nulls, negative exit codes, JSON numbers that are not integers, mounts, a
        // scheduling time in the history, and enough rows for pages.
        _ = try await pool.query(
            """
            INSERT INTO sessions (id, name, session_type, domain_name, group_id, user_uuid, access_key, scaling_group_name,
                image, tag, requested_slots, occupying_slots, resource_opts, vfolder_mounts, startup_command, starts_at,
                created_at, terminated_at, status, status_info, status_data, status_history, status_changed, result, exit_code)
            SELECT gen_random_uuid(), v.name, v.type, 'default', (SELECT id FROM groups WHERE name = 'default'),
                k.user_id, k.access_key, v.sgroup, v.image, v.tag, v.requested::jsonb, v.occupying::jsonb, '{"shmem": 64}'::jsonb,
                v.mounts::jsonb, v.command, v.starts_at, now() - make_interval(secs => v.age), v.terminated_at, v.status,
                v.info, v.data::jsonb, v.history::jsonb, now() - make_interval(secs => v.age), v.result, v.exit_code
            FROM (VALUES
                ('user@example.com', 'quote-"a"/b\\c', 'interactive', 'default', 'cr.backend.ai/stable/python:3.11',
                 'tag "x" / y', '{"cpu": "1", "mem": "1073741824"}', '{"cpu": 0.5, "mem": 1e20}',
                 '[{"name": "data/x"}, {"name": "ü-folder"}]', E'line1\\nline2\\t\\u0001\\b\\f\\r end', NULL::timestamptz,
                 10, NULL::timestamptz, 'RUNNING', NULL, '{"scheduler": {"msg": "a/b \\"x\\"", "n": [1, 2.25, -3]}}',
                 '{"PENDING": "2026-12-01T00:00:00.000001Z", "SCHEDULED": "2026-12-01T00:00:01.5Z"}', 'UNDEFINED', NULL::int),
                ('user@example.com', '세션-ü', 'batch', NULL, 'python:3.11', NULL, '{}', '{}', '[]', NULL,
                 now() + interval '1 hour', 20, now(), 'TERMINATED', 'user-requested', '{}', '{}', 'FAILURE', -9),
                ('admin@example.com', 'admin-err', 'batch', 'default', 'localhost:5000/lab/img:1', NULL, '{"cpu": "2"}', '{}',
                 '[]', 'sh -c "exit 3"', NULL, 30, now(), 'ERROR', 'agent-lost', '{"error": {"src": "agent"}}', '{}', 'FAILURE', 3),
                ('user@example.com', 'waiting', 'interactive', 'default', 'python:3.11', NULL, '{"cpu": "1"}', '{}', '[]', NULL,
                 NULL, 40, NULL, 'PENDING', NULL, '{"scheduler": {"retries": 4, "failed_predicates": [{"name": "concurrency"}]}}',
                 '{"PENDING": "2026-12-01T00:00:00Z"}', 'UNDEFINED', NULL)
            ) AS v(email, name, type, sgroup, image, tag, requested, occupying, mounts, command, starts_at, age, terminated_at,
                   status, info, data, history, result, exit_code)
            JOIN users u ON u.email = v.email JOIN keypairs k ON k.user_id = u.uuid
            """)
        _ = try await pool.query(
            """
            INSERT INTO sessions (id, name, domain_name, group_id, user_uuid, access_key, image, status, created_at, last_stat)
            SELECT gen_random_uuid(), 'bulk-' || i, 'default', (SELECT id FROM groups WHERE name = 'default'), k.user_id,
                k.access_key, 'python:3.11', CASE WHEN i % 3 = 0 THEN 'RUNNING' WHEN i % 3 = 1 THEN 'TERMINATED' ELSE 'ERROR' END,
                now() - make_interval(secs => 100 + i),
                CASE WHEN i % 2 = 0 THEN '{"cpu_used": {"current": "12.5", "capacity": null}}'::jsonb END
            FROM generate_series(1, 30) AS i, keypairs k WHERE k.user_id = (SELECT uuid FROM users WHERE email = 'user@example.com')
            """)
        _ = try await pool.query(
            """
            INSERT INTO session_dependencies (session_id, depends_on)
            SELECT a.id, b.id FROM sessions a, sessions b
            WHERE (a.name = 'waiting' AND b.name IN ('admin-err', 'bulk-1', 'bulk-2')) OR (a.name = 'bulk-3' AND b.name = 'bulk-4')
            """)
        let stores = (
            sessions: PostgresSessionStore(pool: pool), keypairs: keypairs, groups: PostgresScalingGroupStore(pool: pool),
            agents: PostgresAgentStore(pool: pool), folders: PostgresVFolderStore(pool: pool), images: PostgresImageStore(pool: pool),
            policies: PostgresResourcePolicyStore(pool: pool))
        return Fixture(
            pool: pool,
            context: { identity in
                GraphQLContext(
                    identity: identity, keypairs: stores.keypairs, scalingGroups: stores.groups, sessions: stores.sessions,
                    agents: stores.agents, folders: stores.folders, images: stores.images, policies: stores.policies,
                    keypairCache: nil)
            },
            admin: identity(adminKey), user: identity(userKey))
    }

    /// The documents and variables the client sends, recorded from its own code.
    static func clientRequests() async throws -> [Request] {
        let environment = try TestEnvironment.current()
        let python = URL(fileURLWithPath: environment.clientExecutable).deletingLastPathComponent().appendingPathComponent("python").path
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/ManagerIntegrationTests/Support/cli_documents.py").path
        let run = try await runProcess(python, [script])
        #expect(run.status == 0, "\(run.stderr)")
        return try run.stdout.split(separator: "\n").map { try JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
    }

    /// GraphQLSwift's answer, encoded as `/admin/gql` encodes it.
    static func general(_ schema: GraphQLSchema, _ document: Document, _ variables: [String: Map], _ context: GraphQLContext,
                        operationName: String? = nil) async throws -> (bytes: [UInt8], failed: Bool) {
        let result = try await execute(
            schema: schema, documentAST: document, rootValue: (), context: context, variableValues: variables,
            operationName: operationName)
        return (Array(try GraphQLJSONEncoder().encode(GraphQLRoutes.sanitized(result))), !result.errors.isEmpty)
    }

    @Test("every compute_session_list document the client builds: the compiled path writes GraphQLSwift's bytes")
    func differential() async throws {
        let fixture = try await Self.fixture()
        defer { Task { [pool = fixture.pool] in await pool.close() } }
        let schema = try ManagerGraphQLSchema.make()
        let requests = try await Self.clientRequests()
        #expect(requests.count > 500)
        var compared = 0
        var unvalidated = Set<String>()
        for request in requests {
            let document = try parse(source: Source(body: request.query))
            guard validate(schema: schema, ast: document).isEmpty else {
                unvalidated.insert(request.query)
                continue
            }
            let plan = CompiledSessionList.compile(document, operationName: nil)
            #expect(plan != nil, "not compiled: \(request.query)")
            guard let plan else { continue }
            for identity in [fixture.admin, fixture.user] {
                let context = fixture.context(identity)
                let expected = try await Self.general(schema, document, request.variables, context)
                let compiled = await plan.execute(variables: request.variables, context: context)
                if expected.failed {
                    #expect(compiled == nil, "compiled answered where GraphQLSwift reported: \(String(decoding: expected.bytes, as: UTF8.self))")
                } else {
                    #expect(compiled == expected.bytes, """
                        \(request.query) \(request.variables)
                        general:  \(String(decoding: expected.bytes, as: UTF8.self).prefix(3000))
                        compiled: \(String(decoding: compiled ?? [], as: UTF8.self).prefix(3000))
                        """)
                    compared += 1
                }
            }
        }
        // Every document it builds validates, is compiled and compared.
        #expect(unvalidated.isEmpty, "\(unvalidated)")
        #expect(compared > 1000, "\(compared)")
    }

    @Test("aliases, literals, repeated fields, containers and dependencies compile; fragments, directives, __typename and bad variables go to GraphQLSwift")
    func coverage() async throws {
        let fixture = try await Self.fixture()
        defer { Task { [pool = fixture.pool] in await pool.close() } }
        let schema = try ManagerGraphQLSchema.make()
        let every = SessionField.allCases.map(\.rawValue).joined(separator: " ")
        let containers = ContainerField.allCases.map(\.rawValue).joined(separator: " ")
        let covered: [(String, [String: Map])] = [
            ("{ list: compute_session_list(limit: 5, offset: 1, status: \"RUNNING,ERROR\") { n: total_count rows: items { who: name \(every) containers { \(containers) } } } }", [:]),
            ("{ compute_session_list(limit: 100, offset: 0, order: \"name\", filter: \"name like \\\"bulk%\\\"\") { items { name status exit_code } total_count } }", [:]),
            ("query($l: Int!, $g: UUID, $d: String) { compute_session_list(limit: $l, offset: 0, group_id: $g, domain_name: $d, status: null) { total_count items { id } } }",
             ["l": .number(7), "g": .string(UUID().uuidString), "d": .null]),
            ("query($l: Int!) { compute_session_list(limit: $l, offset: 0) { items { name name image } } }", ["l": .number(3), "unused": .string("x")]),
            ("{ compute_session_list(limit: 9, offset: 0) { items { containers { id } name containers { image id } dependencies { id } d: dependencies { name } dependencies { name id } } } }", [:]),
        ]
        for (query, variables) in covered {
            let document = try parse(source: Source(body: query))
            #expect(validate(schema: schema, ast: document).isEmpty, "\(query)")
            let plan = try #require(CompiledSessionList.compile(document, operationName: nil), "\(query)")
            for identity in [fixture.admin, fixture.user] {
                let context = fixture.context(identity)
                let expected = try await Self.general(schema, document, variables, context)
                #expect(!expected.failed, "\(String(decoding: expected.bytes, as: UTF8.self))")
                let compiled = await plan.execute(variables: variables, context: context)
                #expect(compiled == expected.bytes, """
                    \(query)
                    general:  \(String(decoding: expected.bytes, as: UTF8.self).prefix(2000))
                    compiled: \(String(decoding: compiled ?? [], as: UTF8.self).prefix(2000))
                    """)
            }
        }

        let uncovered = [
            "{ compute_session_list(limit: 5, offset: 0) { items { ...f } } } fragment f on ComputeSession { name }",
            "{ compute_session_list(limit: 5, offset: 0) { items { ... on ComputeSession { name } } } }",
            "query($s: Boolean!) { compute_session_list(limit: 5, offset: 0) { items { name @include(if: $s) } } }",
            "{ compute_session_list(limit: 5, offset: 0) { __typename items { name } } }",
            "{ compute_session_list(limit: 5, offset: 0) { items { name dependencies { __typename } } } }",
            "{ compute_session(id: \"\(UUID())\") { name } }",
            "{ compute_session_list(limit: 5, offset: 0) { items { name } } compute_session_list2: compute_session_list(limit: 1, offset: 0) { total_count } }",
            "query($l: Int! = 5) { compute_session_list(limit: $l, offset: 0) { items { name } } }",
            "{ compute_session_list(limit: 5, offset: 0) { items { c: containers { id } c: image } } }",
            "mutation { destroy_session(session_name: \"x\") { ok } }",
        ]
        for query in uncovered {
            let document = try parse(source: Source(body: query))
            #expect(CompiledSessionList.compile(document, operationName: nil) == nil, "\(query)")
        }

        // The plan cache: by operation name and text, non-compilable documents remembered as nil, a long operation
        // name neither compiled nor kept.
        let cache = CompiledPlanCache(capacity: 2)
        let listText = "query ps { compute_session_list(limit: 5, offset: 0) { total_count } }"
        let listDocument = try parse(source: Source(body: listText))
        #expect(cache.plan(for: listText, operationName: nil, document: listDocument) != nil)
        #expect(cache.plan(for: listText, operationName: "ps", document: listDocument) != nil)
        #expect(cache.plan(for: listText, operationName: "other", document: listDocument) == nil)
        #expect(cache.count == 2, "the capacity holds")
        #expect(cache.plan(for: listText, operationName: String(repeating: "p", count: 300), document: listDocument) == nil)
        #expect(cache.count == 2)

        // Requests GraphQLSwift answers with an error (or a value the plan would coerce otherwise) are not executed
        // by the plan: the general path reports them.
        let query = "query($l: Int!, $o: Int!, $s: String, $g: UUID) { compute_session_list(limit: $l, offset: $o, status: $s, group_id: $g) { total_count } }"
        let plan = try #require(CompiledSessionList.compile(try parse(source: Source(body: query)), operationName: nil))
        let refused: [[String: Map]] = [
            ["o": .number(0)],  // a non-null variable left out
            ["l": .null, "o": .number(0)],
            ["l": .string("5"), "o": .number(0)],
            ["l": .number(2.5), "o": .number(0)],  // GraphQLSwift's Int takes it; the plan leaves its conversion to it
            ["l": .number(1e12), "o": .number(0)],
            ["l": .number(500), "o": .number(0)],  // the resolver refuses: limit over 100
            ["l": .number(5), "o": .number(-1)],
            ["l": .number(5), "o": .number(0), "s": .string("NOPE")],
            ["l": .number(5), "o": .number(0), "s": .number(1)],
            ["l": .number(5), "o": .number(0), "g": .string("not-a-uuid")],
        ]
        for variables in refused {
            #expect(await plan.execute(variables: variables, context: fixture.context(fixture.user)) == nil, "\(variables)")
        }
        #expect(await plan.execute(variables: ["l": .number(5), "o": .number(0)], context: fixture.context(fixture.user)) != nil)
    }

    @Test("/admin/gql answers the CLI's ps through the plan and everything else as before")
    func route() async throws {
        let setup = try await VFolderTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        for name in ["one-a", "two-b"] {
            let made = try await setup.admin.send(.POST, "/session", json: ["name": name, "image": "python:3.11"])
            #expect(made.status == 201, "\(made.text)")
        }
        let ps = try await setup.cli.run(["ps", "--format", "name,status,image,mounts,scheduled_at"])
        #expect(ps.status == 0 && ps.stdout.contains("one-a") && ps.stdout.contains("two-b"), "\(ps.stdout) \(ps.stderr)")
        let metrics = try await HTTP.get("\(setup.manager.endpoint)/metrics").text
        func count(_ path: String) -> Double {
            let prefix = "manager_graphql_requests_total{path=\"\(path)\"} "
            return metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) } ?? 0
        }
        // `ps` asks for the keypair (general) and the list (compiled).
        #expect(count("compiled") >= 1 && count("general") >= 1, "\(metrics)")
        let bad = try await setup.admin.send(.POST, "/admin/gql", json: [
            "query": "query($l: Int!) { compute_session_list(limit: $l, offset: 0) { total_count } }", "variables": ["l": 1000],
        ])
        #expect(bad.status == 200 && bad.text.contains("limit must be between 1 and 100"), "\(bad.text)")
        try await setup.manager.stop()
    }
}
