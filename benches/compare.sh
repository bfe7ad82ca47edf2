#!/usr/bin/env bash
# rangeserve vs nginx on loopback, measured side by side in one run: nginx with sendfile on (its
# default fast path), with sendfile off (the fair comparison for a server that copies), and with
# open_file_cache on (its best configuration for small files).
#
#   bash benches/compare.sh            # ROUNDS=3 by default; ROUNDS=5 bash benches/compare.sh for more
#
# Builds rangeserve in release mode, makes the test files in a temp dir, starts rangeserve (one
# instance per file: it serves one file) and nginx (generated minimal config: sendfile on,
# worker_processes 2, access log off, foreground) on loopback ports, and measures both,
# alternating A B A B so drift hits both alike. Prints medians and the ratio rangeserve/nginx.
# Every load is bounded in time; nothing leaves 127.0.0.1. Needs: nginx-light, curl, wrk, aria2c,
# python3 (installs the Debian packages when missing and run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
STALLED=${STALLED:-300}
STALL_SECS=${STALL_SECS:-10}

need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
command -v aria2c >/dev/null || need+=(aria2)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx)

cargo build --release --quiet
BIN=$PWD/target/release/rangeserve

WORK=$(mktemp -d /tmp/rangeserve-bench.XXXXXX)
chmod 755 "$WORK" # nginx's workers do not run as root
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK" "$DL"
}
trap cleanup EXIT

echo "making test files in $WORK ..." >&2
mkdir -p "$WORK/www"
# aria2c writes 1 GiB per run: on tmpfs when there is one, so disk writes do not add noise.
DL=$(mktemp -d /dev/shm/rangeserve-bench-dl.XXXXXX 2>/dev/null || mktemp -d "$WORK/dl.XXXXXX")
head -c $((1 << 30)) /dev/urandom > "$WORK/www/big.bin"
head -c $((10 << 20)) /dev/urandom > "$WORK/www/mid.bin"
head -c 4096 /dev/urandom > "$WORK/www/small.bin"
BIG=$((1 << 30))

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() { # wait_port PORT: poll until it accepts (bounded)
  for _ in $(seq 1 500); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.01
  done
  echo "port $1 never opened" >&2; exit 1
}

start_rangeserve() { # start_rangeserve FILE -> prints "PID PORT"
  local port; port=$(free_port)
  RUST_LOG=warn "$BIN" --file "$1" --bind 127.0.0.1 --port "$port" --state-dir "$WORK/state" >/dev/null 2>>"$WORK/rangeserve.log" &
  echo "$! $port"
}

start_nginx() { # start_nginx [on|off|cache] -> prints "PID PORT"
  local variant=${1:-on} sendfile=on cache=""
  [ "$variant" = off ] && sendfile=off
  [ "$variant" = cache ] && cache="open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;"
  local port dir; port=$(free_port); dir=$(mktemp -d "$WORK/nginx.XXXX")
  cat > "$dir/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile $sendfile;
  $cache
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  types { }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$port;
    root $WORK/www;
  }
}
EOF
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" &
  echo "$! $port"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }

# --- the measurements, each printing one number -------------------------------------------
m_full_mbs() { curl -s -o /dev/null -w '%{speed_download}\n' "http://127.0.0.1:$1/big.bin" | awk '{print $1/1e6}'; }

m_resume_ms() { # median of 20 resumes of the last 8 MiB
  for _ in $(seq 1 20); do
    curl -s -o /dev/null -r "$((BIG - (8 << 20)))-" -w '%{time_total}\n' "http://127.0.0.1:$1/big.bin"
  done | median | awk '{print $1*1000}'
}

wrk_run() { wrk -t2 -c64 -d5s --latency "$@" 2>/dev/null; }
rps_of() { awk '/^Requests\/sec:/ {print $2}'; }
p99_ms_of() { awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub("us","",v); print v/1000} else if (v ~ /ms$/) {sub("ms","",v); print v} else {sub("s","",v); print v*1000}}'; }

m_range_1k() { wrk_run -H 'Range: bytes=1000-1999' "http://127.0.0.1:$1/mid.bin" > "$WORK/wrk.out"; echo "$(rps_of < "$WORK/wrk.out") $(p99_ms_of < "$WORK/wrk.out")"; }
m_small_rps() { wrk_run "http://127.0.0.1:$1/small.bin" | rps_of; }

