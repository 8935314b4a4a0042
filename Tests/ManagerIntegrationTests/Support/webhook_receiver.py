#!/usr/bin/env python3
"""A webhook receiver for the tests: records every POST (headers, body, the status it answered) as one JSON line
in --log, and answers 200, or 503 while --mode-file says "503", or (a tarpit) 200 after 25 seconds while it says
"tarpit"."""
import argparse, json, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--log", required=True)
parser.add_argument("--mode-file", required=True)
args = parser.parse_args()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        try:
            with open(args.mode_file) as f:
                mode = f.read().strip()
        except OSError:
            mode = "ok"
        status = 503 if mode == "503" else 200
        with lock, open(args.log, "a") as f:
            f.write(json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                "body": body, "status": status, "at": time.time(),
                                "local": self.server.server_address[0]}) + "\n")
        if mode == "tarpit":  # recorded on arrival, answered late
            time.sleep(25)
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok" if status == 200 else b"unavailable")

    def log_message(self, *_):
        pass


ThreadingHTTPServer.allow_reuse_address = True
ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()
