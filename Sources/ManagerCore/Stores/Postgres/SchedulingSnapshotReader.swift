import Foundation
import SchedulerKit

/// Reads what one pass over a scaling group needs, in a handful of bulk queries (none per session).
struct SchedulingSnapshotReader {
    /// Scaling groups with PENDING sessions.
    static func pendingGroups(_ pool: PostgresPool) async throws -> [String] {
        try await pool.query(
            """
            SELECT DISTINCT scaling_group_name AS name FROM sessions
            WHERE status = \(SessionLifecycle.initial.rawValue) AND scaling_group_name IS NOT NULL
            """
        ).map { try $0.decode("name", as: String.self) }
    }

    /// Takes the group's pass lock for the transaction; false when another replica holds it.
    static func lock(group: String, in tx: PostgresSession) async throws -> Bool {
        try await tx.query("SELECT pg_try_advisory_xact_lock(7411, hashtext(\(group))) AS locked").first?
            .decode("locked", as: Bool.self) ?? false
    }

    /// The most pending sessions one pass considers; the rest wait for the next pass.
    let maxPendingPerPass: Int
    /// The most sessions that cannot start yet (a future `starts_at`, a dependency still alive) one pass looks at,
    /// beside the window, so their reasons are recorded: the least recently tried first.
    var maxParkedPerPass: Int { max(1, self.maxPendingPerPass / 20) }

    /// The ids of the PENDING sessions a pass over `group` considers, fair across keypairs and never crowded out by
    /// sessions that cannot start yet:
    /// - **ready** sessions (no future `starts_at`, every dependency ended, or past the group's `pending_timeout`,
    ///   so that they are cancelled) fill the window round-robin over keypairs: every keypair's oldest, then every
    ///   keypair's second oldest, … so a keypair with 20,000 queued sessions takes one turn like any other;
    /// - **parked** sessions (reserved for later, or waiting for a live dependency) come on top, a bounded number,
    ///   the least recently tried first, so each has its wait reason recorded without holding a place.
    private func window(group: String, pendingTimeout: Double) -> SQL {
        """
        WITH candidates AS (
            SELECT s.id, s.access_key, s.created_at, s.status_data #>> '{scheduler,last_try}' AS last_try,
                   ((s.starts_at IS NOT NULL AND s.starts_at > now())
                    OR EXISTS (SELECT 1 FROM session_dependencies d JOIN sessions ds ON ds.id = d.depends_on
                               WHERE d.session_id = s.id AND ds.status <> ALL(\(Self.endedNames)::text[])))
                   AND NOT (\(pendingTimeout) > 0 AND s.created_at < now() - make_interval(secs => \(pendingTimeout)))
                   AS parked
            FROM sessions s WHERE s.scaling_group_name = \(group) AND s.status = 'PENDING'
        ), ready AS (
            SELECT id FROM (
                SELECT id, created_at, row_number() OVER (PARTITION BY access_key ORDER BY created_at) AS turn
                FROM candidates WHERE NOT parked
            ) turns ORDER BY turn, created_at LIMIT \(self.maxPendingPerPass)
        ), parked AS (
            SELECT id FROM candidates WHERE parked ORDER BY last_try NULLS FIRST, created_at LIMIT \(self.maxParkedPerPass)
        )
        SELECT id FROM ready UNION ALL SELECT id FROM parked
        """
    }

    /// Statuses of a dependency that will not change any more.
    static let endedNames = SessionStatus.allCases.filter(\.hasEnded).map(\.rawValue)

