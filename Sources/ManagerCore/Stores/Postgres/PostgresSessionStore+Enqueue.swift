import Foundation
import SchedulerKit

/// `POST /session`'s write: concurrent requests are enqueued together, several per transaction (group commit),
/// with a fixed number of statements per batch instead of per request. Each request still gets its own answer,
/// and a 201 still means its row is committed.
extension PostgresSessionStore {
    /// Most requests one transaction takes.
    static let enqueueBatchSize = 64

    public func enqueue(_ creation: SessionCreation) async throws -> EnqueueOutcome {
        try await self.enqueueCommit.submit(creation)
    }

    /// One batch in one transaction. Should a statement fail for a reason no validation foresaw (a constraint),
    /// each request runs again alone, so only the one at fault fails.
    static func enqueueBatch(
        _ creations: [SessionCreation], pool: PostgresPool, volumes: StorageVolumes
    ) async throws -> [Result<EnqueueOutcome, any Error>] {
        do {
            return try await pool.withTransaction { tx in
                try await Self.enqueue(creations, volumes: volumes, in: tx)
            }.map { $0.mapError { $0 } }
        } catch let error as PostgresError where creations.count > 1 && error.isStatementFailure {
            var results: [Result<EnqueueOutcome, any Error>] = []
            for creation in creations {
                do {
                    let outcome = try await pool.withTransaction { tx in
                        try await Self.enqueue([creation], volumes: volumes, in: tx)[0]
                    }
                    results.append(outcome.mapError { $0 })
                } catch {
                    results.append(.failure(error))
                }
            }
            return results
        }
    }

    /// A request that passed the checks, about to be written.
    private struct PlannedSession {
        let index: Int
        let id: UUID
        let creation: SessionCreation
        let userID: UUID
        let domain: String
        let groupID: UUID
        let scalingGroup: String
        let dependencies: [UUID]
        let mounts: JSONValue
    }

    /// Checks and writes `creations` inside `tx`; refusals are per request and write nothing for it.
    static func enqueue(
        _ creations: [SessionCreation], volumes: StorageVolumes, in tx: PostgresSession
    ) async throws -> [Result<EnqueueOutcome, SessionStoreRefusal>] {
        let ownerKeys = creations.map(\.owner.rawValue)
        let names = creations.map(\.name)
        // The four lookups need nothing from each other: one trip for all.
        let lookups = try await tx.query([
            """
            SELECT k.access_key, u.uuid, u.domain_name FROM keypairs k JOIN users u ON u.uuid = k.user_id
            WHERE k.access_key = ANY(\(ownerKeys)::text[]) AND k.is_active
            """,
            "SELECT id, domain_name, name FROM groups WHERE is_active AND name = ANY(\(creations.map(\.groupName))::text[])",
            """
            \(Self.columns) WHERE (s.access_key, s.name) IN (SELECT * FROM unnest(\(ownerKeys)::text[], \(names)::text[]))
              AND s.status NOT IN ('TERMINATED', 'CANCELLED')
            """,
            "SELECT name, is_public, scheduler_opts FROM scaling_groups WHERE is_active ORDER BY name = 'default' DESC, name",
        ])
        var owners: [String: (userID: UUID, domain: String)] = [:]
        for row in lookups[0] {
            owners[try row.decode("access_key")] = (try row.decode("uuid"), try row.decode("domain_name"))
        }
        var groups: [String: UUID] = [:]
        for row in lookups[1] {
            groups[Self.key(try row.decode("domain_name"), try row.decode("name"))] = try row.decode("id")
        }
        var live: [String: SessionRecord] = [:]
        for row in lookups[2] {
            let record = try Self.record(row)
            live[Self.key(record.accessKey.rawValue, record.name)] = record
        }
        let scalingGroups = try Self.scalingGroupCandidates(lookups[3])

        var outcomes = [Result<EnqueueOutcome, SessionStoreRefusal>?](repeating: nil, count: creations.count)
        var planned: [PlannedSession] = []
        var plannedByName: [String: Int] = [:]
        var sameAsPlanned: [(index: Int, planned: Int)] = []
        for (index, creation) in creations.enumerated() {
            do {
                guard let owner = owners[creation.owner.rawValue] else { throw SessionStoreRefusal.unknownOwner }
                guard let groupID = groups[Self.key(owner.domain, creation.groupName)] else {
                    throw SessionStoreRefusal.unknownGroup(creation.groupName)
                }
                let nameKey = Self.key(creation.owner.rawValue, creation.name)
                if let existing = live[nameKey] {
                    guard creation.reuseIfExists else { throw SessionStoreRefusal.duplicateName(creation.name) }
                    outcomes[index] = .success(.existing(existing))
                    continue
                }
                if let earlier = plannedByName[nameKey] {
                    guard creation.reuseIfExists else { throw SessionStoreRefusal.duplicateName(creation.name) }
                    sameAsPlanned.append((index, earlier))
                    continue
                }
                let candidates = scalingGroups.filter { $0.isPublic || creation.requestedScalingGroup != nil }.map(\.candidate)
                let scalingGroup: String
                switch ScalingGroupChoice.choose(
                    requested: creation.requestedScalingGroup, type: creation.type, candidates: candidates)
                {
                case .success(let name): scalingGroup = name
                case .failure(let refusal): throw SessionStoreRefusal.scalingGroup(refusal.description)
                }
                let dependencies = try await Self.resolveDependencies(creation.dependencies, owner: creation.owner, in: tx)
                let mounts = try await Self.resolveMounts(creation.mounts, userID: owner.userID, volumes: volumes, in: tx)
                plannedByName[nameKey] = planned.count
                planned.append(PlannedSession(
                    index: index, id: UUID(), creation: creation, userID: owner.userID, domain: owner.domain,
                    groupID: groupID, scalingGroup: scalingGroup, dependencies: dependencies, mounts: mounts))
            } catch let refusal as SessionStoreRefusal {
                outcomes[index] = .failure(refusal)
            }
        }

        let created = try await Self.insert(planned, in: tx)
        for session in planned {
            if let record = created[session.id] {
                outcomes[session.index] = .success(.created(record))
            } else if session.creation.reuseIfExists, let existing = try await tx.query(
                """
                \(Self.columns) WHERE s.access_key = \(session.creation.owner) AND s.name = \(session.creation.name)
                  AND s.status NOT IN ('TERMINATED', 'CANCELLED')
                """
            ).first {
                // Another replica's transaction took the name between our check and our insert.
                outcomes[session.index] = .success(.existing(try Self.record(existing)))
            } else {
                outcomes[session.index] = .failure(.duplicateName(session.creation.name))
            }
        }
        for (index, plannedIndex) in sameAsPlanned {
            let session = planned[plannedIndex]
            outcomes[index] = created[session.id].map { .success(.existing($0)) } ?? .failure(.duplicateName(session.creation.name))
        }
        return try outcomes.map { outcome in
            guard let outcome else { throw PostgresError(.decoding, message: "an enqueue request got no outcome") }
            return outcome
        }
    }

