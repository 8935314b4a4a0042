#!/usr/bin/env python3
"""vfolder clone throughput against `cp -a` on the same disk, through the real API: the clone is started with
POST /folders/{name}/clone and timed until its SSE stream says bgtask_done (so the figure includes the API call,
the source scan, the copy and the final transaction). `cp -a` copies the same source to a sibling folder.
Both write into the page cache (neither syncs); `sync` runs before each timed copy so earlier writes do not
weigh on the next one, and copies are removed only after all runs of a dataset (on ext4 here a copy made right
after a large removal is several times slower, whoever makes it). Each figure is the median of --runs
alternating runs.

Datasets: `large` = 1 GiB in 4 files of random data; `small` = 20,000 files of 4 KiB in 100 folders.

usage: Benchmarks/clone_throughput.py --endpoint URL --access-key AK --secret-key SK --volume PATH --scratch DIR \
           [--runs 3] [--datasets large,small] [--json out.json]
Benchmarks/clone_throughput.sh sets up PostgreSQL, Redis and a release manager with a volume and runs it.
"""
import argparse, asyncio, json, os, shutil, statistics, subprocess, time

import aiohttp

from api_latency import headers


async def call(args, session, method, path, body=None):
    async with session.request(method, args.endpoint + path, headers=headers(args, method, path),
                               data=json.dumps(body) if body is not None else None) as response:
        text = await response.text()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {text}")
        return json.loads(text) if text else None


async def wait_done(args, session, task_id):
    path = f"/events/background-task?task_id={task_id}"
    async with session.get(args.endpoint + path, headers=headers(args, "GET", path),
                           timeout=aiohttp.ClientTimeout(total=None)) as response:
        event = None
        async for raw in response.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event in ("bgtask_done", "bgtask_failed", "bgtask_cancelled"):
                if event != "bgtask_done":
                    raise RuntimeError(f"clone ended with {event}: {line}")
                return json.loads(line[6:])["message"]


def make_dataset(kind, path):
    if kind == "tiny":  # the CI smoke run: the same code path in a second
        for i in range(4):
            with open(os.path.join(path, f"part-{i}.bin"), "wb") as f:
                f.write(os.urandom(1 << 20))
        return 4, 4 << 20
    if kind == "large":
        for i in range(4):
            with open(os.path.join(path, f"part-{i}.bin"), "wb") as f:
                for _ in range(32):
                    f.write(os.urandom(8 << 20))
        return 4, 1 << 30
    for d in range(100):
        folder = os.path.join(path, f"dir-{d:03}")
        os.mkdir(folder)
        for i in range(200):
            with open(os.path.join(folder, f"file-{i:04}.txt"), "wb") as f:
                f.write(os.urandom(4096))
    return 20000, 20000 * 4096


async def main(args):
    results = {}
    async with aiohttp.ClientSession() as session:
        for kind in args.datasets.split(","):
            source = await call(args, session, "POST", "/folders", {"name": f"src-{kind}", "cloneable": True})
            source_path = os.path.join(args.volume, source["id"])
            files, size = make_dataset(kind, source_path)
            cp_times, clone_times, made, clones = [], [], [], []
            for run in range(args.runs):
                target = os.path.join(args.scratch, f"cp-{kind}-{run}")
                subprocess.run(["sync"], check=True)
                started = time.perf_counter()
                subprocess.run(["cp", "-a", source_path, target], check=True)
                cp_times.append(time.perf_counter() - started)
                made.append(target)

                subprocess.run(["sync"], check=True)
                started = time.perf_counter()
                clone = await call(args, session, "POST", f"/folders/src-{kind}/clone",
                                   {"target_name": f"dst-{kind}-{run}", "target_host": "local:volume1"})
                message = await wait_done(args, session, clone["bgtask_id"])
                clone_times.append(time.perf_counter() - started)
                clones.append(clone)
            for target in made:
                shutil.rmtree(target)
            for clone in clones:
                await call(args, session, "DELETE", f"/folders/{clone['name']}")
                await call(args, session, "POST", "/folders/purge", {"id": clone["id"]})
            subprocess.run(["sync"], check=True)
            cp, cl = statistics.median(cp_times), statistics.median(clone_times)
            results[kind] = {"files": files, "bytes": size, "cp_a_seconds": round(cp, 3), "clone_seconds": round(cl, 3),
                             "cp_a_mib_s": round(size / cp / 2**20, 1), "clone_mib_s": round(size / cl / 2**20, 1),
                             "clone_files_s": round(files / cl), "clone_vs_cp_a": round(cp / cl, 2),
                             "last_message": message, "runs": args.runs}
            print(f"{kind}: {files} files, {size / 2**20:.0f} MiB: cp -a {cp:.2f} s ({size / cp / 2**20:.0f} MiB/s), "
                  f"clone {cl:.2f} s ({size / cl / 2**20:.0f} MiB/s, {files / cl:.0f} files/s) -> clone/cp-a throughput "
                  f"{cp / cl:.2f}x  (median of {args.runs}; server: {message})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("--endpoint", "--access-key", "--secret-key", "--volume", "--scratch"):
        parser.add_argument(name, required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--datasets", default="large,small")
    parser.add_argument("--json")
    asyncio.run(main(parser.parse_args()))
