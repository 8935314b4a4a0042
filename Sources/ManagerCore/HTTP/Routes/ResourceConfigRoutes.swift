import Foundation
import Hummingbird

/// What `backend.ai admin resource query-slots | vfolder-types | docker-registries | recalculate-usage` read:
/// the slot types sessions can ask for (`cpu` counted, `mem` in bytes), the folder ownership types (`user`,
/// `group`), the Docker registries (none: images come from the agents' image store, `manager image import`), and the
/// recalculation of agents' occupied slots, which has nothing to correct here: occupancy is summed from the sessions
/// that hold slots every time it is read, never kept as a counter (admins only, as in Backend.AI).
struct ResourceConfigRoutes {
    static let slotTypes = #"{"cpu": "count", "mem": "bytes"}"#

    func register(on router: Router<ManagerRequestContext>) {
        router.get("/config/resource-slots") { _, context in
            _ = try context.requireIdentity()
            return JSONResponse.raw(Self.slotTypes)
        }
        router.get("/config/vfolder-types") { _, context in
            _ = try context.requireIdentity()
            return JSONResponse.raw(#"["user", "group"]"#)
        }
        router.get("/config/docker-registries") { _, context in
            _ = try context.requireIdentity()
            return JSONResponse.raw("{}")
        }
        router.post("/resource/recalculate-usage") { _, context in
            let identity = try context.requireIdentity()
            guard identity.isAdmin else { throw APIError.forbidden("Only an admin may recalculate resource usage.") }
            return JSONResponse.raw("{}")
        }
    }
}
