#!/usr/bin/env python3
"""The least an HTTP server can do to move a file over loopback: what curl against it reaches is the ceiling any
HTTP storage endpoint on this machine can reach, whatever its language (transfer_throughput.py runs curl against it
beside the manager).

One request per connection, no parsing beyond the head: `PUT /NAME` (Content-Length) writes the body through one
reused 4 MiB buffer (`recv_into` + `write`) into a part file, then `fsync` and `rename` to DIR/NAME: the guarantee
the manager gives (the file appears whole or not at all, and stays after a crash); `GET /NAME` sends DIR/NAME with
`sendfile(2)`, the kernel's page-cache-to-socket path, which no user-space copy beats.

usage: transfer_floor_server.py DIR PORT   (prints "ready" when it listens)
"""
import os, socket, sys


def serve(directory, port):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    print("ready", flush=True)
    buffer = bytearray(4 << 20)
    view = memoryview(buffer)
    while True:
        connection, _ = listener.accept()
        with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                more = connection.recv(65536)
                if not more:
                    break
                head += more
            head, _, rest = head.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            fields = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
            path = os.path.join(directory, os.path.basename(target.split("?")[0]))
            if method in ("PUT", "PATCH"):
                length = int(fields.get("content-length", "0"))
                with open(path + ".part", "wb", buffering=0) as out:
                    out.write(rest)
                    left = length - len(rest)
                    while left > 0:
                        count = connection.recv_into(view[: min(len(buffer), left)])
                        if count == 0:
                            break
                        out.write(view[:count])
                        left -= count
                    os.fsync(out.fileno())
                os.rename(path + ".part", path)
                connection.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            else:
                size = os.path.getsize(path)
                connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n".encode())
                with open(path, "rb") as source:
                    sent = 0
                    while sent < size:
                        count = os.sendfile(connection.fileno(), source.fileno(), sent, size - sent)
                        if count == 0:
                            break
                        sent += count


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
