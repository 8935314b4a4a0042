#!/usr/bin/env python3
"""Session-event fan-out (see session_streams.sh): S signed `GET /events/session` streams of one access key, then
N enqueues, one at a time; per delivery, the delay from the event's commit (events.created_at) to its arrival;
the manager's event-log queries over the enqueue phase (`manager_events_log_reads_total` on /metrics).
"""
import argparse, asyncio, json, subprocess, time

import aiohttp

from api_latency import headers, percentile
from clone_throughput import call
from sse_fanout import rss_kib, subscriber


async def log_reads(args, session):
    async with session.get(args.endpoint + "/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith("manager_events_log_reads_total"):
                return float(line.split()[-1])
    return 0.0


def transactions(args):
    """Committed transactions in the database so far (each statement outside a transaction counts one)."""
    out = subprocess.run(args.psql.split() + ["-Atc", "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"],
                         check=True, capture_output=True, text=True).stdout.strip()
    return int(out or 0)


async def main(args):
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        before = rss_kib(args.pid)
        arrivals, connected, stop = [], [], asyncio.Event()
        started = time.time()
        tasks = []
        for i in range(args.streams):
            tasks.append(asyncio.create_task(subscriber(args, session, "/events/session", arrivals, connected, stop)))
            if i % 200 == 199:
                await asyncio.sleep(0.05)
        while len(connected) < args.streams and time.time() - started < 180:
            await asyncio.sleep(0.2)
        connect_seconds = time.time() - started
        await asyncio.sleep(2)  # every stream has caught up and waits
        with_streams = rss_kib(args.pid)
        reads_before = await log_reads(args, session)
        commits_before = transactions(args)
        arrivals.clear()
        for n in range(args.sessions):
            await call(args, session, "POST", "/session", {
                "sessionName": f"fan-{n}", "image": "python:3.11", "sessionType": "batch", "startupCommand": "true",
                "enqueueOnly": True, "startsAt": "2099-01-01T00:00:00+00:00"})
            await asyncio.sleep(args.gap)
        deadline = time.time() + 120
        while len(arrivals) < args.streams * args.sessions and time.time() < deadline:
            await asyncio.sleep(0.2)
        reads_after = await log_reads(args, session)
        commits_after = transactions(args)
        window = list(arrivals)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    rows = subprocess.run(args.psql.split() + ["-Atc", "SELECT id, extract(epoch FROM created_at) FROM events"],
                          check=True, capture_output=True, text=True).stdout.split()
    committed = {int(i): float(at) for i, at in (row.split("|") for row in rows)}
    delays = [(at - committed[i]) * 1000 for i, at in window if i in committed]
    result = {
        "streams": args.streams, "connected": len(connected), "connect_seconds": round(connect_seconds, 1),
        "events": args.sessions, "deliveries": len(delays), "expected_deliveries": args.streams * args.sessions,
        "log_reads": reads_after - reads_before,
        "database_transactions": commits_after - commits_before,
        "delivery_ms_p50": round(percentile(delays, 50), 1) if delays else None,
        "delivery_ms_p99": round(percentile(delays, 99), 1) if delays else None,
        "rss_before_kib": before, "rss_with_streams_kib": with_streams,
    }
    print(json.dumps(result, indent=2))
    print(f"{len(connected)}/{args.streams} streams in {connect_seconds:.1f} s; {args.sessions} events, "
          f"{len(delays)}/{args.streams * args.sessions} deliveries, {result['log_reads']:.0f} event-log queries, "
          f"{result['database_transactions']} database transactions; "
          f"delivery p50 {result['delivery_ms_p50']} ms, p99 {result['delivery_ms_p99']} ms; "
          f"RSS {before // 1024} → {with_streams // 1024} MiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("endpoint", "access-key", "secret-key", "psql"):
        parser.add_argument("--" + name, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--streams", type=int, default=10000)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between enqueues")
    parser.add_argument("--json")
    asyncio.run(main(parser.parse_args()))
