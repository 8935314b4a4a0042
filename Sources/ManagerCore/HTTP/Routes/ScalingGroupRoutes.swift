import Foundation
import Hummingbird

/// `GET /scaling-groups?group=`: the scaling groups the caller may start sessions in for that project
/// (`backend.ai admin scaling-group get-available`): public ones and private ones associated with the caller's
/// domain or the project.
struct ScalingGroupRoutes {
    let scalingGroups: any ScalingGroupStore

    private struct Listing: Encodable {
        struct Item: Encodable { let name: String }
        let scaling_groups: [Item]
    }

    func register(on router: Router<ManagerRequestContext>) {
        router.get("/scaling-groups") { request, context in
            let identity = try context.requireIdentity()
            guard let project = request.uri.queryParameters.get("group"), !project.isEmpty, project.count <= 64 else {
                throw APIError.invalidAPIParams("'group' (a project name or id) is required.")
            }
            guard let names = try await self.scalingGroups.usable(
                domain: identity.domainName, project: project, userID: identity.userID, isSuperadmin: identity.isAdmin)
            else {
                throw APIError.notFound(
                    "group-not-found", title: "No such project.",
                    msg: "'group': no active project '\(project.prefix(64))' you belong to.")
            }
            return try JSONResponse.make(Listing(scaling_groups: names.map { .init(name: $0) }))
        }
    }
}
