#!/usr/bin/env python3
"""Latency of POST /session (enqueueOnly) and of GraphQL compute_session_list(limit:100) against a running
manager, with requests signed exactly as the Backend.AI client signs them. Load comes from this separate
process on loopback, bounded by --sessions and --queries.

usage: Benchmarks/api_latency.py --endpoint http://127.0.0.1:8091 --access-key AK --secret-key SK \
           [--phases enqueue,list] [--sessions 10000] [--concurrency 32] [--queries 500] [--json out.json]
Benchmarks/enqueue_latency.sh and Benchmarks/list_latency.sh set up a stack and run one phase each.
Run it with the virtualenv that scripts/test.sh creates (.venv/bin/python: it has aiohttp).
"""
import argparse, asyncio, hashlib, hmac, json, statistics, sys, time, uuid
from datetime import datetime, timezone
from urllib.parse import urlparse

import aiohttp

VERSION = "v7.20230615"


def sign(method, path, date, host, content_type, secret):
    body_hash = hashlib.sha256(b"").hexdigest()
    text = f"{method}\n{path}\n{date}\nhost:{host}\ncontent-type:{content_type}\nx-backendai-version:{VERSION}\n{body_hash}"
    key = hmac.new(secret.encode(), datetime.fromisoformat(date).strftime("%Y%m%d").encode(), hashlib.sha256).digest()
    key = hmac.new(key, host.encode(), hashlib.sha256).digest()
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def headers(args, method, path):
    date = datetime.now(timezone.utc).isoformat()
    host = urlparse(args.endpoint).netloc
    signature = sign(method, path, date, host, "application/json", args.secret_key)
    return {"Date": date, "X-BackendAI-Version": VERSION, "Content-Type": "application/json",
            "Authorization": f"BackendAI signMethod=HMAC-SHA256, credential={args.access_key}:{signature}"}


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def run_phase(args, session, count, make_request):
    latencies, errors = [], 0
    queue = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker():
        nonlocal errors
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            method, path, body = make_request(i)
            started = time.perf_counter()
            async with session.request(method, args.endpoint + path, data=body, headers=headers(args, method, path)) as r:
                await r.read()
                if r.status >= 300:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    return {"count": count, "errors": errors, "seconds": round(elapsed, 3), "per_second": round(count / elapsed, 1),
            "p50_ms": round(percentile(latencies, 50) * 1000, 2), "p99_ms": round(percentile(latencies, 99) * 1000, 2)}


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--sessions", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--phases", default="enqueue,list")
    parser.add_argument("--json")
    args = parser.parse_args()
    phases = args.phases.split(",")
    prefix = uuid.uuid4().hex[:8]

    def create(i):
        body = {"name": f"bench-{prefix}-{i}", "type": "batch", "image": "img:latest", "enqueueOnly": True,
                "startupCommand": "true", "config": {"resources": {"cpu": "1", "mem": "1g"}}}
        return "POST", "/session", json.dumps(body)

    query = json.dumps({"query": "query($limit:Int!, $offset:Int!, $status: String) { compute_session_list(limit:$limit, "
                                 "offset:$offset, status:$status) { items { name access_key id group_name main_kernel_id image "
                                 "type status status_info status_changed result } total_count } }",
                        "variables": {"limit": 100, "offset": 0, "status": "PENDING,SCHEDULED,PREPARING,RUNNING,TERMINATING,ERROR"}})

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as session:
        results = {}
        if "enqueue" in phases:
            results["enqueue"] = await run_phase(args, session, args.sessions, create)
        if "list" in phases:
            results["list"] = await run_phase(args, session, args.queries, lambda i: ("POST", "/admin/gql", query))
    results["conditions"] = {"concurrency": args.concurrency, "endpoint": args.endpoint}
    for name in phases:
        r = results[name]
        print(f"{name}: {r['count']} requests, {r['errors']} errors, {r['per_second']} req/s, "
              f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms (concurrency {args.concurrency})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 1 if any(results[n]["errors"] for n in phases) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
