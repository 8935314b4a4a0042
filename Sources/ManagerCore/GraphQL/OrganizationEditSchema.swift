import Foundation
import GraphQL
import OrderedCollections
import SchedulerKit

/// `create_group`, `modify_group` (also `add-users`/`remove-users` through `user_update_mode`), `delete_group`,
/// `purge_group`, `create_domain`, `modify_domain`, `delete_domain`, `purge_domain`, as `backend.ai admin group|domain`
/// send them (admins only). `delete_*` deactivates, as in Backend.AI: an inactive project takes no new sessions, an
/// inactive domain's keypairs no longer sign. Per-project or per-domain folder-host and registry lists are refused by
/// name (folder hosts are set on keypair resource policies here; images come from the agents' image store).
enum OrganizationEditSchema {
    static func mutationFields(group: GraphQLObjectType, domain: GraphQLObjectType) throws -> GraphQLFieldMap {
        let groupInput = try GraphQLInputObjectType(
            name: "GroupInput",
            fields: [
                "description": InputObjectField(type: GraphQLString), "is_active": InputObjectField(type: GraphQLBoolean),
                "domain_name": InputObjectField(type: GraphQLNonNull(GraphQLString)),
                "total_resource_slots": InputObjectField(type: GraphQLScalars.jsonString),
                "allowed_vfolder_hosts": InputObjectField(type: GraphQLScalars.jsonString),
                "integration_id": InputObjectField(type: GraphQLString), "resource_policy": InputObjectField(type: GraphQLString),
            ])
        let modifyGroupInput = try GraphQLInputObjectType(
            name: "ModifyGroupInput",
            fields: [
                "name": InputObjectField(type: GraphQLString), "description": InputObjectField(type: GraphQLString),
                "is_active": InputObjectField(type: GraphQLBoolean), "domain_name": InputObjectField(type: GraphQLString),
                "total_resource_slots": InputObjectField(type: GraphQLScalars.jsonString),
                "user_update_mode": InputObjectField(type: GraphQLString),
                "user_uuids": InputObjectField(type: GraphQLList(GraphQLString)),
                "allowed_vfolder_hosts": InputObjectField(type: GraphQLScalars.jsonString),
                "integration_id": InputObjectField(type: GraphQLString), "resource_policy": InputObjectField(type: GraphQLString),
            ])
        let domainFields: InputObjectFieldMap = [
            "description": InputObjectField(type: GraphQLString), "is_active": InputObjectField(type: GraphQLBoolean),
            "total_resource_slots": InputObjectField(type: GraphQLScalars.jsonString),
            "allowed_vfolder_hosts": InputObjectField(type: GraphQLScalars.jsonString),
            "allowed_docker_registries": InputObjectField(type: GraphQLList(GraphQLString)),
            "integration_id": InputObjectField(type: GraphQLString),
        ]
        let domainInput = try GraphQLInputObjectType(name: "DomainInput", fields: domainFields)
        var modifyDomainFields = domainFields
        modifyDomainFields["name"] = InputObjectField(type: GraphQLString)
        let modifyDomainInput = try GraphQLInputObjectType(name: "ModifyDomainInput", fields: modifyDomainFields)

        @Sendable func refused(_ error: any Error) throws -> [String: any Sendable] {
            if let refusal = error as? PostgresOrganizationStore.Refusal { return GraphQLMutation.outcome(false, refusal.description) }
            if let failure = error as? GraphQLFailure { return GraphQLMutation.outcome(false, failure.description) }
            throw error
        }
        @Sendable func groupID(_ args: Map) throws -> UUID {
            guard let id = args["gid"].string.flatMap(UUID.init(uuidString:)) else { throw GraphQLFailure("gid: not a project id") }
            return id
        }
        return [
            "create_group": GraphQLField(
                type: try GraphQLMutation.result("CreateGroup", extra: ["group": GraphQLField(type: group)]),
                args: ["name": GraphQLArgument(type: GraphQLNonNull(GraphQLString)), "props": GraphQLArgument(type: GraphQLNonNull(groupInput))],
                resolve: GraphQLMutation.admin { args, context in
                    do {
                        let store = try Self.store(context)
                        var changes = try Self.changes(args["props"])
                        changes.name = try Self.projectName(args["name"].string ?? "", field: "name")
                        let created = try await store.createGroup(domain: args["props"]["domain_name"].string ?? "", changes)
                        var result = GraphQLMutation.outcome(true, "success")
                        result["group"] = OrganizationSchema.groupRow(created)
                        return result
                    } catch { return try refused(error) }
                }),
            "modify_group": GraphQLField(
                type: try GraphQLMutation.result("ModifyGroup"),
                args: ["gid": GraphQLArgument(type: GraphQLNonNull(GraphQLScalars.uuid)),
                       "props": GraphQLArgument(type: GraphQLNonNull(modifyGroupInput))],
                resolve: GraphQLMutation.admin { args, context in
                    do {
                        let props = args["props"]
                        var changes = try Self.changes(props)
                        if let name = props["name"].string { changes.name = try Self.projectName(name, field: "name") }
                        if let domain = props["domain_name"].string, !domain.isEmpty {
                            throw GraphQLFailure("domain_name: a project stays in its domain")
                        }
                        var members: PostgresOrganizationStore.MemberChange?
                        if case .array(let items) = props["user_uuids"] {
                            let users = try items.map { item in
                                guard let id = item.string.flatMap(UUID.init(uuidString:)) else {
                                    throw GraphQLFailure("user_uuids: every entry must be a user id")
                                }
                                return id
                            }
                            switch props["user_update_mode"].string {
                            case "add": members = .add(users)
                            case "remove": members = .remove(users)
                            default: throw GraphQLFailure("user_update_mode: 'add' or 'remove' with user_uuids")
                            }
                        }
                        try await Self.store(context).modifyGroup(try groupID(args), changes, members: members)
                        return GraphQLMutation.outcome(true, "success")
                    } catch { return try refused(error) }
                }),
            "delete_group": GraphQLField(
                type: try GraphQLMutation.result("DeleteGroup"),
                args: ["gid": GraphQLArgument(type: GraphQLNonNull(GraphQLScalars.uuid))],
                resolve: GraphQLMutation.admin { args, context in
                    do {
                        var changes = PostgresOrganizationStore.Changes()
                        changes.isActive = false
                        try await Self.store(context).modifyGroup(try groupID(args), changes, members: nil)
                        return GraphQLMutation.outcome(true, "success")
                    } catch { return try refused(error) }
                }),
            "purge_group": GraphQLField(
                type: try GraphQLMutation.result("PurgeGroup"),
                args: ["gid": GraphQLArgument(type: GraphQLNonNull(GraphQLScalars.uuid))],
                resolve: GraphQLMutation.admin { args, context in
                    do {
                        guard let purges = context.purges else { throw GraphQLFailure("projects are not available here") }
                        let outcome = try await purges.purgeGroup(try groupID(args))
                        guard outcome.failedFolders == 0 else {
                            return GraphQLMutation.outcome(
                                false, "\(outcome.failedFolders) folder(s) could not be removed (now delete-error); run the purge again.")
                        }
                        return GraphQLMutation.outcome(true, "success (\(outcome.removedFolders) folder(s) removed)")
                    } catch { return try refused(error) }
                }),
            "create_domain": GraphQLField(
                type: try GraphQLMutation.result("CreateDomain", extra: ["domain": GraphQLField(type: domain)]),
                args: ["name": GraphQLArgument(type: GraphQLNonNull(GraphQLString)), "props": GraphQLArgument(type: GraphQLNonNull(domainInput))],
                resolve: GraphQLMutation.admin { args, context in
                    do {
                        var changes = try Self.changes(args["props"])
                        changes.name = try Self.domainName(args["name"].string ?? "", field: "name")
                        let created = try await Self.store(context).createDomain(changes)
                        var result = GraphQLMutation.outcome(true, "success")
                        result["domain"] = OrganizationSchema.domainRow(created)
                        return result
                    } catch { return try refused(error) }
                }),
            "modify_domain": GraphQLField(
                type: try GraphQLMutation.result("ModifyDomain"),
                args: ["name": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
                       "props": GraphQLArgument(type: GraphQLNonNull(modifyDomainInput))],
                resolve: GraphQLMutation.admin { args, context in
                    do {
                        let name = args["name"].string ?? ""
                        var changes = try Self.changes(args["props"])
                        if let newName = args["props"]["name"].string, newName != name {
                            guard name != "default" else {
                                throw GraphQLFailure("name: the default domain keeps its name (manager keypair create adds users to it)")
                            }
                            changes.name = try Self.domainName(newName, field: "name")
                        }
                        if changes.isActive == false, name == context.identity.domainName {
                            throw GraphQLFailure("is_active: you cannot deactivate your own domain")
                        }
                        try await Self.store(context).modifyDomain(name, changes)
                        context.keypairCache?.forgetAll()
                        return GraphQLMutation.outcome(true, "success")
                    } catch { return try refused(error) }
                }),
            "delete_domain": GraphQLField(
                type: try GraphQLMutation.result("DeleteDomain"),
                args: ["name": GraphQLArgument(type: GraphQLNonNull(GraphQLString))],
                resolve: GraphQLMutation.admin { args, context in
                    do {
                        let name = args["name"].string ?? ""
                        guard name != context.identity.domainName else { throw GraphQLFailure("You cannot deactivate your own domain.") }
                        var changes = PostgresOrganizationStore.Changes()
                        changes.isActive = false
                        try await Self.store(context).modifyDomain(name, changes)
                        context.keypairCache?.forgetAll()
                        return GraphQLMutation.outcome(true, "success")
                    } catch { return try refused(error) }
                }),
            "purge_domain": GraphQLField(
                type: try GraphQLMutation.result("PurgeDomain"),
                args: ["name": GraphQLArgument(type: GraphQLNonNull(GraphQLString))],
                resolve: GraphQLMutation.admin { args, context in
                    do {
                        let name = args["name"].string ?? ""
                        guard name != context.identity.domainName else { throw GraphQLFailure("You cannot purge your own domain.") }
                        try await Self.store(context).purgeDomain(name)
                        return GraphQLMutation.outcome(true, "success")
                    } catch { return try refused(error) }
                }),
        ]
    }

