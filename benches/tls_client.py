"""New TLS connections per second, each fetching a 1 KiB range, for benches/tls.sh.

    python3 benches/tls_client.py PORT CA_FILE PATH SECONDS resume|new

Opens a connection, handshakes (resuming the previous session when asked: a TLS 1.3 ticket or
a TLS 1.2 session), sends one GET with `Range: bytes=1000-1999` and `Connection: close`, reads
the response to the end, checks it is a 206 of 1000 bytes, closes; repeats for SECONDS (bounded
in time, loopback only). Prints: connections, resumed handshakes, elapsed seconds.
"""
import socket
import ssl
import sys
import time

port, ca, path, seconds, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
ctx.set_alpn_protocols(["http/1.1"])
request = (f"GET {path} HTTP/1.1\r\nHost: localhost\r\nRange: bytes=1000-1999\r\n"
           "Connection: close\r\n\r\n").encode()
session = None
count = resumed = 0
start = time.monotonic()
deadline = start + seconds
while time.monotonic() < deadline:
    raw = socket.create_connection(("127.0.0.1", port))
    tls = ctx.wrap_socket(raw, server_hostname="localhost",
                          session=session if mode == "resume" else None)
    tls.sendall(request)
    got = bytearray()
    while True:
        chunk = tls.recv(65536)
        if not chunk:
            break
        got += chunk
    head, _, body = bytes(got).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 206") or len(body) != 1000:
        sys.exit(f"unexpected response: {head[:80]!r} with {len(body)} body bytes")
    if tls.session_reused:
        resumed += 1
    if mode == "resume":
        session = tls.session
    tls.close()
    count += 1
print(count, resumed, time.monotonic() - start)
