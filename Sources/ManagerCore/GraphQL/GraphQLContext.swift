import GraphQL
import OrderedCollections

/// What every resolver can reach: the caller and the stores.
struct GraphQLContext: Sendable {
    let identity: Identity
    let keypairs: any KeypairStore
    let scalingGroups: any ScalingGroupStore
    let sessions: any SessionStore
    let agents: PostgresAgentStore
    let folders: PostgresVFolderStore
    let images: PostgresImageStore
    let policies: any ResourcePolicyStore
    /// Forgotten entries take effect at once on this replica (`modify_keypair`).
    let keypairCache: KeypairCache?
    /// Users and keypairs (`AccountSchema`); nil where no database backs the schema (the fuzz target).
    var accounts: PostgresAccountStore? = nil
    /// Domains and projects (`OrganizationSchema`); nil likewise.
    var organization: PostgresOrganizationStore? = nil
    /// `purge_user` / `purge_group` (`AccountPurge`); nil likewise.
    var purges: AccountPurge? = nil
    /// The storage volumes (`StorageSchema`); nil likewise.
    var volumes: StorageVolumes? = nil

    /// Throws for a non-admin caller; mutations call this first.
    func requireAdmin() throws {
        guard self.identity.isAdmin else { throw GraphQLFailure("Only an admin may do this.") }
    }
}

extension GraphQLResolveInfo {
    static func context(_ value: any Sendable) throws -> GraphQLContext {
        guard let context = value as? GraphQLContext else { throw GraphQLFailure("internal: missing context") }
        return context
    }
}
