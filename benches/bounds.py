#!/usr/bin/env python3
"""Scale figures for the bounds (issue "Bounded under load"), rangeserve beside nginx where nginx
has the feature, in one run. Prints a markdown table: server memory (VmRSS, summed over an
nginx's master and workers; VmHWM for the peaks) and times.

    python3 benches/bounds.py BIN        # BIN: a release rangeserve; about 5 minutes

Everything stays on 127.0.0.1; every loop is bounded in count and time. Needs nginx (nginx-light)
and room for 10,000 connections: it raises RLIMIT_NOFILE to 100,000 (as root) or to the hard limit.
"""

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1])
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WORK = tempfile.mkdtemp(prefix="rangeserve-bounds.")
os.chmod(WORK, 0o755)
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (100_000, 100_000))
except (ValueError, OSError):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, limit=30):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} never opened")


def status_kib(pids, field):
    total = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def children(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]
    except OSError:
        return []


class Server:
    def __init__(self, kind, root, extra=(), preexec=None, listen_extra=""):
        self.kind, self.port = kind, free_port()
        if kind == "rangeserve":
            args = [BIN, "--dir", root, "--bind", "127.0.0.1", "--port", str(self.port),
                    "--state-dir", os.path.join(WORK, "state"), "--no-digest", "--no-progress",
                    *extra]
            env = dict(os.environ, RUST_LOG="warn")
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                         stderr=open(os.path.join(WORK, "rs.log"), "a"),
                                         env=env, preexec_fn=preexec)
        else:
            conf_dir = tempfile.mkdtemp(dir=WORK)
            conf = os.path.join(conf_dir, "nginx.conf")
            open(conf, "w").write(f"""
worker_processes 2;
daemon off;
pid {conf_dir}/nginx.pid;
error_log {conf_dir}/error.log crit;
{" ".join(extra)}
events {{ worker_connections 20000; }}
http {{
  access_log off; sendfile on; keepalive_timeout 300s; keepalive_requests 100000;
  client_body_temp_path {conf_dir}/b; proxy_temp_path {conf_dir}/p; fastcgi_temp_path {conf_dir}/f;
  uwsgi_temp_path {conf_dir}/u; scgi_temp_path {conf_dir}/s;
  types {{ }} default_type application/octet-stream;
  server {{ listen 127.0.0.1:{self.port} {listen_extra}; root {root}; autoindex on; }}
}}
""")
            self.proc = subprocess.Popen([NGINX, "-p", conf_dir, "-c", conf],
                                         stderr=subprocess.DEVNULL, preexec_fn=preexec)
        wait_port(self.port)
        # Let start-up settle (the banner's scan, the first request's allocations) before any
        # baseline is read: a growth is measured from a served, quiet server.
        if not listen_extra:  # (an h2c-only nginx port answers no HTTP/1.1)
            warm = request(self.port, "/small.bin", close=True)
            read_response(warm, to_close=True)
            warm.close()
        time.sleep(1.0)

    def pids(self):
        return [self.proc.pid] + children(self.proc.pid)

    def rss(self):
        return status_kib(self.pids(), "VmRSS")

    def hwm(self):
        return status_kib(self.pids(), "VmHWM")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def request(port, path, method="GET", close=False, keep=None):
    s = keep or socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\n{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n".encode())
    return s


def read_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


def read_response(s, to_close=False):
    """One response: by Content-Length, or (`to_close`) everything until the server closes
    (nginx's listings are chunked)."""
    head, rest = read_head(s)
    length = None
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    while (length is None and to_close) or (length is not None and len(rest) < length):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        rest += chunk
    return int(head.split(" ")[1]) if head else 0, rest


rows = []


def row(what, unit, rs, ng="-"):
    rows.append((what, unit, rs, ng))
    print(f"  {what}: rangeserve {rs}, nginx {ng} {unit}", file=sys.stderr, flush=True)


def idle_connections(kind, root, n):
    extra = (["--idle-timeout", "300", "--header-timeout", "300", "--max-connections", "12000"]
             if kind == "rangeserve" else ["worker_rlimit_nofile 30000;"])
    server = Server(kind, root, extra)
    base = server.rss()
    socks, started = [], time.time()
    for _ in range(n):
        s = request(server.port, "/small.bin")
        read_response(s)
        socks.append(s)
    took = time.time() - started
    grown = server.rss() - base
    for s in socks:
        s.close()
    server.stop()
    return grown, took


def stalled_downloads(kind, root, n=1000):
    extra = (["--send-timeout", "300", "--idle-timeout", "300"]
             if kind == "rangeserve" else ["worker_rlimit_nofile 30000;"])
    server = Server(kind, root, extra)
    base = server.rss()
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        request(server.port, "/big.bin", keep=s)
        read_head(s)
        socks.append(s)
    time.sleep(2)
    grown = server.rss() - base
    for s in socks:
        s.close()
    server.stop()
    return grown


def h2_frame(kind, flags, stream, payload=b""):
    n = len(payload)
    return bytes([n >> 16 & 255, n >> 8 & 255, n & 255, kind, flags]) + stream.to_bytes(4, "big") + payload


def stalled_h2(kind, root, streams=100):
    server = Server(kind, root, ["--send-timeout", "300"] if kind == "rangeserve" else [],
                    listen_extra="http2" if kind == "nginx" else "")
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(4, 0, 0, bytes([0, 4, 0x7f, 255, 255, 255]))
              + h2_frame(8, 0, 0, (0x7fffffff - 65535).to_bytes(4, "big")))
    head = s.recv(9)
    length = int.from_bytes(head[:3], "big")
    while length > 0:
        length -= len(s.recv(length))
    s.sendall(h2_frame(4, 1, 0))
    base = server.rss()
    authority = f"127.0.0.1:{server.port}".encode()
    frames = b""
    for i in range(streams):
        block = bytes([0x82, 0x86, 0x04, len(b"/big.bin")]) + b"/big.bin" + bytes([0x01, len(authority)]) + authority
        frames += h2_frame(1, 5, 2 * i + 1, block)
    s.sendall(frames)
    time.sleep(3)
    grown = server.rss() - base
    s.close()
    server.stop()
    return grown


