"""Sends one HTTP request over a plain socket, exactly as given, with pauses between its parts.

Usage: raw_request.py SPEC.json   where SPEC is
  {"port": 8091, "parts": ["<base64>", ...], "pauses": [seconds before part 2, before part 3, ...],
   "ready_file": "path touched once the first part is sent" (optional), "read_timeout": 30}
Prints one JSON line: {"status": 201 or null, "head": "...", "body": "...", "error": null or "what failed",
"elapsed": seconds}. Used by the tests for what an HTTP library will not send: slow bodies, invalid UTF-8,
oversized headers, a request in flight while the server shuts down.
"""
import base64
import json
import socket
import sys
import time


def main():
    spec = json.load(open(sys.argv[1]))
    parts = [base64.b64decode(p) for p in spec["parts"]]
    pauses = spec.get("pauses", [])
    started = time.monotonic()
    result = {"status": None, "head": "", "body": "", "error": None}
    try:
        sock = socket.create_connection(("127.0.0.1", spec["port"]), timeout=spec.get("read_timeout", 30))
        for index, part in enumerate(parts):
            if index > 0:
                time.sleep(pauses[index - 1] if index - 1 < len(pauses) else 0)
            sock.sendall(part)
            if index == 0 and spec.get("ready_file"):
                open(spec["ready_file"], "w").close()
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = None
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                if length is not None and len(body) >= length:
                    break
        head, _, body = data.partition(b"\r\n\r\n")
        result["head"] = head.decode("latin-1")
        result["body"] = body.decode("utf-8", "replace")
        first = result["head"].split("\r\n", 1)[0].split(" ")
        if len(first) >= 2 and first[1].isdigit():
            result["status"] = int(first[1])
        elif not data:
            result["error"] = "closed without a response"
    except OSError as error:
        result["error"] = f"{type(error).__name__}: {error}"
    result["elapsed"] = round(time.monotonic() - started, 3)
    print(json.dumps(result))


main()
