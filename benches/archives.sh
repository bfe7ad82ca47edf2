#!/usr/bin/env bash
# Folder archives: first-byte time of a 10,000-member archive, and a 1 GiB single-member archive
# against the same file, on loopback, alternating, medians.
#
#   bash benches/archives.sh           # ROUNDS=5 by default
#
# Builds rangeserve in release mode, makes the trees in a temp dir, serves them with --no-digest
# for the tar figures (the tar needs no checksum) and waits for the CRC-32s before the zip ones.
# Reports curl's time to first byte and download speed, and the server's CPU seconds per GiB from
# /proc. Every load is bounded; nothing leaves 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
cargo build --release --quiet
BIN=$PWD/target/release/rangeserve
WORK=$(mktemp -d /tmp/rangeserve-archives.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/many/many" "$WORK/one/one"
for i in $(seq -w 1 10000); do printf '%s\n' "$i" > "$WORK/many/many/f$i.txt"; done
head -c $((1 << 30)) /dev/urandom > "$WORK/one/one/big.bin"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # start DIR EXTRA... → sets PORT and PID
  PORT=$(free_port)
  RUST_LOG=warn "$BIN" --dir "$1" --bind 127.0.0.1 --port "$PORT" --state-dir "$WORK/state" "${@:2}" >/dev/null 2>&1 &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 500); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.01; done
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

start "$WORK/many/many" --no-digest; MANY=$PORT
start "$WORK/one/one" --no-digest; ONE=$PORT; ONE_PID=$PID
TICK=$(getconf CLK_TCK)

ttfb=(); ranged=(); arch=(); file=(); arch_cpu=(); file_cpu=()
for _ in $(seq 1 "$ROUNDS"); do
  ttfb+=("$(curl -s -o /dev/null -w '%{time_starttransfer}' "http://127.0.0.1:$MANY/many.tar")")
  ranged+=("$(curl -s -o /dev/null -r 2000000-2000999 -w '%{time_starttransfer}' "http://127.0.0.1:$MANY/many.tar")")
  before=$(cpu_ticks "$ONE_PID")
  arch+=("$(curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$ONE/one.tar")")
  arch_cpu+=("$(( $(cpu_ticks "$ONE_PID") - before ))")
  before=$(cpu_ticks "$ONE_PID")
  file+=("$(curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$ONE/big.bin")")
  file_cpu+=("$(( $(cpu_ticks "$ONE_PID") - before ))")
done

m() { printf '%s\n' "$@" | median; }
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u +%F); rangeserve $("$BIN" --version | cut -d' ' -f2); $ROUNDS rounds, medians"
echo
echo "| measurement | value |"
echo "| --- | --- |"
printf '| 10,000-member tar, first byte (curl) | %.1f ms |\n' "$(echo "$(m "${ttfb[@]}") * 1000" | bc -l)"
printf '| 10,000-member tar, 1 KB range at 2 MB, first byte | %.1f ms |\n' "$(echo "$(m "${ranged[@]}") * 1000" | bc -l)"
a=$(m "${arch[@]}"); f=$(m "${file[@]}")
printf '| 1 GiB single-member tar | %.0f MB/s |\n' "$(echo "$a / 1000000" | bc -l)"
printf '| the same 1 GiB file | %.0f MB/s |\n' "$(echo "$f / 1000000" | bc -l)"
printf '| archive / file | %.2f× |\n' "$(echo "$a / $f" | bc -l)"
printf '| server CPU per GiB, archive / file | %.2f s / %.2f s |\n' \
  "$(echo "$(m "${arch_cpu[@]}") / $TICK" | bc -l)" "$(echo "$(m "${file_cpu[@]}") / $TICK" | bc -l)"
