#!/usr/bin/env bash
# Builds target/debian/rangeserve_<version>_amd64.deb with cargo-deb (`cargo install cargo-deb`):
# the release binary, and what the binary itself prints — its man page, its bash, zsh and fish
# completions, the commented settings file — so none of them can drift from the flags.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
bin=target/release/rangeserve
out=target/assets
mkdir -p "$out"
"$bin" man | gzip -9n > "$out/rangeserve.1.gz"
"$bin" completions bash > "$out/rangeserve.bash"
"$bin" completions zsh > "$out/_rangeserve"
"$bin" completions fish > "$out/rangeserve.fish"
"$bin" config-example > "$out/rangeserve.toml.example"
cargo deb --no-build --locked
