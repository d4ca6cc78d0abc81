"""Child of bench/serving.py: a server that answers every InvokeEndpoint at once, the boto3 client's floor.

    python -m bench.serving_null

Prints `READY <url>` on stdout and serves until stdin closes. Each POST gets the same answer our
endpoint gives for one digits row (status, headers and a top-3 body of the same shape), one write
per reply on keep-alive connections with TCP_NODELAY, so what the client measures against it is the
client's own cost plus loopback, with no model and no plane behind it.
"""

from __future__ import annotations

import socket
import sys
import threading

BODY = (
    b'{"predictions": [{"label": 3, "top_classes": [{"label": 3, "probability": 0.9901}, '
    b'{"label": 8, "probability": 0.0051}, {"label": 5, "probability": 0.0023}]}]}'
)
REPLY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
    b"x-Amzn-Invoked-Production-Variant: AllTraffic\r\n"
    b"x-amzn-RequestId: 00000000-0000-4000-8000-000000000000\r\n\r\n" % len(BODY)
) + BODY


def serve(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = conn.makefile("rb")
    with conn, reader:
        while reader.readline():
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            reader.read(length)
            conn.sendall(REPLY)


def main() -> int:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    print(f"READY http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