    func read(group: String, in tx: PostgresSession) async throws -> SchedulingSnapshot? {
        guard let groupRow = try await tx.query(
            """
            SELECT g.scheduler, g.scheduler_opts, extract(epoch FROM now())::float8 AS now,
                   coalesce(st.round_robin_cursor, 0) AS cursor
            FROM scaling_groups g LEFT JOIN scheduler_state st ON st.scaling_group = g.name
            WHERE g.name = \(group)
            """
        ).first else { return nil }
        let optionsJSON = try JSONValue.decode(groupRow.decode("scheduler_opts", as: JSONB.self).text)
        let options = (try? ScalingGroupOptions.parse(optionsJSON).get()) ?? ScalingGroupOptions()

        // Pending sessions mostly ask for a few shapes of slots: each distinct text is parsed once per pass.
        var parsedSlots: [String: ResourceSlots] = [:]
        func requested(_ text: String) throws -> ResourceSlots {
            if let known = parsedSlots[text] { return known }
            let slots = Self.slots(try JSONValue.decode(text))
            parsedSlots[text] = slots
            return slots
        }
        let pending = try await tx.query(
            """
            SELECT s.id::text AS id, s.name, s.session_type, s.access_key, s.domain_name, s.group_id::text AS group_id,
                   s.architecture, s.requested_slots, extract(epoch FROM s.created_at)::float8 AS created_at,
                   extract(epoch FROM s.starts_at)::float8 AS starts_at,
                   coalesce((s.status_data #>> '{scheduler,retries}')::int, 0) AS retries,
                   ARRAY(SELECT d.depends_on::text FROM session_dependencies d WHERE d.session_id = s.id) AS dependencies,
                   s.designated_agents,
                   s.status_info, s.status_data #>> '{scheduler,msg}' AS wait_message,
                   extract(epoch FROM (s.status_data #>> '{scheduler,last_try}')::timestamptz)::float8 AS last_try,
                   ARRAY(SELECT coalesce(f ->> 'name', '') FROM jsonb_array_elements(w.failed) f) AS failed_names,
                   ARRAY(SELECT coalesce(f ->> 'msg', '') FROM jsonb_array_elements(w.failed) f) AS failed_messages
            FROM sessions s
            CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(s.status_data #> '{scheduler,failed_predicates}') = 'array'
                                            THEN s.status_data #> '{scheduler,failed_predicates}' ELSE '[]'::jsonb END
                                AS failed) w
            WHERE s.id IN (\(self.window(group: group, pendingTimeout: options.pendingTimeout)))
            ORDER BY s.created_at
            """
        ).map { row in
            let names: [String] = try row.decode("failed_names")
            let messages: [String] = try row.decode("failed_messages")
            let lastWait = WaitRecord(
                statusInfo: try row.decodeOptional("status_info"),
                failed: zip(names, messages).map { PredicateFailure(name: $0, message: $1) },
                message: try row.decodeOptional("wait_message"), lastTry: try row.decodeOptional("last_try"))
            var session = PendingSession(
                id: try row.decode("id"), name: try row.decode("name"),
                type: SessionType(rawValue: try row.decode("session_type")) ?? .interactive,
                accessKey: try row.decode("access_key"), domainName: try row.decode("domain_name"),
                groupID: try row.decode("group_id"), architecture: try row.decode("architecture"),
                requested: try requested(row.decode("requested_slots", as: JSONB.self).text),
                createdAt: try row.decode("created_at"), startsAt: try row.decodeOptional("starts_at"),
                dependencies: try row.decode("dependencies"), retries: try row.decode("retries"), lastWait: lastWait)
            session.designatedAgents = try row.decode("designated_agents")
            return session
        }

        var dependencies: [String: DependencyState] = [:]
        let dependencyIDs = Set(pending.flatMap(\.dependencies))
        if !dependencyIDs.isEmpty {
            for row in try await tx.query(
                "SELECT id::text AS id, name, status, result FROM sessions WHERE id = ANY(\(Array(dependencyIDs))::uuid[])")
            {
                dependencies[try row.decode("id")] = DependencyState(
                    name: try row.decode("name"), status: SessionStatus(rawValue: try row.decode("status")) ?? .error,
                    result: SessionResult(rawValue: try row.decode("result")) ?? .undefined)
            }
        }

        let agents = try await self.agents(group: group, in: tx)
        let owners = Array(Set(pending.map(\.accessKey))).sorted()
        let keypairs = try await self.keypairs(owners, in: tx)
        let groups = try await self.budgets(
            limits: "SELECT id::text AS key, total_resource_slots AS limits FROM groups WHERE id = ANY(\(Array(Set(pending.map(\.groupID))))::uuid[]) AND total_resource_slots <> '{}'",
            lockSpace: 7413, usageColumn: "s.group_id::text", in: tx)
        let domains = try await self.budgets(
            limits: "SELECT name AS key, total_resource_slots AS limits FROM domains WHERE name = ANY(\(Array(Set(pending.map(\.domainName))))::text[]) AND total_resource_slots <> '{}'",
            lockSpace: 7414, usageColumn: "s.domain_name", in: tx)

        return SchedulingSnapshot(
            scalingGroup: group, scheduler: SchedulerKind(name: try groupRow.decode("scheduler")), options: options,
            now: try groupRow.decode("now"), pending: pending, agents: agents, dependencies: dependencies,
            keypairs: keypairs, groups: groups, domains: domains, roundRobinCursor: try groupRow.decode("cursor"))
    }

    /// Agents of the group with their occupancy summed from the sessions that hold slots on them.
    private func agents(group: String, in tx: PostgresSession) async throws -> [AgentSnapshot] {
        var occupied: [String: ResourceSlots] = [:]
        for row in try await tx.query(
            """
            SELECT s.agent_id, e.key, sum(e.value::numeric)::text AS amount
            FROM sessions s CROSS JOIN LATERAL jsonb_each_text(s.occupying_slots) e
            WHERE s.agent_id IN (SELECT id FROM agents WHERE scaling_group = \(group) AND status = 'ALIVE')
              AND s.status = ANY(\(SessionOccupancy.activeNames)::text[])
            GROUP BY s.agent_id, e.key
            """)
        {
            let agent: String = try row.decode("agent_id")
            occupied[agent, default: .empty][try row.decode("key", as: String.self)] =
                SlotAmount(parsing: try row.decode("amount")) ?? .zero
        }
        return try await tx.query(
            """
            SELECT id, architecture, status, schedulable, available_slots FROM agents
            WHERE scaling_group = \(group) AND status <> 'TERMINATED' ORDER BY id
            """
        ).map { row in
            let id: String = try row.decode("id")
            return AgentSnapshot(
                id: id, architecture: try row.decode("architecture"), isAlive: try row.decode("status", as: String.self) == "ALIVE",
                isSchedulable: try row.decode("schedulable"),
                capacity: Self.slots(try JSONValue.decode(row.decode("available_slots", as: JSONB.self).text)),
                occupied: occupied[id] ?? .empty)
        }
    }