TICK=$(getconf CLK_TCK)
cpu_of() { # cpu_of PID... -> utime+stime ticks of those processes
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$t"
}
user_of() { # user_of PID... -> utime ticks of those processes
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$t"
}
# m_wrk_cpu "PIDS" URL [wrk args] -> "req/s p99_ms server_cpu_us_per_request user_us_per_request"
m_wrk_cpu() {
  local pids=$1 url=$2; shift 2
  local c0 c1 u0 u1 reqs
  # shellcheck disable=SC2086
  c0=$(cpu_of $pids); u0=$(user_of $pids)
  wrk_run "$@" "$url" > "$WORK/wrk.out"
  # shellcheck disable=SC2086
  c1=$(cpu_of $pids); u1=$(user_of $pids)
  reqs=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
  echo "$(rps_of < "$WORK/wrk.out") $(p99_ms_of < "$WORK/wrk.out") $(echo "($c1 - $c0) * 1000000 / $TICK / $reqs" | bc -l) $(echo "($u1 - $u0) * 1000000 / $TICK / $reqs" | bc -l)"
}
# m_parallel "PIDS" PORT -> "aggregate_MB/s server_cpu_s_per_GiB" for 16 parallel 1 GiB downloads
m_parallel() {
  local pids=$1 port=$2 c0 c1 t0 t1 curls=() i
  # shellcheck disable=SC2086
  c0=$(cpu_of $pids); t0=$(date +%s.%N)
  for i in $(seq 1 16); do curl -s -o /dev/null --max-time 120 "http://127.0.0.1:$port/big.bin" & curls+=($!); done
  for i in "${curls[@]}"; do wait "$i" || true; done
  # shellcheck disable=SC2086
  t1=$(date +%s.%N); c1=$(cpu_of $pids)
  echo "$(echo "16 * $BIG / ($t1 - $t0) / 1000000" | bc -l) $(echo "($c1 - $c0) / $TICK / 16" | bc -l)"
}

m_aria2_s() {
  rm -f "$DL/big.bin"
  local t0 t1; t0=$(date +%s.%N)
  aria2c -q -x 8 -s 8 --file-allocation=none --allow-overwrite=true -d "$DL" -o big.bin "http://127.0.0.1:$1/big.bin"
  t1=$(date +%s.%N)
  rm -f "$DL/big.bin"
  echo "$t1 - $t0" | bc -l
}

