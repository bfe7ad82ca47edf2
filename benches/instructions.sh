#!/usr/bin/env bash
# User-space instructions per request, rangeserve vs nginx, counted by callgrind: repeatable to
# 1-2% whatever else the machine does, so a change of a few percent shows where wrk's CPU
# figures (which vary by 10% between runs on a shared 2-core machine) are noise.
#
#   bash benches/instructions.sh        # about a minute; needs valgrind, nginx-light, python3
#
# Each server runs under `valgrind --tool=callgrind` (rangeserve with `--workers 1`, nginx with
# `master_process off; worker_processes 1`); one keep-alive connection sends N sequential GETs
# (checking each status and length); the count for 200 requests is subtracted from the count for
# 1200, so start-up and shutdown cancel out. Kernel work (the syscalls themselves) is not counted:
# this is the part of the CPU per request that the server's own code decides. Cases: a 4 KiB
# file, and a 1 KiB range of a 10 MiB file. nginx: sendfile on, access log off, no
# open_file_cache (its default). Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v nginx >/dev/null || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --quiet
BIN=$PWD/target/release/rangeserve

WORK=$(mktemp -d /tmp/rangeserve-instr.XXXXXX)
chmod 755 "$WORK"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/www"
head -c 4096 /dev/urandom > "$WORK/www/small.bin"
head -c $((10 << 20)) /dev/urandom > "$WORK/www/mid.bin"

cat > "$WORK/client.py" <<'EOF'
# client.py PORT PATH N [RANGE]: N sequential GETs on one keep-alive connection.
import socket, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rng = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None
want = b"206" if rng else b"200"
s = socket.create_connection(("127.0.0.1", port))
req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: instructions\r\n"
       "Accept: */*\r\n" + (f"Range: {rng}\r\n" if rng else "") + "\r\n").encode()
buf = b""
for _ in range(n):
    s.sendall(req)
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk: sys.exit("connection closed")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    if head.split(b" ")[1] != want: sys.exit(f"unexpected status: {head[:40]!r}")
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    while len(buf) < length:
        buf += s.recv(65536)
    buf = buf[length:]
EOF

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "port $1 never opened" >&2; exit 1
}
total_of() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}'; }

# count SERVER FILE PATH N RANGE -> total instructions of one run
count() {
  local server=$1 file=$2 path=$3 n=$4 range=$5 port out pid
  port=$(free_port); out="$WORK/cg.$server.$n.$$.$RANDOM"
  if [ "$server" = rangeserve ]; then
    RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" --file "$WORK/www/$file" \
      --bind 127.0.0.1 --port "$port" --state-dir "$WORK/state.$n" --workers 1 >/dev/null 2>&1 &
  else
    local dir; dir=$(mktemp -d "$WORK/nginx.XXXX")
    cat > "$dir/nginx.conf" <<EOF
worker_processes 1; master_process off; daemon off; pid $dir/nginx.pid; error_log $dir/error.log warn;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  types { } default_type application/octet-stream;
  server { listen 127.0.0.1:$port; root $WORK/www; } }
EOF
    valgrind --tool=callgrind --callgrind-out-file="$out" nginx -p "$dir" -c "$dir/nginx.conf" >/dev/null 2>&1 &
  fi
  pid=$!
  wait_port "$port"
  if [ "$server" = rangeserve ]; then # the file's digest first (it is hashed in the background)
    for _ in $(seq 1 1200); do curl -sf -o /dev/null "http://127.0.0.1:$port$path.sha256" && break; sleep 0.1; done
  fi
  python3 "$WORK/client.py" "$port" "$path" 5 "$range" # warm: the page cache, the kept handle
  python3 "$WORK/client.py" "$port" "$path" "$n" "$range"
  if [ "$server" = rangeserve ]; then kill -INT "$pid"; else kill -QUIT "$pid"; fi
  wait "$pid" || true
  total_of "$out"
}

per_request() { # SERVER FILE PATH RANGE
  local a b
  a=$(count "$1" "$2" "$3" 200 "$4"); b=$(count "$1" "$2" "$3" 1200 "$4")
  echo $(( (b - a) / 1000 ))
}

echo "| case | rangeserve | nginx | ratio |"
echo "| --- | --- | --- | --- |"
for spec in "4 KiB file|small.bin|/small.bin|" "1 KiB range|mid.bin|/mid.bin|bytes=1000-1999"; do
  IFS='|' read -r name file path range <<< "$spec"
  rs=$(per_request rangeserve "$file" "$path" "$range")
  ng=$(per_request nginx "$file" "$path" "$range")
  echo "| user-space instructions per request, $name | $rs | $ng | $(echo "scale=2; $rs / $ng" | bc)× |"
done
