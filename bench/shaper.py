#!/usr/bin/env python3
"""A TCP forwarder on 127.0.0.1 that limits each connection's client-to-server direction to RATE
bytes a second (a link slower than loopback: a LAN, a WAN); the other direction passes as it is.
Usage: shaper.py TARGET_HOST:PORT RATE_BYTES_PER_S. Prints its port, then serves until killed."""
import socket, sys, threading, time

host, port = sys.argv[1].rsplit(":", 1)
rate = float(sys.argv[2])

def pipe(src, dst, limit):
    start, sent = time.monotonic(), 0
    try:
        while True:
            b = src.recv(256 * 1024)
            if not b:
                break
            dst.sendall(b)
            sent += len(b)
            if limit:
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
    except OSError:
        pass
    # Half-close, as TCP does: the other direction goes on (the answer after the upload).
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass

lst = socket.socket()
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(("127.0.0.1", 0))
lst.listen(64)
print(lst.getsockname()[1], flush=True)
while True:
    c, _ = lst.accept()
    s = socket.create_connection((host, int(port)))
    threading.Thread(target=pipe, args=(c, s, True), daemon=True).start()
    threading.Thread(target=pipe, args=(s, c, False), daemon=True).start()
