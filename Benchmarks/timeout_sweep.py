#!/usr/bin/env python3
"""Pending-timeout sweep: SESSIONS sessions wait PENDING in a scaling group that has no agent; then an admin sets the
group's pending_timeout to 1 s (the signed GraphQL mutation the CLI's `admin scaling-group update` sends), making
every one of them overdue at once. Reported: the time from the mutation's answer (the moment the rule holds) to the
last session CANCELLED `pending-timeout` and to its `session_cancelled` event, and the per-session p50/p99.

usage: Benchmarks/timeout_sweep.py --endpoint URL --access-key AK --secret-key SK --psql "psql args" \
           [--sessions 10000] [--concurrency 32] [--json out.json]
Benchmarks/timeout_sweep.sh sets up the stack (no agent) and runs it.
"""
import argparse, asyncio, json, sys, time

import aiohttp

from api_latency import headers, percentile, run_phase
from scheduler_throughput import psql

MUTATION = ("mutation($name: String!, $props: ModifyScalingGroupInput!) "
            "{ modify_scaling_group(name: $name, props: $props) { ok msg } }")


async def main(args):
    def create(i):
        body = {"name": f"sweep-{i}", "type": "batch", "image": "img:latest", "enqueueOnly": True,
                "startupCommand": "true", "config": {"resources": {"cpu": "1", "mem": "256m"}}}
        return "POST", "/session", json.dumps(body)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as http:
        enqueue = await run_phase(args, http, args.sessions, create)
        await asyncio.sleep(1.5)  # every session is now older than the 1 s timeout about to be set
        pending = int(psql(args, "SELECT count(*) FROM sessions WHERE status = 'PENDING'")[0][0])
        body = json.dumps({"query": MUTATION, "variables": {
            "name": "default", "props": {"scheduler_opts": json.dumps({"pending_timeout": 1})}}})
        async with http.post(args.endpoint + "/admin/gql", data=body, headers=headers(args, "POST", "/admin/gql")) as r:
            answer = await r.json()
        rule_holds = float(psql(args, "SELECT extract(epoch FROM clock_timestamp())")[0][0])
        if not answer.get("data", {}).get("modify_scaling_group", {}).get("ok"):
            print(f"the mutation failed: {answer}", file=sys.stderr)
            return 1
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        left = int(psql(args, "SELECT count(*) FROM sessions WHERE status = 'PENDING'")[0][0])
        if left == 0:
            break
        time.sleep(0.2)
    rows = psql(args, """
        SELECT extract(epoch FROM s.status_changed), extract(epoch FROM e.created_at), s.status, coalesce(s.status_info, '')
        FROM sessions s LEFT JOIN events e ON e.session_id = s.id AND e.name = 'session_cancelled'""")
    cancelled = [(float(r[0]) - rule_holds, float(r[1]) - rule_holds) for r in rows
                 if r[2] == "CANCELLED" and r[3] == "pending-timeout" and r[1]]
    tick = args.tick
    result = {
        "sessions": args.sessions, "pending_before": pending, "cancelled_with_event": len(cancelled),
        "enqueue_per_second": enqueue["per_second"], "tick_seconds": tick,
        "rule_to_last_cancelled_seconds": round(max(c for c, _ in cancelled), 3) if cancelled else None,
        "rule_to_last_event_seconds": round(max(e for _, e in cancelled), 3) if cancelled else None,
        "rule_to_cancelled_p50_seconds": round(percentile([c for c, _ in cancelled], 50), 3) if cancelled else None,
        "rule_to_cancelled_p99_seconds": round(percentile([c for c, _ in cancelled], 99), 3) if cancelled else None,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if len(cancelled) == args.sessions == pending and enqueue["errors"] == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("--endpoint", "--access-key", "--secret-key", "--psql"):
        parser.add_argument(name, required=True)
    parser.add_argument("--sessions", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--tick", type=float, default=1.0, help="the manager's scheduler.tick_interval, for the report")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--json")
    sys.exit(asyncio.run(main(parser.parse_args())))
