import Foundation
import SchedulerKit

/// The value of one leaf field of a `ComputeSession` or its `ComputeContainer`, as GraphQL serializes it.
///
/// Both execution paths read fields from here: GraphQLSwift through `SessionSchema.row` (each case boxed as the
/// scalar's serializer expects) and the compiled session list (`CompiledSessionList`), which writes the bytes
/// directly. One definition of every field, so the two cannot drift apart.
enum SessionFieldValue {
    case null
    case string(String)
    case int(Int)
    case uuid(UUID)
    case date(Date)
    /// A `JSONString`: the value's JSON text, sent as a string.
    case json(JSONValue)
    case strings([String])
    case ints([Int])
    case jsons([JSONValue])

    static func optional(_ text: String?) -> SessionFieldValue { text.map { .string($0) } ?? .null }
    static func optional(_ id: UUID?) -> SessionFieldValue { id.map { .uuid($0) } ?? .null }
    static func optional(_ date: Date?) -> SessionFieldValue { date.map { .date($0) } ?? .null }
    static func optional(_ number: Int?) -> SessionFieldValue { number.map { .int($0) } ?? .null }

    /// The value as GraphQLSwift's default resolver hands it to the field's scalar serializer.
    var boxed: any Sendable {
        switch self {
        case .null: return nil as (any Sendable)?
        case .string(let text): return text
        case .int(let number): return number
        case .uuid(let id): return id
        case .date(let date): return date
        case .json(let value): return value
        case .strings(let texts): return texts
        case .ints(let numbers): return numbers
        case .jsons(let values): return values
        }
    }
}

/// The leaf fields of `ComputeSession` (every field but `containers` and `dependencies`, which have selections).
enum SessionField: String, CaseIterable {
    case id, session_id, main_kernel_id, name, tag, type, session_type, image, architecture, domain_name, group_name
    case user_uuid, access_key, scaling_group, agent, status, status_info, status_data, status_history, status_changed
    case created_at, terminated_at, starts_at, startup_command, result, occupying_slots, requested_slots, resource_opts
    case idle_checks, exit_code, registry, cluster_template, cluster_mode, cluster_size, group_id, agent_ids
    case user_email, user_id, created_user_email, created_user_id, scheduled_at, service_ports, mounts, abusing_reports

    func value(of session: SessionRecord) -> SessionFieldValue {
        switch self {
        case .id, .session_id, .main_kernel_id: return .uuid(session.id)
        case .name: return .string(session.name)
        case .tag: return .optional(session.tag)
        case .type, .session_type: return .string(session.type.rawValue.uppercased())
        case .image: return .string(session.image)
        case .architecture: return .string(session.architecture)
        case .domain_name: return .string(session.domainName)
        case .group_name: return .string(session.groupName)
        case .user_uuid, .user_id, .created_user_id: return .uuid(session.userID)
        case .access_key: return .string(session.accessKey.rawValue)
        case .scaling_group: return .optional(session.scalingGroup)
        case .agent: return .optional(session.agentID)
        case .status: return .string(session.status.rawValue)
        case .status_info: return .optional(session.statusInfo)
        case .status_data: return .json(session.statusData)
        case .status_history: return .json(session.statusHistory)
        case .status_changed: return .date(session.statusChanged)
        case .created_at: return .date(session.createdAt)
        case .terminated_at: return .optional(session.terminatedAt)
        case .starts_at: return .optional(session.startsAt)
        case .startup_command: return .optional(session.startupCommand)
        case .result: return .string(session.result.rawValue)
        case .occupying_slots: return .json(session.occupyingSlots)
        case .requested_slots: return .json(session.requestedSlots)
        case .resource_opts: return .json(session.resourceOpts)
        case .idle_checks: return .json(.object([]))
        case .exit_code: return .optional(session.exitCode)
        case .registry: return .string(ImageReference(session.image)?.registry ?? "")
        case .cluster_template: return .null
        case .cluster_mode: return .string("single-node")
        case .cluster_size: return .int(1)
        case .group_id: return .optional(session.groupID)
        case .agent_ids: return .strings(session.agentID.map { [$0] } ?? [])
        case .user_email, .created_user_email: return .optional(session.userEmail)
        case .scheduled_at: return .optional(Self.when(session, .scheduled))
        case .service_ports: return .json(.array([]))
        case .mounts: return .strings(session.mountNames)
        case .abusing_reports: return .jsons([])
        }
    }

    /// The costly columns the value is made of (`SessionDetail`): a list asks only for what its fields read.
    var detail: SessionDetail {
        switch self {
        case .requested_slots: return .requestedSlots
        case .occupying_slots: return .occupyingSlots
        case .resource_opts: return .resourceOpts
        case .status_data: return .statusData
        case .status_history, .scheduled_at: return .statusHistory
        case .user_email, .created_user_email: return .userEmail
        case .mounts: return .mounts
        default: return []
        }
    }

    /// When the session entered `status`, from its status history.
    static func when(_ session: SessionRecord, _ status: SessionStatus) -> Date? {
        guard case .object(let entries) = session.statusHistory,
            let entry = entries.first(where: { $0.key == status.rawValue }), case .string(let text) = entry.value
        else { return nil }
        return Timestamp.parse(text)
    }
}

/// The fields of a session's one kernel (Backend.AI's main container): its status, slots and measured use —
/// `live_stat` while it runs, `last_stat` always.
enum ContainerField: String, CaseIterable {
    case id, session_id, cluster_role, cluster_idx, cluster_hostname, image, registry, status, status_info, status_data
    case status_changed, agent, container_id, resource_opts, occupied_slots, preopen_ports, live_stat, last_stat

    func value(of session: SessionRecord) -> SessionFieldValue {
        switch self {
        case .id, .session_id: return .uuid(session.id)
        case .cluster_role: return .string("main")
        case .cluster_idx: return .int(0)
        case .cluster_hostname: return .string("main1")
        case .image: return .string(session.image)
        case .registry: return .string(ImageReference(session.image)?.registry ?? "")
        case .status: return .string(session.status.rawValue)
        case .status_info: return .optional(session.statusInfo)
        case .status_data: return .json(session.statusData)
        case .status_changed: return .date(session.statusChanged)
        case .agent: return .optional(session.agentID)
        case .container_id: return .null
        case .resource_opts: return .json(session.resourceOpts)
        case .occupied_slots: return .json(session.occupyingSlots)
        case .preopen_ports: return .ints([])
        case .live_stat:
            let running = SessionOccupancy.activeStatuses.contains(session.status)
            return running && session.lastStat != .null ? .json(session.lastStat) : .null
        case .last_stat: return session.lastStat == .null ? .null : .json(session.lastStat)
        }
    }

    /// The costly columns the value is made of (`SessionDetail`).
    var detail: SessionDetail {
        switch self {
        case .status_data: return .statusData
        case .resource_opts: return .resourceOpts
        case .occupied_slots: return .occupyingSlots
        case .live_stat, .last_stat: return .lastStat
        default: return []
        }
    }
}
