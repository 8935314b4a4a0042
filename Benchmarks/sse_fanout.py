#!/usr/bin/env python3
"""Background-task SSE fan-out: S concurrent `GET /events/background-task` subscribers (signed like the client)
to one running vfolder clone whose progress the manager publishes about ten times a second (or rarely, for the
idle figure: the server's clone_rate_limit decides). Reports the manager's RSS before and with everyone
connected, and, per delivered event, the delay from the event's commit (its created_at in PostgreSQL) to its
arrival at each subscriber: p50/p99 over all subscribers and events in the measuring window.

usage: Benchmarks/sse_fanout.py --endpoint URL --access-key AK --secret-key SK --volume PATH --psql "psql args" \
           --pid MANAGER_PID [--subscribers 5000] [--seconds 20] [--file-mib 64] [--json out.json]
Benchmarks/sse_fanout.sh sets up the stack and runs the idle and the 10/s phases.
"""
import argparse, asyncio, json, os, subprocess, sys, time

import aiohttp

from api_latency import headers, percentile
from clone_throughput import call


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


async def subscriber(args, session, path, arrivals, connected, stop):
    try:
        async with session.get(args.endpoint + path, headers=headers(args, "GET", path),
                               timeout=aiohttp.ClientTimeout(total=None)) as response:
            if response.status != 200:
                return
            connected.append(1)
            async for raw in response.content:
                if stop.is_set():
                    return
                if raw.startswith(b"id: "):
                    arrivals.append((int(raw[4:].strip()), time.time()))
    except (aiohttp.ClientError, asyncio.CancelledError):
        return


async def main(args):
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        source = await call(args, session, "POST", "/folders", {"name": "fanout-src", "cloneable": True})
        with open(os.path.join(args.volume, source["id"], "data.bin"), "wb") as f:
            f.write(os.urandom(args.file_mib << 20))
        before = rss_kib(args.pid)
        clone = await call(args, session, "POST", "/folders/fanout-src/clone", {"target_name": "fanout-dst", "target_host": "local:volume1"})
        path = f"/events/background-task?task_id={clone['bgtask_id']}"
        arrivals, connected, stop = [], [], asyncio.Event()
        started = time.time()
        tasks = []
        for i in range(args.subscribers):
            tasks.append(asyncio.create_task(subscriber(args, session, path, arrivals, connected, stop)))
            if i % 200 == 199:
                await asyncio.sleep(0.05)
        while len(connected) < args.subscribers and time.time() - started < 120:
            await asyncio.sleep(0.2)
        connect_seconds = time.time() - started
        window_start = time.time()
        arrivals.clear()
        await asyncio.sleep(args.seconds)
        with_subscribers = rss_kib(args.pid)
        window = list(arrivals)
        stop.set()
        await call(args, session, "DELETE", f"/bgtasks/{clone['bgtask_id']}")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    rows = subprocess.run(args.psql.split() + ["-Atc", f"SELECT seq, extract(epoch FROM created_at) FROM background_task_events "
                                                  f"WHERE task_id = '{clone['bgtask_id']}'"],
                          check=True, capture_output=True, text=True).stdout.split()
    committed = {int(seq): float(at) for seq, at in (row.split("|") for row in rows)}
    delays = [(at - committed[seq]) * 1000 for seq, at in window if seq in committed]
    events = len({seq for seq, _ in window})
    result = {
        "subscribers": args.subscribers, "connected": len(connected), "connect_seconds": round(connect_seconds, 1),
        "window_seconds": args.seconds, "events_in_window": events, "deliveries": len(delays),
        "delivery_ms_p50": round(percentile(delays, 50), 1) if delays else None,
        "delivery_ms_p99": round(percentile(delays, 99), 1) if delays else None,
        "rss_before_kib": before, "rss_with_subscribers_kib": with_subscribers,
    }
    print(json.dumps(result))
    print(f"{len(connected)}/{args.subscribers} subscribers connected in {connect_seconds:.1f} s; {events} events in "
          f"{args.seconds} s, {len(delays)} deliveries; delivery p50 {result['delivery_ms_p50']} ms, p99 "
          f"{result['delivery_ms_p99']} ms; manager RSS {before // 1024} MiB before, {with_subscribers // 1024} MiB with subscribers")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if len(connected) == args.subscribers and delays else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("--endpoint", "--access-key", "--secret-key", "--volume", "--psql"):
        parser.add_argument(name, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--file-mib", type=int, default=64)
    parser.add_argument("--json")
    sys.exit(asyncio.run(main(parser.parse_args())))
