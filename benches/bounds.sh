#!/usr/bin/env bash
# Scale figures for the bounds, rangeserve beside nginx (see benches/bounds.py): idle and stalled
# connections, stalled HTTP/2 streams, listings of 100,000 and 1,000,000 entries, a 100,000-member
# archive, a folder under a 256-descriptor limit. About 5 minutes; MILLION=0 skips the 1,000,000.
#
#   bash benches/bounds.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nginx >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; }
cargo build --release --quiet
python3 benches/bounds.py "$PWD/target/release/rangeserve"
