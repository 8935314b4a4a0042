"""Prints, one JSON object per line, every compute_session_list request the installed backend.ai-client builds:
the CLI's `ps` / `admin session list` field sets (default, --detail, --name-only, each --format option, all of
them), with the status strings and filters those commands pass. The client's own code builds each document; only
its transport is replaced by a recorder."""
import asyncio
import json

from ai.backend.client.func.session import ComputeSession, _default_list_fields
from ai.backend.client.output.fields import session_fields
from ai.backend.client.session import AsyncSession, api_session

recorded = []


class Recorder:
    async def _query(self, query, variables):
        recorded.append({"query": query, "variables": variables})
        return {"compute_session_list": {"total_count": 0, "items": []}}


class FakeSession(AsyncSession):
    # An AsyncSession (so API functions return their coroutine) that opens no connection.
    def __init__(self):
        self.api_version = (7, "20230615")
        self.Admin = Recorder()


api_session.set(FakeSession.__new__(FakeSession))
api_session.get().__init__()
f = session_fields
ps = [f["name"], f["session_id"], f["group_name"], f["main_kernel_id"], f["image"], f["type"], f["status"],
      f["status_info"], f["status_changed"], f["result"]]
admin_ps = [f["name"], f["access_key"]] + ps[1:]
detail = admin_ps + [f["tag"], f["created_at"], f["occupying_slots"]]
every = [spec for key, spec in f.items() if key != "containers"]
field_sets = [list(_default_list_fields), ps, admin_ps, detail, [f["name"]], [f["name"], f["access_key"]], every]
field_sets += [[spec] for spec in every]
field_sets.append([f["name"], f["containers"]])
active = "PENDING,SCHEDULED,PULLING,PREPARING,RUNNING,RUNNING_DEGRADED,TERMINATING,ERROR"
arguments = [
    dict(status=active), dict(status="PREPARING,RUNNING,RUNNING_DEGRADED"), dict(status="CANCELLED,TERMINATED"),
    dict(status=None), dict(status=active, filter='name ilike "%a%"', order="-created_at"),
    dict(status="running", order="name"),
]


async def main():
    for fields in field_sets:
        for args in arguments:
            for page_offset, page_size in [(0, 20), (1, 3)]:
                await ComputeSession.paginated_list(
                    args.get("status"), args.get("access_key"), fields=fields, page_offset=page_offset,
                    page_size=page_size, filter=args.get("filter"), order=args.get("order"))


asyncio.run(main())
for request in recorded:
    print(json.dumps(request))
