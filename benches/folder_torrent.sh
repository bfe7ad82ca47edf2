#!/usr/bin/env bash
# A folder torrent's cost: a 1 GiB folder (four 256 MiB files, one in a subfolder) in the page
# cache; how long until its files are hashed (SHA256SUMS 200), then until /<root>.torrent is
# 200 (the folder's SHA-1 pass across its files), the .torrent's size, and the same request
# after a restart (pieces from the state directory). Three runs, medians.
#
#   bash benches/folder_torrent.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/rangeserve
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/big/sub"
for f in f1 f2 f3 sub/g; do head -c $((256 << 20)) /dev/urandom > "$work/big/$f.bin"; done
touch -d '1 hour ago' "$work"/big/*.bin "$work"/big/sub/*.bin
sleep 2.2  # past the racy window of the ctimes just set
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
wait_200() { for _ in $(seq 6000); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return; sleep 0.05; done; exit 1; }
now() { date +%s.%N; }
for run in 1 2 3; do
  rm -rf "$work/state"
  "$bin" --dir "$work/big" --bind 127.0.0.1 --port "$port" --state-dir "$work/state" --no-progress >/dev/null 2>"$work/log" &
  pid=$!
  wait_200 "http://127.0.0.1:$port/"
  t0=$(now); wait_200 "http://127.0.0.1:$port/SHA256SUMS"; t1=$(now)
  wait_200 "http://127.0.0.1:$port/big.torrent"; t2=$(now)
  size=$(curl -s "http://127.0.0.1:$port/big.torrent" | wc -c)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  "$bin" --dir "$work/big" --bind 127.0.0.1 --port "$port" --state-dir "$work/state" --no-progress >/dev/null 2>>"$work/log" &
  pid=$!
  wait_200 "http://127.0.0.1:$port/"
  again=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/big.torrent")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  python3 -c "print('run $run: files hashed %.2f s, folder pieces %.2f s more, .torrent %d bytes, after a restart %.1f ms' % ($t1-$t0, $t2-$t1, $size, $again*1000))"
done
grep "folder pieces of" "$work/log"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%F)"
