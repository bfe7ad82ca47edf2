#!/usr/bin/env bash
# The hasher's throughput with pieces (this tree) and without (the commit before pieces, built
# in a worktree), against `sha256sum`, on one 1 GiB file in the page cache; alternating, three
# runs each, medians. Also the .meta4 of a 4 GiB file and of a 10,000-file folder: size and time.
#
#   bash benches/hashing.sh            (OLD=<commit> to compare with another one)
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${OLD:-$(git log --format=%H -1 --grep='Proven piece by piece, first part')~1}
work=$(mktemp -d)
trap 'rm -rf "$work"; git worktree remove --force "$work/old" 2>/dev/null || true' EXIT
cargo build --release --quiet
git worktree add --quiet --detach "$work/old" "$OLD"
(cd "$work/old" && CARGO_TARGET_DIR="$work/old-target" cargo build --release --quiet)
new=$PWD/target/release/rangeserve
old=$work/old-target/release/rangeserve
head -c $((1 << 30)) /dev/urandom > "$work/big.bin"
touch -d '1 hour ago' "$work/big.bin"
sleep 2.2  # past the racy window of the ctime touch just set
cat "$work/big.bin" > /dev/null

# One hash of big.bin by `bin`: the MB/s its log line reports.
hash_rate() {
  local bin=$1 state=$work/state.$RANDOM
  "$bin" --file "$work/big.bin" --bind 127.0.0.1 --port 0 --state-dir "$state" --no-progress \
    >/dev/null 2>"$work/log" &
  local pid=$!
  for _ in $(seq 600); do
    grep -q 'sha256 of big.bin' "$work/log" && break
    sleep 0.1
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  sed -n 's/.*sha256 of big.bin: .*, \([0-9]*\) MB\/s).*/\1/p' "$work/log"
}
median() { sort -n | sed -n 2p; }

with=(); without=(); coreutils=()
for _ in 1 2 3; do
  without+=("$(hash_rate "$old")")
  with+=("$(hash_rate "$new")")
  start=$(date +%s.%N); sha256sum "$work/big.bin" >/dev/null; end=$(date +%s.%N)
  coreutils+=("$(echo "1073.741824 / ($end - $start)" | bc)")
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
echo "hash pass, 1 GiB in the page cache, MB/s (median of 3; runs: ${without[*]} | ${with[*]} | ${coreutils[*]}):"
echo "  without pieces (SHA-256 + CRC-32):          $(printf '%s\n' "${without[@]}" | median)"
echo "  with pieces (SHA-256 + CRC-32 + pieces):    $(printf '%s\n' "${with[@]}" | median)"
echo "  sha256sum (coreutils):                      $(printf '%s\n' "${coreutils[@]}" | median)"

# The documents: a 4 GiB file (sparse) and a folder of 10,000 small files.
mkdir -p "$work/tree/f"
truncate -s 4G "$work/tree/four.bin"
for i in $(seq 10000); do echo "$i" > "$work/tree/f/$i.txt"; done
touch -d '1 hour ago' "$work/tree/four.bin"
sleep 2.2
"$new" --dir "$work/tree" --bind 127.0.0.1 --port 8765 --state-dir "$work/state.docs" --no-progress \
  >/dev/null 2>"$work/log.docs" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"; git worktree remove --force "$work/old" 2>/dev/null || true' EXIT
sleep 0.5
fetch() {  # url -> "bytes seconds" of the first 200
  for _ in $(seq 1200); do
    out=$(curl -s -o "$work/doc" -w '%{http_code} %{size_download} %{time_total}' "$1")
    [ "${out%% *}" = 200 ] && { echo "${out#* }"; return; }
    sleep 0.25
  done
}
fetch http://127.0.0.1:8765/four.bin.meta4 >/dev/null
read -r bytes secs < <(fetch http://127.0.0.1:8765/four.bin.meta4)
echo "four.bin.meta4 (4 GiB, 4,096 pieces): $bytes bytes, ${secs} s once hashed"
fetch http://127.0.0.1:8765/f/f.meta4 >/dev/null
read -r bytes secs < <(fetch http://127.0.0.1:8765/f/f.meta4)
echo "f/f.meta4 (10,000 files): $bytes bytes, ${secs} s once hashed"