    /// Takes transaction-scoped advisory locks on `keys` in sorted order, so that passes over other scaling groups
    /// (possibly on other replicas) cannot grant the same quota at the same time. Advisory locks, not row locks:
    /// enqueues and agent reports take KEY SHARE locks on keypair rows through foreign keys, and a FOR UPDATE here
    /// deadlocked with them.
    private func lockQuotas(_ space: Int32, _ keys: [String], in tx: PostgresSession) async throws {
        guard !keys.isEmpty else { return }
        _ = try await tx.query(
            """
            SELECT pg_advisory_xact_lock(\(space), hashtext(key))
            FROM (SELECT key FROM unnest(\(keys.sorted())::text[]) AS key ORDER BY key) AS sorted
            """)
    }

    /// Policies and usage of the keypairs with pending sessions, under their quota locks.
    private func keypairs(_ owners: [String], in tx: PostgresSession) async throws -> [String: KeypairBudget] {
        guard !owners.isEmpty else { return [:] }
        try await self.lockQuotas(7412, owners, in: tx)
        var budgets: [String: KeypairBudget] = [:]
        for row in try await tx.query(
            """
            SELECT k.access_key, p.max_concurrent_sessions, p.total_resource_slots FROM keypairs k
            JOIN keypair_resource_policies p ON p.name = k.resource_policy
            WHERE k.access_key = ANY(\(owners)::text[])
            """)
        {
            budgets[try row.decode("access_key")] = KeypairBudget(
                maxConcurrentSessions: try row.decode("max_concurrent_sessions"),
                resources: ResourceBudget(limits: Self.slots(try JSONValue.decode(row.decode("total_resource_slots", as: JSONB.self).text))))
        }
        for row in try await tx.query(
            """
            SELECT access_key, count(*) AS n FROM sessions
            WHERE access_key = ANY(\(owners)::text[]) AND status = ANY(\(SessionOccupancy.activeNames)::text[])
            GROUP BY access_key
            """)
        {
            budgets[try row.decode("access_key"), default: KeypairBudget()].runningSessions = try row.decode("n")
        }
        for (key, used) in try await self.usage(column: "s.access_key", keys: owners, in: tx) {
            budgets[key, default: KeypairBudget()].resources.used = used
        }
        return budgets
    }

    /// Limits from `limits` (rows `key`, `limits`), under their quota locks, and what active sessions use.
    private func budgets(limits: SQL, lockSpace: Int32, usageColumn: SQL, in tx: PostgresSession) async throws -> [String: ResourceBudget] {
        var budgets: [String: ResourceBudget] = [:]
        for row in try await tx.query(limits) {
            budgets[try row.decode("key")] = ResourceBudget(
                limits: Self.slots(try JSONValue.decode(row.decode("limits", as: JSONB.self).text)))
        }
        guard !budgets.isEmpty else { return [:] }
        try await self.lockQuotas(lockSpace, Array(budgets.keys), in: tx)
        for (key, used) in try await self.usage(column: usageColumn, keys: Array(budgets.keys), in: tx) {
            budgets[key]?.used = used
        }
        return budgets
    }

    /// Slots held by active sessions, summed per value of `column` (a fixed fragment, never user data).
    private func usage(column: SQL, keys: [String], in tx: PostgresSession) async throws -> [String: ResourceSlots] {
        var usage: [String: ResourceSlots] = [:]
        for row in try await tx.query(
            """
            SELECT \(column) AS owner, e.key, sum(e.value::numeric)::text AS amount
            FROM sessions s CROSS JOIN LATERAL jsonb_each_text(s.occupying_slots) e
            WHERE \(column) = ANY(\(keys)::text[]) AND s.status = ANY(\(SessionOccupancy.activeNames)::text[])
            GROUP BY 1, 2
            """)
        {
            usage[try row.decode("owner"), default: .empty][try row.decode("key", as: String.self)] =
                SlotAmount(parsing: try row.decode("amount")) ?? .zero
        }
        return usage
    }

    static func slots(_ json: JSONValue) -> ResourceSlots {
        (try? ResourceSlots.parse(json).get()) ?? .empty
    }
}
