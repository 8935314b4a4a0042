"""The soak's load generator (see Benchmarks/soak.sh): signed requests as the Backend.AI client sends them."""
import argparse, asyncio, hashlib, hmac, json, os, sys, time, uuid
from collections import Counter
from datetime import datetime, timezone
from urllib.parse import urlparse

import aiohttp

VERSION = "v7.20230615"
STATUSES = Counter()   # "METHOD route status" -> count
FAILURES = []


def signed_headers(args, method, path, content_type="application/json"):
    now = datetime.now(timezone.utc)
    date = now.isoformat()
    host = urlparse(args.endpoint).netloc
    text = "\n".join([method, path, date, "host:" + host, "content-type:" + content_type,
                      "x-backendai-version:" + VERSION, hashlib.sha256(b"").hexdigest()])
    key = hmac.new(args.secret_key.encode(), now.strftime("%Y%m%d").encode(), hashlib.sha256).digest()
    key = hmac.new(key, host.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    headers = {"Date": date, "X-BackendAI-Version": VERSION,
               "Authorization": f"BackendAI signMethod=HMAC-SHA256, credential={args.access_key}:{signature}"}
    if content_type != "application/octet-stream":
        headers["Content-Type"] = content_type
    return headers


async def call(http, args, method, path, route, body=None):
    data = json.dumps(body).encode() if body is not None else None
    async with http.request(method, args.endpoint + path, data=data,
                            headers=signed_headers(args, method, path)) as response:
        text = await response.text()
        STATUSES[f"{method} {route} {response.status}"] += 1
        if response.status >= 500:
            FAILURES.append(f"{method} {path}: {response.status} {text[:200]}")
        return response.status, (json.loads(text) if text and text[0] in "[{" else None)


async def read_stream(http, args, path, last_id=None, seconds=None):
    """Events of an SSE stream until it ends (or `seconds` pass): [(id, event, data)]."""
    headers = signed_headers(args, "GET", path, "application/octet-stream")
    if last_id is not None:
        headers["Last-Event-ID"] = str(last_id)
    events, block = [], {}
    timeout = aiohttp.ClientTimeout(total=seconds) if seconds else aiohttp.ClientTimeout(total=600)
    try:
        async with http.get(args.endpoint + path, headers=headers, timeout=timeout) as response:
            STATUSES[f"GET {path.split('?')[0]} {response.status}"] += 1
            if response.status >= 500:
                FAILURES.append(f"GET {path}: {response.status}")
            async for raw in response.content:
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if "event" in block:
                        events.append((block.get("id"), block["event"], block.get("data", "")))
                        if block["event"] == "server_close":
                            return events
                    block = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    block[name] = value
    except asyncio.TimeoutError:
        pass
    return events


async def chains(http, args, deadline, created):
    while time.monotonic() < deadline:
        head = f"soak-{uuid.uuid4().hex[:10]}"
        tail = f"soak-{uuid.uuid4().hex[:10]}"
        await call(http, args, "POST", "/session", "/session", {
            "name": head, "image": "python:3.11", "type": "batch", "startupCommand": "echo head", "enqueueOnly": True,
            "config": {"resources": {"cpu": "1", "mem": "64m"}}})
        await call(http, args, "POST", "/session", "/session", {
            "name": tail, "image": "python:3.11", "type": "batch", "startupCommand": "echo tail", "enqueueOnly": True,
            "dependencies": [head], "config": {"resources": {"cpu": "1", "mem": "64m"}}})
        created += [head, tail]
        await asyncio.sleep(0.5)


async def clones(http, args, deadline, results):
    while time.monotonic() < deadline:
        source = f"src-{uuid.uuid4().hex[:8]}"
        status, made = await call(http, args, "POST", "/folders", "/folders", {"name": source, "cloneable": True})
        if status != 201:
            continue
        folder = os.path.join(args.volume, made["id"])
        for index in range(20):
            with open(os.path.join(folder, f"f{index}"), "wb") as file:
                file.write(os.urandom(64 << 10))
        status, started = await call(http, args, "POST", f"/folders/{source}/clone", "/folders/{name}/clone",
                                     {"target_name": source + "-copy"})
        if status != 201:
            continue
        path = f"/events/background-task?task_id={started['bgtask_id']}"
        events = await read_stream(http, args, path, last_id=0)
        ids = [int(e[0]) for e in events if e[0]]
        complete = events and events[-1][1] == "server_close" and events[-2][1] == "bgtask_done" \
            and ids == list(range(1, len(ids) + 1))
        results["clones"] += 1
        if not complete:
            FAILURES.append(f"clone stream of {source}: {[(e[0], e[1]) for e in events][-5:]}")
        for name, identifier in ((source, made["id"]), (source + "-copy", started["id"])):
            await call(http, args, "DELETE", f"/folders/{name}", "/folders/{name}")
            await call(http, args, "POST", "/folders/purge", "/folders/purge", {"id": identifier})


async def watchers(http, args, deadline, results):
    last_id = None
    while time.monotonic() < deadline:
        events = await read_stream(http, args, "/events/session", last_id=last_id, seconds=5)
        ids = [int(e[0]) for e in events if e[0]]
        if last_id is not None and ids and ids[0] != last_id + 1:
            FAILURES.append(f"session stream resumed at {ids[0]} after {last_id}")
        if ids:
            last_id = ids[-1]
        results["stream_events"] += len(ids)


async def lists(http, args, deadline):
    query = {"query": "{ compute_session_list(limit: 100, offset: 0) { total_count items { name status } } }"}
    while time.monotonic() < deadline:
        await call(http, args, "POST", "/admin/gql", "/admin/gql", query)
        await asyncio.sleep(0.2)


def rss(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return None


async def main():
    parser = argparse.ArgumentParser()
    for name in ("--endpoint", "--access-key", "--secret-key", "--volume", "--json"):
        parser.add_argument(name, required=name != "--json")
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--pid", type=int, required=True)
    args = parser.parse_args()
    started = time.monotonic()
    deadline = started + args.minutes * 60
    created, results, samples = [], Counter(), []
    async with aiohttp.ClientSession() as http:
        async def sampler():
            while time.monotonic() < deadline:
                samples.append((round(time.monotonic() - started), rss(args.pid)))
                await asyncio.sleep(30)
        await asyncio.gather(
            sampler(), chains(http, args, deadline, created), chains(http, args, deadline, created),
            clones(http, args, deadline, results), watchers(http, args, deadline, results), lists(http, args, deadline))
        # Every session ends SUCCESS (within two minutes of the load stopping).
        unfinished, outcome = list(created), Counter()
        until = time.monotonic() + 120
        while unfinished and time.monotonic() < until:
            still = []
            for name in unfinished:
                status, info = await call(http, args, "GET", f"/session/{name}", "/session/{name}")
                if info and info.get("status") in ("TERMINATED", "CANCELLED", "ERROR"):
                    outcome[f"{info['status']}/{info['result']}"] += 1
                else:
                    still.append(name)
            unfinished = still
            if unfinished:
                await asyncio.sleep(2)
    samples.append((round(time.monotonic() - started), rss(args.pid)))
    if unfinished:
        FAILURES.append(f"{len(unfinished)} sessions not finished")
    if set(outcome) - {"TERMINATED/SUCCESS"}:
        FAILURES.append(f"sessions ended otherwise: {dict(outcome)}")
    summary = {"minutes": args.minutes, "sessions": len(created), "outcomes": dict(outcome),
               "clones": results["clones"], "session_stream_events": results["stream_events"],
               "requests": sum(STATUSES.values()), "statuses": dict(STATUSES),
               "rss_mib": samples, "failures": FAILURES[:20]}
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(summary, out)
    sys.exit(1 if FAILURES else 0)


asyncio.run(main())