    /// Inserts the sessions, their dependency edges and `session_enqueued` events, wakes the scheduler of each
    /// scaling group involved, and returns the rows written. A name another transaction took meanwhile is skipped
    /// (absent from the result), not an error.
    private static func insert(_ planned: [PlannedSession], in tx: PostgresSession) async throws -> [UUID: SessionRecord] {
        guard !planned.isEmpty else { return [:] }
        let now = Date()
        let history = JSONB(text: JSONValue.object([("PENDING", .string(Timestamp.pythonISO(now)))]).text)
        var rows: SQL = ""
        for (position, session) in planned.enumerated() {
            let creation = session.creation
            rows.append(position == 0 ? "" : ", ")
            rows.append(
                """
                (\(session.id), \(session.id.uuidString.lowercased()), \(creation.name), \(creation.type.rawValue),
                 \(session.domain), \(session.groupID), \(session.userID), \(creation.owner), \(session.scalingGroup),
                 \(creation.image), \(creation.architecture), \(creation.tag), \(JSONB(text: creation.requestedSlots.text)),
                 \(JSONB(text: creation.resourceOpts.text)), \(JSONB(text: session.mounts.text)),
                 \(JSONB(text: creation.environ.text)), \(creation.bootstrapScript), \(creation.startupCommand),
                 \(creation.callbackURL), \(creation.startsAt), \(now), \(history), \(now))
                """)
        }
        let ids = UUIDArray(planned.map(\.id))
        let edges = planned.flatMap { session in session.dependencies.map { (session.id, $0) } }
        let wakeGroups = Array(Set(planned.map(\.scalingGroup))).sorted()
        // The rows, then what hangs off them, in one trip: each statement after the insert finds the new rows by
        // their fresh ids, so a name lost to another transaction (skipped by ON CONFLICT) gets no edge and no event.
        // The status is the column's default, `SessionLifecycle.initial` (PENDING; MigrationTests checks they agree):
        // `SessionChangeWriter` stays the only code that writes `sessions.status`.
        let results = try await tx.query([
            """
            INSERT INTO sessions (id, creation_id, name, session_type, domain_name, group_id, user_uuid, access_key,
                scaling_group_name, image, architecture, tag, requested_slots, resource_opts, vfolder_mounts, environ,
                bootstrap_script, startup_command, callback_url, starts_at, created_at, status_history,
                status_changed)
            VALUES \(rows)
            ON CONFLICT (access_key, name) WHERE status NOT IN ('TERMINATED', 'CANCELLED') DO NOTHING
            """,
            """
            INSERT INTO session_dependencies (session_id, depends_on)
            SELECT e.session_id, e.depends_on
            FROM unnest(\(UUIDArray(edges.map(\.0)))::uuid[], \(UUIDArray(edges.map(\.1)))::uuid[]) AS e(session_id, depends_on)
            JOIN sessions s ON s.id = e.session_id
            """,
            """
            INSERT INTO events (name, session_id, session_name, access_key, reason)
            SELECT 'session_enqueued', s.id, s.name, s.access_key, '' FROM sessions s
            JOIN unnest(\(ids)::uuid[]) WITH ORDINALITY AS n(id, position) ON n.id = s.id ORDER BY n.position
            """,
            // NOTIFY is delivered at commit.
            """
            SELECT pg_notify('manager_events', 'session_enqueued'), pg_notify('scheduler_wakeup', g)
            FROM unnest(\(wakeGroups)::text[]) AS g
            """,
            "\(Self.columns) WHERE s.id = ANY(\(ids)::uuid[])",
        ])
        var records: [UUID: SessionRecord] = [:]
        for row in results[4] {
            let record = try Self.record(row)
            records[record.id] = record
        }
        return records
    }

    /// Active scaling groups (`default` first) with whether a request may land there without naming it.
    private static func scalingGroupCandidates(
        _ rows: PostgresRows
    ) throws -> [(isPublic: Bool, candidate: ScalingGroupChoice.Candidate)] {
        try rows.map { row in
            let json = try JSONValue.decode(row.decode("scheduler_opts", as: JSONB.self).text)
            let options = (try? ScalingGroupOptions.parse(json).get()) ?? ScalingGroupOptions()
            return (try row.decode("is_public"), .init(name: try row.decode("name"), options: options))
        }
    }

    private static func key(_ first: String, _ second: String) -> String { "\(first)\u{0}\(second)" }
}
