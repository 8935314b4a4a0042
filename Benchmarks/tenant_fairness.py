#!/usr/bin/env python3
"""Tenant B's experience while tenant A floods the same manager, against B alone.

B sends --b-sessions batch sessions open-loop at --b-rate per second and measures each POST /session; the time
from each POST to RUNNING is read from the database afterwards (status_history). With --flood, A's --a-workers
workers enqueue as fast as they can meanwhile: half reservations for 2099 (starts_at), half sessions that fit on
no agent (1000 cpu), so A's queue grows for the whole run. Requests are signed as the Backend.AI client signs them
(Benchmarks/api_latency.py).

usage: tenant_fairness.py --endpoint URL --a-key AK --a-secret SK --b-key AK --b-secret SK --psql "psql …" \
           [--flood] [--b-sessions 200] [--b-rate 20] [--a-workers 32] [--json out.json]
"""
import argparse, asyncio, json, subprocess, sys, time, uuid

import aiohttp

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from api_latency import headers, percentile  # noqa: E402


class Keys:
    def __init__(self, endpoint, access_key, secret_key):
        self.endpoint, self.access_key, self.secret_key = endpoint, access_key, secret_key


async def post_session(session, keys, body):
    started = time.perf_counter()
    async with session.post(keys.endpoint + "/session", data=json.dumps(body), headers=headers(keys, "POST", "/session")) as r:
        await r.read()
        return r.status, time.perf_counter() - started


async def flood(session, keys, prefix, stop, counts):
    index = 0
    while not stop.is_set():
        index += 1
        body = {"name": f"a-{prefix}-{id(asyncio.current_task())}-{index}", "type": "batch", "image": "img:latest",
                "enqueueOnly": True, "startupCommand": "true"}
        if index % 2:
            body["starts_at"] = "2099-01-01T00:00:00+00:00"
            body["config"] = {"resources": {"cpu": "1", "mem": "1g"}}
        else:
            body["config"] = {"resources": {"cpu": "1000", "mem": "1g"}}
        status, _ = await post_session(session, keys, body)
        counts[status] = counts.get(status, 0) + 1


async def tenant_b(session, keys, prefix, count, rate):
    latencies, statuses, names = [], {}, []

    async def one(i):
        name = f"b-{prefix}-{i}"
        names.append(name)
        status, latency = await post_session(session, keys, {
            "name": name, "type": "batch", "image": "img:latest", "enqueueOnly": True, "startupCommand": "true",
            "config": {"resources": {"cpu": "1", "mem": "1g"}}})
        statuses[status] = statuses.get(status, 0) + 1
        latencies.append(latency)

    tasks = []
    started = time.perf_counter()
    for i in range(count):
        # Open loop: the i-th request leaves at i / rate whatever the earlier ones are doing.
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return latencies, statuses, names


def time_to_running(psql, prefix, deadline):
    query = (f"SELECT count(*) FILTER (WHERE status_history ? 'RUNNING'), count(*), "
             f"coalesce(string_agg(extract(epoch FROM (status_history->>'RUNNING')::timestamptz - created_at)::text, ','), '') "
             f"FROM sessions WHERE name LIKE 'b-{prefix}-%'")
    while True:
        out = subprocess.run(psql + ["-Atc", query], capture_output=True, text=True, check=True).stdout.strip()
        ran, total, values = out.split("|", 2)
        if int(ran) == int(total) or time.time() > deadline:
            return [float(v) for v in values.split(",") if v], int(ran), int(total)
        time.sleep(0.5)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--a-key", required=True)
    parser.add_argument("--a-secret", required=True)
    parser.add_argument("--b-key", required=True)
    parser.add_argument("--b-secret", required=True)
    parser.add_argument("--psql", required=True)
    parser.add_argument("--flood", action="store_true")
    parser.add_argument("--b-sessions", type=int, default=200)
    parser.add_argument("--b-rate", type=float, default=20)
    parser.add_argument("--a-workers", type=int, default=32)
    parser.add_argument("--json")
    args = parser.parse_args()
    a = Keys(args.endpoint, args.a_key, args.a_secret)
    b = Keys(args.endpoint, args.b_key, args.b_secret)
    prefix = uuid.uuid4().hex[:8]
    stop = asyncio.Event()
    a_counts = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.a_workers + 64)) as session:
        flooders = [asyncio.create_task(flood(session, a, prefix, stop, a_counts)) for _ in range(args.a_workers if args.flood else 0)]
        if flooders:
            await asyncio.sleep(2)  # A's queue is already growing when B starts
        latencies, statuses, _ = await tenant_b(session, b, prefix, args.b_sessions, args.b_rate)
        running, ran, total = time_to_running(args.psql.split(), prefix, time.time() + 120)
        stop.set()
        await asyncio.gather(*flooders)
    result = {
        "flood": args.flood, "a_requests": a_counts, "b_statuses": statuses,
        "b_enqueue_p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "b_enqueue_p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "b_running": f"{ran}/{total}",
        "b_to_running_p50_s": round(percentile(running, 50), 3) if running else None,
        "b_to_running_p99_s": round(percentile(running, 99), 3) if running else None,
    }
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if ran == total and set(statuses) == {201} else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
