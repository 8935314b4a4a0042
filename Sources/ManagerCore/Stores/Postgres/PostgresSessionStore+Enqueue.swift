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
            SELECT k.access_key, u.uuid, u.domain_name, u.role, p.max_pending_session_count,
                   p.max_pending_session_resource_slots, p.max_containers_per_session
            FROM keypairs k JOIN users u ON u.uuid = k.user_id JOIN keypair_resource_policies p ON p.name = k.resource_policy
            WHERE k.access_key = ANY(\(ownerKeys)::text[]) AND k.is_active
            """,
            // Each named project with the owners (of this batch) who are its members.
            """
            SELECT g.id, g.domain_name, g.name,
                   ARRAY(SELECT m.user_id::text FROM group_members m JOIN keypairs k ON k.user_id = m.user_id
                         WHERE m.group_id = g.id AND k.access_key = ANY(\(ownerKeys)::text[])) AS members
            FROM groups g WHERE g.is_active AND g.name = ANY(\(creations.map(\.groupName))::text[])
            """,
            """
            \(Self.columns) WHERE (s.access_key, s.name) IN (SELECT * FROM unnest(\(ownerKeys)::text[], \(names)::text[]))
              AND s.status NOT IN ('TERMINATED', 'CANCELLED')
            """,
            """
            SELECT g.name, g.is_public, g.scheduler_opts,
                   ARRAY(SELECT d.domain FROM sgroups_for_domains d WHERE d.scaling_group = g.name) AS domains,
                   ARRAY(SELECT a.group_id::text FROM sgroups_for_groups a WHERE a.scaling_group = g.name) AS projects
            FROM scaling_groups g WHERE g.is_active ORDER BY g.name = 'default' DESC, g.name
            """,
        ])
        var owners: [String: Owner] = [:]
        for row in lookups[0] {
            let pendingSlots: JSONB? = try row.decodeOptional("max_pending_session_resource_slots")
            owners[try row.decode("access_key")] = Owner(
                userID: try row.decode("uuid"), domain: try row.decode("domain_name"),
                isSuperadmin: try row.decode("role", as: String.self) == "superadmin",
                quota: PendingQuota(
                    maxPendingSessions: try row.decodeOptional("max_pending_session_count"),
                    maxPendingSlots: try pendingSlots.map { SchedulingSnapshotReader.slots(try JSONValue.decode($0.text)) },
                    maxContainersPerSession: try row.decode("max_containers_per_session")))
        }
        var groups: [String: (id: UUID, members: Set<String>)] = [:]
        for row in lookups[1] {
            groups[Self.key(try row.decode("domain_name"), try row.decode("name"))] =
                (try row.decode("id"), Set(try row.decode("members", as: [String].self)))
        }
        var live: [String: SessionRecord] = [:]
        for row in lookups[2] {
            let record = try Self.record(row)
            live[Self.key(record.accessKey.rawValue, record.name)] = record
        }
        let scalingGroups = try Self.scalingGroupCandidates(lookups[3])
        var pending = try await Self.pendingUsage(
            owners.filter { $0.value.quota.maxPendingSessions != nil || $0.value.quota.maxPendingSlots != nil }.map(\.key),
            in: tx)

        var outcomes = [Result<EnqueueOutcome, SessionStoreRefusal>?](repeating: nil, count: creations.count)
        var planned: [PlannedSession] = []
        var plannedByName: [String: Int] = [:]
        var sameAsPlanned: [(index: Int, planned: Int)] = []
        for (index, creation) in creations.enumerated() {
            do {
                guard let owner = owners[creation.owner.rawValue] else { throw SessionStoreRefusal.unknownOwner }
                guard let group = groups[Self.key(owner.domain, creation.groupName)] else {
                    throw SessionStoreRefusal.unknownGroup(creation.groupName)
                }
                // Backend.AI: the owner must belong to the project (superadmins may use any of their domain's).
                guard owner.isSuperadmin || group.members.contains(owner.userID.uuidString.lowercased()) else {
                    throw SessionStoreRefusal.notMember(creation.groupName)
                }
                let groupID = group.id
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
                // Public groups, and private ones associated with the owner's domain or the session's project.
                let candidates = scalingGroups.filter {
                    $0.isPublic || $0.domains.contains(owner.domain) || $0.projects.contains(groupID.uuidString.lowercased())
                }.map(\.candidate)
                let scalingGroup: String
                switch ScalingGroupChoice.choose(
                    requested: creation.requestedScalingGroup, type: creation.type, candidates: candidates)
                {
                case .success(let name): scalingGroup = name
                case .failure(let refusal): throw SessionStoreRefusal.scalingGroup(refusal.description)
                }
                let requested = SchedulingSnapshotReader.slots(creation.requestedSlots)
                let usage = pending[creation.owner.rawValue] ?? (0, .empty)
                if let refusal = owner.quota.refusal(
                    pending: usage.sessions, pendingSlots: usage.slots, request: requested, containers: creation.clusterSize)
                {
                    throw SessionStoreRefusal.quota(refusal)
                }
                guard creation.clusterSize == 1 else { throw SessionStoreRefusal.multiContainer(creation.clusterSize) }
                let dependencies = try await Self.resolveDependencies(creation.dependencies, owner: creation.owner, in: tx)
                let mounts = try await Self.resolveMounts(creation.mounts, userID: owner.userID, volumes: volumes, in: tx)
                if pending[creation.owner.rawValue] != nil {
                    pending[creation.owner.rawValue] = (usage.sessions + 1, usage.slots + requested)
                }
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
                 \(creation.callbackURL), nullif(\(secret: creation.callbackSecret ?? ""), ''), \(creation.startsAt), \(now), \(history), \(now),
                 \(creation.designatedAgents)::text[])
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
                bootstrap_script, startup_command, callback_url, callback_secret, starts_at, created_at, status_history,
                status_changed, designated_agents)
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

    /// The owner of a request, with what their resource policy allows at enqueue.
    private struct Owner {
        let userID: UUID
        let domain: String
        let isSuperadmin: Bool
        let quota: PendingQuota
    }

    /// Active scaling groups (`default` first) with who may use them: everyone when public, else the domains and
    /// projects (ids) associated with them.
    private static func scalingGroupCandidates(
        _ rows: PostgresRows
    ) throws -> [(isPublic: Bool, domains: Set<String>, projects: Set<String>, candidate: ScalingGroupChoice.Candidate)] {
        try rows.map { row in
            let json = try JSONValue.decode(row.decode("scheduler_opts", as: JSONB.self).text)
            let options = (try? ScalingGroupOptions.parse(json).get()) ?? ScalingGroupOptions()
            return (try row.decode("is_public"), Set(try row.decode("domains", as: [String].self)),
                    Set(try row.decode("projects", as: [String].self)), .init(name: try row.decode("name"), options: options))
        }
    }

    /// PENDING sessions of `owners` (those whose policy limits them) and the slots they ask for, under a lock per
    /// owner so that concurrent enqueues (other batches, other replicas) count each other.
    private static func pendingUsage(
        _ owners: [String], in tx: PostgresSession
    ) async throws -> [String: (sessions: Int, slots: ResourceSlots)] {
        guard !owners.isEmpty else { return [:] }
        let sorted = owners.sorted()
        var usage = Dictionary(uniqueKeysWithValues: sorted.map { ($0, (sessions: 0, slots: ResourceSlots.empty)) })
        let rows = try await tx.query([
            """
            SELECT pg_advisory_xact_lock(7415, hashtext(key))
            FROM (SELECT key FROM unnest(\(sorted)::text[]) AS key ORDER BY key) AS ordered
            """,
            """
            SELECT access_key, count(*) AS n FROM sessions
            WHERE access_key = ANY(\(sorted)::text[]) AND status = 'PENDING' GROUP BY access_key
            """,
            """
            SELECT s.access_key, e.key, sum(e.value::numeric)::text AS amount
            FROM sessions s CROSS JOIN LATERAL jsonb_each_text(s.requested_slots) e
            WHERE s.access_key = ANY(\(sorted)::text[]) AND s.status = 'PENDING' GROUP BY 1, 2
            """,
        ])
        for row in rows[1] { usage[try row.decode("access_key"), default: (0, .empty)].sessions = try row.decode("n") }
        for row in rows[2] {
            usage[try row.decode("access_key"), default: (0, .empty)].slots[try row.decode("key", as: String.self)] =
                SlotAmount(parsing: try row.decode("amount")) ?? .zero
        }
        return usage
    }

    private static func key(_ first: String, _ second: String) -> String { "\(first)\u{0}\(second)" }
}
