#!/usr/bin/env bash
# Rate-limit accuracy, measured from the client side over ~10 s windows (tests assert only wide
# bands; this prints the figures). Loopback only, every run bounded in time.
#
#   bash benches/rates.sh
#
# Cases: --limit-rate 500k and 2M (curl for 10 s: bytes received / 10 s); --limit-rate 2M with
# --limit-rate-after 4M (time for 24 MiB: 4 free + 20 at 2 MiB/s = 10 s); --limit-rate-per-client
# 4M with aria2c -x 8 (time for 40 MiB: 10 s); --limit-rate-total 8M with 4 curls for 10 s (each
# near 2 MiB/s); --limit-rate-total 8M with 2 curls beside a reader of 256 KiB/s (each near
# 3.87 MiB/s). Needs curl, aria2c, python3, bc.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=$PWD/target/release/rangeserve
WORK=$(mktemp -d /tmp/rangeserve-rates.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
head -c $((64 << 20)) /dev/urandom > "$WORK/big.bin"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 500); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.01; done; exit 1; }
start() { # start FILE FLAGS... -> "PID PORT"
  local file=$1 port; shift; port=$(free_port)
  RUST_LOG=warn "$BIN" --file "$file" --bind 127.0.0.1 --port "$port" --no-digest --state-dir "$WORK/state" "$@" >/dev/null 2>&1 &
  echo "$! $port"
}
serve() { # serve FLAGS... : sets $port (and remembers the server to stop it at the end)
  local pid; read -r pid port < <(start "$WORK/big.bin" "$@"); PIDS+=("$pid"); wait_port "$port"
}
MiB=1048576
pct() { echo "scale=1; 100 * $1 / $2" | bc -l; }
row() { printf '| %s | %s | %s | %s%% |\n' "$1" "$2" "$3" "$4"; }

echo "| case | limit | measured | of the limit |"
echo "| --- | --- | --- | --- |"
for rate in 500k 2M; do
  serve --limit-rate "$rate"
  bytes=$(curl -s -o /dev/null --max-time 10 -w '%{size_download}' "http://127.0.0.1:$port/big.bin" || true)
  limit=$([ "$rate" = 500k ] && echo 512000 || echo $((2 * MiB)))
  got=$(echo "$bytes / 10" | bc -l)
  row "--limit-rate $rate, one curl, 10 s" "$limit B/s" "$(printf %.0f "$got") B/s" "$(pct "$got" "$limit")"
done

serve --limit-rate 2M --limit-rate-after 4M
t=$(curl -s -o /dev/null -r 0-$((24 * MiB - 1)) -w '%{time_total}' "http://127.0.0.1:$port/big.bin")
row "--limit-rate 2M --limit-rate-after 4M, 24 MiB" "10.0 s" "$t s" "$(pct 10 "$t")"

head -c $((40 * MiB)) "$WORK/big.bin" > "$WORK/forty.bin"
read -r pid port < <(start "$WORK/forty.bin" --limit-rate-per-client 4M); PIDS+=("$pid"); wait_port "$port"
t0=$(date +%s.%N)
aria2c -q -x 8 -s 8 --min-split-size=1M --allow-overwrite=true -d "$WORK/dl" "http://127.0.0.1:$port/forty.bin"
t1=$(date +%s.%N)
t=$(echo "$t1 - $t0" | bc -l)
row "--limit-rate-per-client 4M, aria2c -x 8, 40 MiB" "10.0 s" "$(printf %.2f "$t") s" "$(pct 10 "$t")"

serve --limit-rate-total 8M
for i in 1 2 3 4; do
  curl -s -o /dev/null --max-time 10 -w '%{size_download}\n' "http://127.0.0.1:$port/big.bin" > "$WORK/c$i" || true &
done
wait_curls() { for p in $(jobs -p); do case " ${PIDS[*]} " in *" $p "*) ;; *) wait "$p" || true ;; esac; done; }
wait_curls
for i in 1 2 3 4; do
  got=$(echo "$(cat "$WORK/c$i") / 10" | bc -l)
  row "--limit-rate-total 8M, client $i of 4, 10 s" "$((2 * MiB)) B/s (a quarter)" "$(printf %.0f "$got") B/s" "$(pct "$got" $((2 * MiB)))"
done

serve --limit-rate-total 8M
python3 - "$port" <<'EOF' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
s.connect(("127.0.0.1", int(sys.argv[1]))); s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
end = time.time() + 11
while time.time() < end:
    s.recv(5243); time.sleep(0.02)
EOF
slow=$!
for i in 1 2; do
  curl -s -o /dev/null --max-time 10 -w '%{size_download}\n' "http://127.0.0.1:$port/big.bin" > "$WORK/f$i" || true &
done
wait_curls
wait "$slow" || true
share=$(echo "(8 * $MiB - 262144) / 2" | bc -l)
for i in 1 2; do
  got=$(echo "$(cat "$WORK/f$i") / 10" | bc -l)
  row "--limit-rate-total 8M, fast $i of 2 beside a 256 KiB/s reader" "$(printf %.0f "$share") B/s" "$(printf %.0f "$got") B/s" "$(pct "$got" "$share")"
done