def listing(kind, root, path):
    # The first reading of a huge folder is the disk's (inodes): one untimed request warms the
    # kernel's caches, so both servers are timed on the same warm tree.
    server = Server(kind, root, ["--idle-timeout", "300"] if kind == "rangeserve" else [])
    s = request(server.port, path, close=True)
    read_response(s, to_close=True)
    s.close()
    server.stop()
    server = Server(kind, root, ["--idle-timeout", "300"] if kind == "rangeserve" else [])
    base = server.hwm()
    started = time.time()
    s = request(server.port, path, close=True)
    status, body = read_response(s, to_close=True)
    s.close()
    took = time.time() - started
    peak = server.hwm() - base
    server.stop()
    return status, took, peak, len(body)


def archive_first_byte(root, path):
    os.listdir(os.path.join(root, path.strip("/").split("/")[0]))
    server = Server("rangeserve", root)
    base = server.hwm()
    started = time.time()
    s = request(server.port, path, method="HEAD", close=True)
    read_head(s)
    head_took = time.time() - started
    started = time.time()
    s = request(server.port, path)
    s.recv(1)
    first_byte = time.time() - started
    s.close()
    peak = server.hwm() - base
    server.stop()
    return head_took, first_byte, peak


def descriptor_limited(kind, root, files=2000, clients=64, per_client=40):
    import threading
    limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    server = Server(kind, root, ["worker_rlimit_nofile 256;"] if kind == "nginx" else [], preexec=limit)
    statuses, lock = {}, threading.Lock()

    def client(c):
        for r in range(per_client):
            try:
                s = request(server.port, f"/many/f{(c * 31 + r * 7) % files}", close=True)
                status, _ = read_response(s)
                s.close()
            except OSError:
                status = "error"
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    started = time.time()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    took = time.time() - started
    server.stop()
    return statuses, clients * per_client / took