# Peak RSS (KiB, summed over the server's processes) while $STALLED connections each ask for the
# 1 GiB file and read nothing for $STALL_SECS seconds. Sampled every 0.2 s from /proc.
m_stalled_rss() { # m_stalled_rss PORT PID...
  local port=$1; shift
  python3 - "$port" "$STALLED" "$STALL_SECS" <<'EOF' &
import socket, sys, time
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    socks.append(s)
time.sleep(secs)
EOF
  local client=$! peak=0
  while kill -0 "$client" 2>/dev/null; do
    local sum=0
    for pid in "$@"; do
      sum=$((sum + $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
    done
    [ "$sum" -gt "$peak" ] && peak=$sum
    sleep 0.2
  done
  wait "$client" || true
  echo "$peak"
}

nginx_pids() { echo "$1 $(pgrep -P "$1" | tr '\n' ' ')"; }

# --- run ----------------------------------------------------------------------------------
read -r RS_BIG_PID RS_BIG < <(start_rangeserve "$WORK/www/big.bin"); PIDS+=("$RS_BIG_PID")
read -r RS_MID_PID RS_MID < <(start_rangeserve "$WORK/www/mid.bin"); PIDS+=("$RS_MID_PID")
read -r RS_SMALL_PID RS_SMALL < <(start_rangeserve "$WORK/www/small.bin"); PIDS+=("$RS_SMALL_PID")
read -r NG_PID NG < <(start_nginx on); PIDS+=("$NG_PID")
read -r NGOFF_PID NGOFF < <(start_nginx off); PIDS+=("$NGOFF_PID")
read -r NGC_PID NGC < <(start_nginx cache); PIDS+=("$NGC_PID")
for p in "$RS_BIG" "$RS_MID" "$RS_SMALL" "$NG" "$NGOFF" "$NGC"; do wait_port "$p"; done
# rangeserve hashes each file at start; let that finish before measuring steady state.
for _ in $(seq 1 600); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RS_BIG/big.bin.sha256")
  [ "$code" = 200 ] && break
  sleep 0.05
done
# Both must serve the right bytes (a 403 or 404 would make every figure meaningless).
check_same() { # check_same URL FILE
  local got want; got=$(curl -sf "$1" | sha256sum | cut -d' ' -f1); want=$(sha256sum < "$2" | cut -d' ' -f1)
  [ "$got" = "$want" ] || { echo "$1 does not serve $2" >&2; exit 1; }
}
for port in "$NG" "$NGOFF" "$NGC"; do
  for f in big mid small; do check_same "http://127.0.0.1:$port/$f.bin" "$WORK/www/$f.bin"; done
done
check_same "http://127.0.0.1:$RS_BIG/big.bin" "$WORK/www/big.bin"
check_same "http://127.0.0.1:$RS_MID/mid.bin" "$WORK/www/mid.bin"
check_same "http://127.0.0.1:$RS_SMALL/small.bin" "$WORK/www/small.bin"

declare -A R
record() { R["$1"]="${R[$1]:-} $2"; }
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS ..." >&2
  record full_rs "$(m_full_mbs "$RS_BIG")";     record full_ng "$(m_full_mbs "$NG")"
  record resume_rs "$(m_resume_ms "$RS_BIG")";  record resume_ng "$(m_resume_ms "$NG")"
  read -r rps p99 < <(m_range_1k "$RS_MID");    record range_rs "$rps"; record p99_rs "$p99"
  read -r rps p99 < <(m_range_1k "$NG");        record range_ng "$rps"; record p99_ng "$p99"
  record small_rs "$(m_small_rps "$RS_SMALL")"; record small_ng "$(m_small_rps "$NG")"
  record aria_rs "$(m_aria2_s "$RS_BIG")";      record aria_ng "$(m_aria2_s "$NG")"
  # CPU per request and per GiB: rangeserve, then each nginx configuration.
  for who in rs ng ngoff ngc; do
    case $who in
      rs) mid_pids=$RS_MID_PID; small_pids=$RS_SMALL_PID; big_pids=$RS_BIG_PID
          mid=$RS_MID; small=$RS_SMALL; big=$RS_BIG ;;
      ng) mid_pids=$(nginx_pids "$NG_PID"); small_pids=$mid_pids; big_pids=$mid_pids; mid=$NG; small=$NG; big=$NG ;;
      ngoff) mid_pids=$(nginx_pids "$NGOFF_PID"); small_pids=$mid_pids; big_pids=$mid_pids; mid=$NGOFF; small=$NGOFF; big=$NGOFF ;;
      ngc) mid_pids=$(nginx_pids "$NGC_PID"); small_pids=$mid_pids; big_pids=$mid_pids; mid=$NGC; small=$NGC; big=$NGC ;;
    esac
    read -r rps _ us user < <(m_wrk_cpu "$mid_pids" "http://127.0.0.1:$mid/mid.bin" -H 'Range: bytes=1000-1999')
    record "cpu_range_$who" "$us"; record "rps_range_$who" "$rps"; record "user_range_$who" "$user"
    read -r rps _ us user < <(m_wrk_cpu "$small_pids" "http://127.0.0.1:$small/small.bin")
    record "cpu_small_$who" "$us"; record "rps_small_$who" "$rps"; record "user_small_$who" "$user"
    read -r mbs cpu < <(m_parallel "$big_pids" "$big")
    record "par_mbs_$who" "$mbs"; record "par_cpu_$who" "$cpu"
  done
done

# Peak RSS: fresh servers, one stalled-readers run each, after rangeserve's hash is done.
for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
wait 2>/dev/null || true
PIDS=()
read -r RS_PID RS_PORT < <(start_rangeserve "$WORK/www/big.bin"); PIDS+=("$RS_PID")
read -r NG_PID NG_PORT < <(start_nginx); PIDS+=("$NG_PID")
wait_port "$RS_PORT"; wait_port "$NG_PORT"
for _ in $(seq 1 600); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RS_PORT/big.bin.sha256")" = 200 ] && break
  sleep 0.05
done
echo "stalled readers ..." >&2
RSS_RS=$(m_stalled_rss "$RS_PORT" "$RS_PID")
# shellcheck disable=SC2046
RSS_NG=$(m_stalled_rss "$NG_PORT" $(nginx_pids "$NG_PID"))

