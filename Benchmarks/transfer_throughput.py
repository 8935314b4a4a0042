#!/usr/bin/env python3
"""vfolder upload and download throughput of one large file against `cp` of the same file on the same disk.

Each run, alternating: `cp` of the source into the volume; the official CLI's `vfolder upload` (aiotusclient, tus
PATCHes) and `vfolder download`; the same transfers with curl (one tus PATCH of the whole file; one GET into
/dev/null, because curl writes what it receives 8 KiB at a time and a write costs ~60 us on this VM, so curl into a
file measures curl's own writes at ~300 MiB/s, not the server), which shows the daemon's rate apart from the Python
client's; and curl against transfer_floor_server.py, the least an HTTP server can do (sendfile for downloads): the
ceiling of any HTTP endpoint on this machine. `sync` runs before each timed step. The manager's RSS is sampled
every 20 ms during the transfers: "memory flat" means its peak stays near its start, whatever the size.

usage: Benchmarks/transfer_throughput.py --endpoint URL --access-key AK --secret-key SK --volume PATH --scratch DIR
           --manager-pid PID [--size-mib 1024] [--runs 3] [--json out.json]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, threading, time, urllib.request

from api_latency import headers

CLI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".venv", "bin", "backend.ai")


def call(args, method, path, body=None):
    request = urllib.request.Request(args.endpoint + path, method=method, headers=headers(args, method, path),
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request) as response:
        text = response.read().decode()
        return json.loads(text) if text else None


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler:
    def __init__(self, pid):
        self.pid, self.peak, self.running = pid, 0, True
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while self.running:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.running = False
        self.thread.join()


def timed(command, env=None, cwd=None, expect=None):
    """Seconds `command` took; with `expect`, its standard output must be that (curl's `-w %{size_download}`)."""
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    done = subprocess.run(command, check=True, env=env, cwd=cwd, stdout=subprocess.PIPE if expect else subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - start
    if expect is not None and done.stdout.strip() != expect:
        raise RuntimeError(f"{command[0]} gave {done.stdout.strip()!r}, not {expect!r}")
    return took


def main():
    parser = argparse.ArgumentParser()
    for name in ("endpoint", "access-key", "secret-key", "volume", "scratch"):
        parser.add_argument("--" + name, required=True)
    parser.add_argument("--manager-pid", type=int, required=True)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--floor-port", type=int, default=18999)
    parser.add_argument("--json")
    args = parser.parse_args()
    env = dict(os.environ, BACKEND_ENDPOINT=args.endpoint, BACKEND_ENDPOINT_TYPE="api", BACKEND_ACCESS_KEY=args.access_key,
               BACKEND_SECRET_KEY=args.secret_key, PYTHONWARNINGS="ignore")
    call(args, "POST", "/folders", {"name": "xfer"})
    folder = os.path.join(args.volume, [d for d in os.listdir(args.volume) if not d.startswith(".")][0])
    source_dir = os.path.join(args.scratch, "source")
    os.makedirs(source_dir, exist_ok=True)
    source = os.path.join(source_dir, "big.bin")
    with open(source, "wb") as f:
        for _ in range(args.size_mib // 8 or 1):
            f.write(os.urandom(8 << 20))
    size = os.path.getsize(source)
    results = {"cp": [], "cli upload": [], "cli download": [], "curl upload": [], "curl download": [],
               "floor upload": [], "floor download": []}
    floor_dir = os.path.join(args.scratch, "floor")
    os.makedirs(floor_dir, exist_ok=True)
    floor = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "transfer_floor_server.py"),
                              floor_dir, str(args.floor_port)], stdout=subprocess.PIPE, text=True)
    if floor.stdout.readline().strip() != "ready":
        raise RuntimeError("the minimal server did not start")
    start_rss = rss_kib(args.manager_pid)
    with Sampler(args.manager_pid) as sampler:
        for run in range(args.runs):
            results["cp"].append(timed(["cp", source, os.path.join(folder, "cp-copy.bin")]))
            os.unlink(os.path.join(folder, "cp-copy.bin"))

            results["cli upload"].append(timed([CLI, "vfolder", "upload", "xfer", "big.bin", "-b", source_dir], env=env))
            target = os.path.join(args.scratch, "down")
            shutil.rmtree(target, ignore_errors=True)
            os.makedirs(target)
            results["cli download"].append(timed([CLI, "vfolder", "download", "xfer", "big.bin", "-b", target], env=env))
            if os.path.getsize(os.path.join(target, "big.bin")) != size:
                raise RuntimeError("the CLI downloaded a different size")
            shutil.rmtree(target)
            os.unlink(os.path.join(folder, "big.bin"))

            grant = call(args, "POST", "/folders/xfer/request-upload", {"path": "raw.bin", "size": size})
            url = f"{grant['url']}?token={grant['token']}"
            results["curl upload"].append(timed([
                "curl", "-sf", "-X", "PATCH", "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: 0",
                "-H", "Content-Type: application/offset+octet-stream", "-H", "Expect:", "-T", source, url]))
            grant = call(args, "POST", "/folders/xfer/request-download", {"path": "raw.bin"})
            results["curl download"].append(timed(["curl", "-sf", "-o", os.devnull, "-w", "%{size_download}", f"{grant['url']}?token={grant['token']}"],
                                                  expect=str(size)))
            os.unlink(os.path.join(folder, "raw.bin"))

            # The same two transfers against the least an HTTP server can do (transfer_floor_server.py).
            floor_url = f"http://127.0.0.1:{args.floor_port}/floor.bin"
            results["floor upload"].append(timed(["curl", "-sf", "-H", "Expect:", "-T", source, floor_url]))
            results["floor download"].append(timed(["curl", "-sf", "-o", os.devnull, "-w", "%{size_download}", floor_url], expect=str(size)))
            os.unlink(os.path.join(floor_dir, "floor.bin"))
        peak_rss = sampler.peak
    floor.kill()
    medians = {name: statistics.median(values) for name, values in results.items()}
    summary = {
        "size_bytes": size, "runs": args.runs, "seconds": results, "median_seconds": medians,
        "mib_per_s": {name: size / (1 << 20) / value for name, value in medians.items()},
        "vs_cp": {name: medians["cp"] / value for name, value in medians.items() if name != "cp"},
        "vs_floor": {direction: medians[f"floor {direction}"] / medians[f"curl {direction}"] for direction in ("upload", "download")},
        "manager_rss_kib": {"start": start_rss, "peak": peak_rss},
    }
    for name, value in medians.items():
        print(f"{name:14} {value:7.2f} s  {size / (1 << 20) / value:8.1f} MiB/s  "
              + ("" if name == "cp" else f"{medians['cp'] / value:5.2f}× cp"))
    for direction in ("upload", "download"):
        print(f"curl {direction} against the manager: {summary['vs_floor'][direction]:.2f}× the minimal server's")
    print(f"manager RSS: {start_rss / 1024:.1f} MiB at start, {peak_rss / 1024:.1f} MiB peak")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
