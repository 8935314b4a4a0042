#!/usr/bin/env python3
"""Scheduling throughput: enqueue N instant batch sessions (`true`) against a running manager whose agents
are up, wait until every one has ended, and read from PostgreSQL how fast they went from enqueue to RUNNING.

The figure reported as "sessions scheduled per second" is N divided by the time from the first enqueue to
the last session reaching RUNNING (enqueue, scheduling pass, agent start, report), all through the real
HTTP API and agent protocol. Per-session latency (created_at → RUNNING) is reported as p50/p99.
With --after-enqueue (drain mode) the agents join only after all N are queued, and the span starts then:
that isolates scheduling + agent start from the enqueue rate.

usage: Benchmarks/scheduler_throughput.py --endpoint URL --access-key AK --secret-key SK --psql "psql args" \
           [--sessions 10000] [--concurrency 32] [--pace SECONDS] [--json out.json]
Benchmarks/scheduler_throughput.sh sets all of this up (database, manager, 100 agents) and runs it.
"""
import argparse, asyncio, collections, json, subprocess, sys, time

import aiohttp

from api_latency import headers, percentile


def psql(args, sql):
    out = subprocess.run(args.psql.split() + ["-Atc", sql], check=True, capture_output=True, text=True).stdout
    return [line.split("|") for line in out.strip().splitlines() if line]


async def enqueue(args):
    queue = asyncio.Queue()
    for i in range(args.sessions):
        queue.put_nowait(i)
    errors = 0

    async def worker(session):
        nonlocal errors
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = json.dumps({"name": f"bench-{i}", "image": "python:3.11", "type": "batch", "startupCommand": "true", "enqueueOnly": True,
                               "config": {"resources": {"cpu": "1", "mem": "256m"}}})
            for attempt in range(5):
                async with session.post(args.endpoint + "/session", data=body, headers=headers(args, "POST", "/session")) as r:
                    await r.read()
                    if r.status != 503:
                        break
                await asyncio.sleep(0.2 * (attempt + 1))
            if r.status != 201:
                errors += 1
            if args.pace:
                await asyncio.sleep(args.pace)

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as session:
        await asyncio.gather(*(worker(session) for _ in range(args.concurrency)))
    return time.perf_counter() - started, errors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--psql", required=True, help="psql command line for the manager's database")
    parser.add_argument("--sessions", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--after-enqueue", help="shell command started once every session is enqueued "
                        "(the drain mode: agents join only then, so the queue is scheduled as fast as it can go)")
    parser.add_argument("--pace", type=float, default=0,
                        help="seconds each worker waits after an enqueue (with --concurrency 1: sessions one at a time)")
    parser.add_argument("--json")
    args = parser.parse_args()

    enqueue_seconds, errors = asyncio.run(enqueue(args))
    drain_started = None
    if args.after_enqueue:
        drain_started = float(psql(args, "SELECT extract(epoch FROM clock_timestamp())")[0][0])
        subprocess.Popen(args.after_enqueue, shell=True)
    deadline = time.time() + args.timeout
    while True:
        done = int(psql(args, "SELECT count(*) FROM sessions WHERE name LIKE 'bench-%' AND status IN ('TERMINATED','CANCELLED','ERROR')")[0][0])
        if done >= args.sessions - errors or time.time() > deadline:
            break
        time.sleep(0.5)
    rows = psql(args, """
        SELECT extract(epoch FROM created_at), extract(epoch FROM (status_history->>'RUNNING')::timestamptz),
               extract(epoch FROM (status_history->>'SCHEDULED')::timestamptz), status, result, coalesce(status_info, ''),
               coalesce(extract(epoch FROM terminated_at)::text, '')
        FROM sessions WHERE name LIKE 'bench-%'""")
    created = [float(r[0]) for r in rows]
    running = [(float(r[0]), float(r[1])) for r in rows if r[1]]
    scheduled = [(float(r[0]), float(r[2])) for r in rows if r[2]]
    succeeded = sum(1 for r in rows if r[3] == "TERMINATED" and r[4] == "SUCCESS")
    span = max(t for _, t in running) - (drain_started or min(created))
    terminated = [float(r[6]) for r in rows if r[3] == "TERMINATED" and r[6]]
    terminated_span = max(terminated) - (drain_started or min(created)) if terminated else None
    to_running = [t - c for c, t in running]
    to_scheduled = [t - c for c, t in scheduled]
    result = {
        "sessions": args.sessions, "enqueue_errors": errors, "succeeded": succeeded, "reached_running": len(running),
        "outcomes": dict(collections.Counter(f"{r[3]} {r[5]}".strip() for r in rows)),
        "enqueue_seconds": round(enqueue_seconds, 2), "enqueue_per_second": round(args.sessions / enqueue_seconds, 1),
        "mode": "drain (agents joined after the enqueue)" if drain_started else "enqueue while agents run",
        "start_to_last_running_seconds": round(span, 2),
        "scheduled_per_second": round(len(running) / span, 1),
        "start_to_last_terminated_seconds": round(terminated_span, 2) if terminated_span else None,
        "terminated_per_second": round(len(terminated) / terminated_span, 1) if terminated_span else None,
        "latency_to_scheduled_p50_ms": round(percentile(to_scheduled, 50) * 1000, 1),
        "latency_to_scheduled_p99_ms": round(percentile(to_scheduled, 99) * 1000, 1),
        "latency_to_running_p50_ms": round(percentile(to_running, 50) * 1000, 1),
        "latency_to_running_p99_ms": round(percentile(to_running, 99) * 1000, 1),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if errors == 0 and succeeded == args.sessions else 1


if __name__ == "__main__":
    sys.exit(main())