# Hashing must not slow serving: the first 1 GiB download from a fresh server that is hashing
# the file, against the first download from a fresh server started with --no-digest (a fresh
# server's first download is slower either way), alternating.
kill "$RS_PID" 2>/dev/null || true
fresh_first_download() { # fresh_first_download [FLAGS] -> MB/s
  local port pid; port=$(free_port)
  RUST_LOG=warn "$BIN" --file "$WORK/www/big.bin" --bind 127.0.0.1 --port "$port" --state-dir "$WORK/state-$RANDOM" "$@" >/dev/null 2>>"$WORK/rangeserve.log" &
  pid=$!
  wait_port "$port"
  m_full_mbs "$port"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
for round in $(seq 1 "$ROUNDS"); do
  record hashing_rs "$(fresh_first_download)"
  record nohash_rs "$(fresh_first_download --no-digest)"
done

med() { echo "${R[$1]}" | tr ' ' '\n' | grep -v '^$' | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "nan"; else printf "%.2f", a / b }'; }
row() { # row LABEL UNIT KEY_RS KEY_NG TARGET
  local a b; a=$(med "$3"); b=$(med "$4")
  printf '| %s | %s | %.1f | %.1f | %s× | %s |\n' "$1" "$2" "$a" "$b" "$(ratio "$a" "$b")" "$5"
}

echo
echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%Y-%m-%d); rangeserve $("$BIN" --version | cut -d' ' -f2), $("$NGINX" -v 2>&1 | cut -d' ' -f3); $ROUNDS rounds, medians"
echo
echo "| measurement | unit | rangeserve | nginx | ratio | target |"
echo "| --- | --- | --- | --- | --- | --- |"
row "1 GiB, one connection (curl)" "MB/s" full_rs full_ng "≥ 1.0×"
row "resume last 8 MiB (curl -r, median of 20)" "ms" resume_rs resume_ng "≤ 0.7×"
row "1 KiB range, wrk -t2 -c64 -d5s" "req/s" range_rs range_ng "≥ 1.15×"
row "1 KiB range p99 latency" "ms" p99_rs p99_ng "-"
row "4 KiB file, wrk -t2 -c64 -d5s" "req/s" small_rs small_ng "≥ 1.2×"
row "aria2c -x 8 -s 8, 1 GiB" "s" aria_rs aria_ng "-"
printf '| peak RSS, %d stalled 1 GiB readers, %ss | MiB | %.1f | %.1f | %s× | ≤ 16 MiB |\n' \
  "$STALLED" "$STALL_SECS" "$(echo "$RSS_RS/1024" | bc -l)" "$(echo "$RSS_NG/1024" | bc -l)" "$(ratio "$RSS_RS" "$RSS_NG")"
printf '| 1 GiB from a fresh server, hashing vs --no-digest | MB/s | %.1f | %.1f (no hash) | %s× | no regression |\n' \
  "$(med hashing_rs)" "$(med nohash_rs)" "$(ratio "$(med hashing_rs)" "$(med nohash_rs)")"

# Against each nginx configuration: server CPU (utime+stime of its processes, from /proc).
echo
echo "| server CPU | unit | rangeserve | nginx sendfile on | ratio | nginx sendfile off | ratio | nginx open_file_cache | ratio | target |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
row3() { # row3 LABEL UNIT KEY TARGET
  local a b c d; a=$(med "$3_rs"); b=$(med "$3_ng"); c=$(med "$3_ngoff"); d=$(med "$3_ngc")
  printf '| %s | %s | %.2f | %.2f | %s× | %.2f | %s× | %.2f | %s× | %s |\n' "$1" "$2" "$a" "$b" "$(ratio "$a" "$b")" \
    "$c" "$(ratio "$a" "$c")" "$d" "$(ratio "$a" "$d")" "$4"
}
row3 "CPU per request, 1 KiB range (wrk -t2 -c64)" "µs" cpu_range "≤ 0.8× (sendfile on)"
row3 "CPU per request, 4 KiB file (wrk -t2 -c64)" "µs" cpu_small "≤ 0.8× (sendfile on)"
row3 "… of it in user space, 1 KiB range" "µs" user_range "-"
row3 "… of it in user space, 4 KiB file" "µs" user_small "-"
row3 "requests/s, 1 KiB range (same runs)" "req/s" rps_range "≥ 1.15× (sendfile on)"
row3 "requests/s, 4 KiB file (same runs)" "req/s" rps_small "≥ 1.15× (sendfile on)"
row3 "CPU per GiB, 16 parallel 1 GiB downloads" "s" par_cpu "≤ 1.5× (sendfile on)"
row3 "aggregate, 16 parallel 1 GiB downloads" "MB/s" par_mbs "-"