def main():
    www = os.path.join(WORK, "www")
    os.makedirs(os.path.join(www, "many"))
    os.makedirs(os.path.join(www, "l100k"))
    os.makedirs(os.path.join(www, "arch100k"))
    with open(os.path.join(www, "small.bin"), "wb") as f:
        f.write(os.urandom(4096))
    with open(os.path.join(www, "big.bin"), "wb") as f:
        f.write(os.urandom(64 << 20))
    for i in range(2000):
        with open(os.path.join(www, "many", f"f{i}"), "wb") as f:
            f.write(os.urandom(1024))
    for i in range(100_000):
        open(os.path.join(www, "l100k", f"entry-{i:07d}"), "w").close()
        open(os.path.join(www, "arch100k", f"member-{i:07d}"), "w").close()
    millions = os.environ.get("MILLION", "1") == "1"
    if millions:
        os.makedirs(os.path.join(www, "l1m"))
        for i in range(1_000_000):
            open(os.path.join(www, "l1m", f"entry-{i:07d}"), "w").close()

    # 10,000 where the descriptor limit lets rangeserve's budget (3/8 of it) take that many.
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    n = min(10_000, (limit - 64) * 3 // 8 - 100)
    print(f"{n} idle keep-alive connections", file=sys.stderr)
    rs, rs_t = idle_connections("rangeserve", www, n)
    ng, ng_t = idle_connections("nginx", www, n)
    row(f"{n:,} idle keep-alive connections: RSS growth", "MiB", f"{rs / 1024:.1f}", f"{ng / 1024:.1f}")
    row(f"{n:,} idle keep-alive connections: time to open and serve", "s", f"{rs_t:.1f}", f"{ng_t:.1f}")
    print("1,000 stalled downloads", file=sys.stderr)
    rs, ng = stalled_downloads("rangeserve", www), stalled_downloads("nginx", www)
    row("1,000 stalled downloads of a 64 MiB file: RSS growth", "MiB", f"{rs / 1024:.1f}", f"{ng / 1024:.1f}")
    print("100 stalled HTTP/2 streams", file=sys.stderr)
    rs, ng = stalled_h2("rangeserve", www), stalled_h2("nginx", www)
    row("100 stalled HTTP/2 streams on one connection (h2c, 2^31-1 window): RSS growth", "MiB",
        f"{rs / 1024:.1f}", f"{ng / 1024:.1f}")
    for name, path in [("100,000", "/l100k/"), ("1,000,000", "/l1m/")]:
        if path == "/l1m/" and not millions:
            continue
        print(f"listing of {name}", file=sys.stderr)
        rs = listing("rangeserve", www, path)
        ng = listing("nginx", www, path)
        row(f"HTML listing of {name} entries: time", "s", f"{rs[1]:.2f}", f"{ng[1]:.2f}")
        row(f"HTML listing of {name} entries: peak RSS growth (VmHWM)", "MiB",
            f"{rs[2] / 1024:.0f}", f"{ng[2] / 1024:.0f}")
        row(f"HTML listing of {name} entries: size", "MB", f"{rs[3] / 1e6:.0f}", f"{ng[3] / 1e6:.0f}")
    print("archive of 100,000 members", file=sys.stderr)
    head_t, first_t, peak = archive_first_byte(www, "/arch100k/arch100k.tar")
    row("100,000-member tar: HEAD (cold walk)", "s", f"{head_t:.2f}")
    row("100,000-member tar: first byte of a GET (cached walk)", "s", f"{first_t:.3f}")
    row("100,000-member tar: peak RSS growth (VmHWM)", "MiB", f"{peak / 1024:.0f}")
    print("2,000 files, 64 clients, nofile 256", file=sys.stderr)
    rs, rs_rate = descriptor_limited("rangeserve", www)
    ng, ng_rate = descriptor_limited("nginx", www)
    row("2,000 files, 64 clients × 40 requests, nofile 256: statuses", "",
        " ".join(f"{k}×{v}" for k, v in sorted(rs.items(), key=str)),
        " ".join(f"{k}×{v}" for k, v in sorted(ng.items(), key=str)))
    row("2,000 files, 64 clients, nofile 256: requests per second (Connection: close)", "req/s",
        f"{rs_rate:.0f}", f"{ng_rate:.0f}")

    print("| measurement | unit | rangeserve | nginx |")
    print("| --- | --- | --- | --- |")
    for what, unit, rs, ng in rows:
        print(f"| {what} | {unit} | {rs} | {ng} |")


try:
    main()
finally:
    shutil.rmtree(WORK, ignore_errors=True)