    static func store(_ context: GraphQLContext) throws -> PostgresOrganizationStore {
        guard let store = context.organization else { throw GraphQLFailure("domains and projects are not available here") }
        return store
    }

    /// The fields projects and domains share; a bad value is a message naming the key.
    static func changes(_ props: Map) throws -> PostgresOrganizationStore.Changes {
        var changes = PostgresOrganizationStore.Changes()
        func text(_ key: String, max: Int) throws -> String? {
            let value = props[key]
            if value.isUndefined || value.isNull { return nil }
            guard let text = value.string, text.count <= max else { throw GraphQLFailure("\(key) must be text of at most \(max) characters") }
            return text
        }
        changes.description = try text("description", max: 512)
        changes.integrationID = try text("integration_id", max: 512)
        changes.isActive = props["is_active"].bool
        if let json = try GraphQLScalars.json(props["total_resource_slots"], name: "total_resource_slots") {
            switch ResourceSlots.parse(json) {
            case .success: changes.totalResourceSlots = json
            case .failure(.notAnObject): throw GraphQLFailure("total_resource_slots must be a JSON object of slot amounts")
            case .failure(.badAmount(let slot)): throw GraphQLFailure("total_resource_slots.\(slot.prefix(64)) is not an amount")
            }
        }
        if let hosts = try GraphQLScalars.json(props["allowed_vfolder_hosts"], name: "allowed_vfolder_hosts"), hosts != .object([]) {
            throw GraphQLFailure("allowed_vfolder_hosts: set folder hosts on the keypair resource policy (admin keypair-resource-policy update)")
        }
        if case .array(let items) = props["allowed_docker_registries"], !items.isEmpty {
            throw GraphQLFailure("allowed_docker_registries: images come from the agents' image store here (manager image import)")
        }
        if !props["resource_policy"].isUndefined && !props["resource_policy"].isNull {
            throw GraphQLFailure("resource_policy: policies belong to keypairs here (admin keypair update --resource-policy)")
        }
        return changes
    }

    /// A project name: 1 to 64 characters, no control characters, no surrounding spaces.
    static func projectName(_ name: String, field: String) throws -> String {
        guard (1...64).contains(name.count), name.trimmingCharacters(in: .whitespaces) == name,
            !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { throw GraphQLFailure("\(field): a project name is 1 to 64 characters, without control characters or surrounding spaces") }
        return name
    }

    /// A domain name: a letter or digit, then up to 63 letters, digits, `.`, `_` or `-`.
    static func domainName(_ name: String, field: String) throws -> String {
        let bytes = Array(name.utf8)
        func allowed(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
        }
        guard (1...64).contains(bytes.count), allowed(bytes[0]),
            bytes.allSatisfy({ allowed($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D })
        else { throw GraphQLFailure("\(field): a domain name is a letter or digit, then up to 63 letters, digits, '.', '_' or '-'") }
        return name
    }
}
