#!/usr/bin/env python3
"""Dependency chain: LINKS instant batch sessions (`true`), each depending on the one before, all queued before the
agent joins; then the agent (command --after-enqueue) runs them one after another. Reported: seconds per link (the
last TERMINATED minus the agent's start, divided by LINKS) and, per link, the time from one session's end to the
next one RUNNING (scheduler wake-up, dependency check, placement, agent start).

usage: Benchmarks/chain_latency.py --endpoint URL --access-key AK --secret-key SK --psql "psql args" \
           --after-enqueue "agent command" [--links 200] [--json out.json]
Benchmarks/chain_latency.sh sets up the stack and runs it.
"""
import argparse, asyncio, json, subprocess, sys, time

import aiohttp

from api_latency import headers, percentile
from scheduler_throughput import psql


async def enqueue_chain(args):
    previous = None
    async with aiohttp.ClientSession() as http:
        for i in range(args.links):
            body = {"name": f"link-{i}", "type": "batch", "image": "img:latest", "enqueueOnly": True,
                    "startupCommand": "true", "dependencies": [previous] if previous else [],
                    "config": {"resources": {"cpu": "1", "mem": "256m"}}}
            async with http.post(args.endpoint + "/session", data=json.dumps(body),
                                 headers=headers(args, "POST", "/session")) as r:
                answer = await r.json()
                if r.status != 201:
                    raise SystemExit(f"enqueue failed: {r.status} {answer}")
                previous = answer["sessionId"]


def main(args):
    asyncio.run(enqueue_chain(args))
    started = float(psql(args, "SELECT extract(epoch FROM clock_timestamp())")[0][0])
    subprocess.Popen(args.after_enqueue, shell=True)
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        if int(psql(args, "SELECT count(*) FROM sessions WHERE status NOT IN ('TERMINATED','CANCELLED','ERROR')")[0][0]) == 0:
            break
        time.sleep(0.2)
    rows = psql(args, """
        SELECT split_part(name, '-', 2)::int, status, result, extract(epoch FROM (status_history->>'RUNNING')::timestamptz),
               extract(epoch FROM terminated_at)
        FROM sessions ORDER BY 1""")
    succeeded = sum(1 for r in rows if r[1] == "TERMINATED" and r[2] == "SUCCESS")
    links = [float(rows[i][3]) - float(rows[i - 1][4]) for i in range(1, len(rows)) if rows[i][3] and rows[i - 1][4]]
    span = max(float(r[4]) for r in rows if r[4]) - started if succeeded else None
    result = {
        "links": args.links, "succeeded": succeeded,
        "agent_start_to_last_terminated_seconds": round(span, 3) if span else None,
        "seconds_per_link": round(span / args.links, 4) if span else None,
        "end_to_next_running_p50_ms": round(percentile(links, 50) * 1000, 1) if links else None,
        "end_to_next_running_p99_ms": round(percentile(links, 99) * 1000, 1) if links else None,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if succeeded == args.links else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("--endpoint", "--access-key", "--secret-key", "--psql", "--after-enqueue"):
        parser.add_argument(name, required=True)
    parser.add_argument("--links", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--json")
    sys.exit(main(parser.parse_args()))
