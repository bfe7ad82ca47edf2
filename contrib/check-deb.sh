#!/usr/bin/env bash
# Checks the .deb that contrib/build-deb.sh made (run as root, on a machine where installing it
# is fine; CI runs it): it installs, its man page and completions are found, the units pass
# `systemd-analyze verify`, the installed binary serves a file through systemd-socket-activate
# (exact bytes), and it removes and purges cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(ls target/debian/rangeserve_*_amd64.deb | head -n1)
work=$(mktemp -d)
holder=""
cleanup() {
  [ -n "$holder" ] && kill "$holder" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

dpkg -i "$deb"
rangeserve --version
man -w rangeserve
bash -c 'source /usr/share/bash-completion/completions/rangeserve && complete -p rangeserve' | grep -q rangeserve
test -s /usr/share/zsh/vendor-completions/_rangeserve
test -s /usr/share/fish/vendor_completions.d/rangeserve.fish
systemd-analyze verify /usr/lib/systemd/system/rangeserve.socket /usr/lib/systemd/system/rangeserve.service
# The hardened unit's exposure beside that of a unit with the same ExecStart and nothing else.
printf '[Service]\nExecStart=/usr/bin/rangeserve --config /etc/rangeserve/rangeserve.toml\n' > "$work/plain.service"
echo "exposure, shipped unit: $(systemd-analyze security --offline=yes /usr/lib/systemd/system/rangeserve.service | tail -n1)"
echo "exposure, plain unit:   $(systemd-analyze security --offline=yes "$work/plain.service" | tail -n1)"
# Serve a file with the installed binary and the shipped settings (the folder overridden by
# its environment variable, as a drop-in would) under socket activation.
mkdir -p "$work/srv"
head -c 3000000 /dev/urandom > "$work/srv/file.bin"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
systemd-socket-activate -l "127.0.0.1:$port" -E RANGESERVE_DIR="$work/srv" \
  -E RANGESERVE_STATE_DIR="$work/state" -E RANGESERVE_NO_PROGRESS=true \
  /usr/bin/rangeserve --config /etc/rangeserve/rangeserve.toml >"$work/out" 2>"$work/log" &
holder=$!
for _ in $(seq 100); do
  if curl -sf -o "$work/got.bin" "http://127.0.0.1:$port/file.bin"; then break; fi
  sleep 0.1
done
want=$(sha256sum < "$work/srv/file.bin")
got=$(sha256sum < "$work/got.bin")
[ "$want" = "$got" ] || { echo "served bytes differ"; cat "$work/log"; exit 1; }
grep -q "socket activation: serving on the 1 passed socket" "$work/log"
kill "$holder"; wait "$holder" 2>/dev/null || true; holder=""

dpkg -r rangeserve
[ ! -e /usr/bin/rangeserve ] && [ ! -e /usr/lib/systemd/system/rangeserve.service ]
dpkg -P rangeserve
[ ! -e /etc/rangeserve/rangeserve.toml ]
! dpkg -s rangeserve >/dev/null 2>&1
echo "the .deb installs, serves through socket activation, and removes cleanly"
