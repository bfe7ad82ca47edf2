#!/usr/bin/env bash
# HTTPS and HTTP/2: rangeserve vs nginx (ssl, http2) on loopback, in one run, alternating, same
# certificate (ECDSA P-256), same client, medians.
#
#   bash benches/tls.sh              # ROUNDS=3 by default
#
# Measures, for each server:
#   - 1 GiB over HTTPS, one connection, HTTP/1.1 (curl --http1.1): MB/s and the server's CPU
#     seconds (utime+stime of its processes, from /proc) for that GiB, and the client's (curl is
#     single-threaded: at ~1 s per GiB it is the limit on one connection);
#   - the same over HTTP/2 (curl --http2);
#   - new TLS connections per second, each fetching a 1 KiB range (benches/tls_client.py, two
#     clients in parallel for 5 s), with session resumption and without: connections/s and the
#     server's CPU per connection.
# The client shares the two cores with the server, so the CPU figures are the ones to compare.
# Every load is bounded in time; nothing leaves 127.0.0.1. Needs: nginx-light, curl, openssl,
# python3, bc.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
CONN_SECS=${CONN_SECS:-5}

need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v bc >/dev/null || need+=(bc)
command -v h2load >/dev/null || need+=(nghttp2-client)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx)

cargo build --release --quiet
BIN=$PWD/target/release/rangeserve

WORK=$(mktemp -d /tmp/rangeserve-tls-bench.XXXXXX)
chmod 755 "$WORK" # nginx's workers do not run as root
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "making test files and a certificate in $WORK ..." >&2
mkdir -p "$WORK/www"
head -c $((1 << 30)) /dev/urandom > "$WORK/www/big.bin"
head -c $((10 << 20)) /dev/urandom > "$WORK/www/mid.bin"
BIG=$((1 << 30))
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
chmod 644 "$WORK/key.pem"
CA=$WORK/cert.pem

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 500); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.01
  done
  echo "port $1 never opened" >&2; exit 1
}

start_rangeserve() { # -> "PID PORT"
  local port; port=$(free_port)
  RUST_LOG=warn "$BIN" --dir "$WORK/www" --bind 127.0.0.1 --port "$port" --state-dir "$WORK/state" \
    --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" >/dev/null 2>>"$WORK/rangeserve.log" &
  echo "$! $port"
}

start_nginx() { # -> "PID PORT"
  local port dir; port=$(free_port); dir=$(mktemp -d "$WORK/nginx.XXXX")
  cat > "$dir/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 100000;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  types { }
  default_type application/octet-stream;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:SSL:10m;
  ssl_session_tickets on;
  server {
    listen 127.0.0.1:$port ssl http2;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    root $WORK/www;
  }
}
EOF
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" &
  echo "$! $port"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }
TICK=$(getconf CLK_TCK)
cpu_of() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
server_pids() { echo "$1 $(pgrep -P "$1" | tr '\n' ' ')"; }

# m_gib "PIDS" PORT --http1.1|--http2 -> "MB/s server_cpu_s_per_GiB client_cpu_s_per_GiB"
m_gib() {
  local pids=$1 port=$2 proto=$3 c0 c1 mbs client
  # shellcheck disable=SC2086
  c0=$(cpu_of $pids)
  # The client's own CPU (bash's time: user and system seconds of curl).
  client=$( { TIMEFORMAT='%U %S'; time curl -s --cacert "$CA" "$proto" -o /dev/null -w '%{speed_download}\n' \
    --max-time 120 "https://localhost:$port/big.bin" --resolve "localhost:$port:127.0.0.1" > "$WORK/speed"; } 2>&1 )
  mbs=$(awk '{print $1/1e6}' "$WORK/speed")
  # shellcheck disable=SC2086
  c1=$(cpu_of $pids)
  echo "$mbs $(echo "($c1 - $c0) / $TICK" | bc -l) $(echo "$client" | awk '{print $1 + $2}')"
}

# m_h2load PORT [--h1] -> MB/s of one 1 GiB download by nghttp2's h2load (a C client that costs
# less CPU per byte than curl, so the server's own limit shows)
m_h2load() {
  local port=$1; shift
  h2load "$@" -n 1 -c 1 "https://localhost:$port/big.bin" 2>/dev/null |
    awk '/finished in/ { for (i = 1; i <= NF; i++) if ($i ~ /B\/s$/) { v = $i; u = v; sub(/[KMG]?B\/s$/, "", v);
      m = (u ~ /GB\/s$/) ? 1000 : (u ~ /MB\/s$/) ? 1 : (u ~ /KB\/s$/) ? 0.001 : 0.000001; print v * m } }'
}

# m_conns "PIDS" PORT resume|new -> "connections/s cpu_us_per_connection resumed_fraction"
m_conns() {
  local pids=$1 port=$2 mode=$3 c0 c1 out
  # shellcheck disable=SC2086
  c0=$(cpu_of $pids)
  out=$( (python3 benches/tls_client.py "$port" "$CA" /mid.bin "$CONN_SECS" "$mode" &
          python3 benches/tls_client.py "$port" "$CA" /mid.bin "$CONN_SECS" "$mode" & wait) )
  # shellcheck disable=SC2086
  c1=$(cpu_of $pids)
  echo "$out" | awk -v c="$((c1 - c0))" -v tick="$TICK" '
    { n += $1; r += $2; if ($3 > t) t = $3 }
    END { printf "%f %f %f\n", n / t, c * 1000000 / tick / n, r / n }'
}

read -r RS_PID RS < <(start_rangeserve); PIDS+=("$RS_PID")
read -r NG_PID NG < <(start_nginx); PIDS+=("$NG_PID")
wait_port "$RS"; wait_port "$NG"
for _ in $(seq 1 600); do # rangeserve hashes at start; measure the steady state
  code=$(curl -s --cacert "$CA" -o /dev/null -w '%{http_code}' --resolve "localhost:$RS:127.0.0.1" "https://localhost:$RS/big.bin.sha256")
  [ "$code" = 200 ] && break
  sleep 0.1
done
check_same() { # check_same PORT PROTO FILE
  local got want
  got=$(curl -sf --cacert "$CA" "$2" --resolve "localhost:$1:127.0.0.1" "https://localhost:$1/$3" | sha256sum | cut -d' ' -f1)
  want=$(sha256sum < "$WORK/www/$3" | cut -d' ' -f1)
  [ "$got" = "$want" ] || { echo "port $1 ($2) does not serve $3" >&2; exit 1; }
}
for port in "$RS" "$NG"; do for proto in --http1.1 --http2; do check_same "$port" "$proto" mid.bin; done; done
cipher() { curl -sv --cacert "$CA" "$2" -o /dev/null --resolve "localhost:$1:127.0.0.1" "https://localhost:$1/mid.bin" 2>&1 | awk '/SSL connection using/ {print $5, $7}'; }
echo "negotiated: rangeserve $(cipher "$RS" --http2), nginx $(cipher "$NG" --http2)" >&2

declare -A R
record() { R["$1"]="${R[$1]:-} $2"; }
RS_PIDS=$RS_PID
NG_PIDS=$(server_pids "$NG_PID")
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS ..." >&2
  for who in rs ng; do
    if [ $who = rs ]; then pids=$RS_PIDS; port=$RS; else pids=$NG_PIDS; port=$NG; fi
    read -r mbs cpu ccpu < <(m_gib "$pids" "$port" --http1.1); record "h1_mbs_$who" "$mbs"; record "h1_cpu_$who" "$cpu"; record "h1_ccpu_$who" "$ccpu"
    read -r mbs cpu ccpu < <(m_gib "$pids" "$port" --http2);   record "h2_mbs_$who" "$mbs"; record "h2_cpu_$who" "$cpu"; record "h2_ccpu_$who" "$ccpu"
    record "h2load_h1_$who" "$(m_h2load "$port" --h1)"; record "h2load_h2_$who" "$(m_h2load "$port")"
    read -r cps us frac < <(m_conns "$pids" "$port" resume); record "res_cps_$who" "$cps"; record "res_us_$who" "$us"; record "res_frac_$who" "$frac"
    read -r cps us frac < <(m_conns "$pids" "$port" new);    record "new_cps_$who" "$cps"; record "new_us_$who" "$us"
  done
done

med() { echo "${R[$1]}" | tr ' ' '\n' | grep -v '^$' | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "nan"; else printf "%.2f", a / b }'; }
row() { # row LABEL UNIT KEY TARGET
  local a b; a=$(med "$3_rs"); b=$(med "$3_ng")
  printf '| %s | %s | %.2f | %.2f | %s× | %s |\n' "$1" "$2" "$a" "$b" "$(ratio "$a" "$b")" "$4"
}
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%Y-%m-%d); rangeserve $("$BIN" --version | cut -d' ' -f2) (rustls $(grep -A1 'name = "rustls"' Cargo.lock | awk -F'"' '/version/ {print $2}'), ring), $("$NGINX" -v 2>&1 | cut -d' ' -f3) with $(openssl version | cut -d' ' -f1-2); $ROUNDS rounds, medians"
echo
echo "| measurement | unit | rangeserve | nginx | ratio | target |"
echo "| --- | --- | --- | --- | --- | --- |"
row "1 GiB over HTTPS, HTTP/1.1, one connection" "MB/s" h1_mbs "≥ 1.0×"
row "server CPU for that GiB" "s" h1_cpu "≤ 1.0×"
row "client (curl) CPU for that GiB" "s" h1_ccpu "-"
row "1 GiB over HTTP/2 (curl --http2)" "MB/s" h2_mbs "≥ 1.0×"
row "server CPU for that GiB" "s" h2_cpu "-"
row "client (curl + nghttp2) CPU for that GiB" "s" h2_ccpu "-"
row "new TLS connections/s, 1 KiB range each, resumed" "conn/s" res_cps "≥ 1.0×"
row "server CPU per resumed connection" "µs" res_us "-"
row "new TLS connections/s, 1 KiB range each, full handshake" "conn/s" new_cps "≥ 1.0×"
row "server CPU per full-handshake connection" "µs" new_us "-"
printf '| handshakes resumed (of the resumed runs) | fraction | %.2f | %.2f | - | - |\n' "$(med res_frac_rs)" "$(med res_frac_ng)"
row "1 GiB, h2load --h1 (HTTPS/1.1)" "MB/s" h2load_h1 "-"
row "1 GiB, h2load (HTTP/2)" "MB/s" h2load_h2 "-"
printf '| rangeserve HTTP/2 vs its own HTTPS/1.1, curl | MB/s | %.2f | %.2f | %s× | ≥ 0.9× |\n' \
  "$(med h2_mbs_rs)" "$(med h1_mbs_rs)" "$(ratio "$(med h2_mbs_rs)" "$(med h1_mbs_rs)")"
printf '| rangeserve HTTP/2 vs its own HTTPS/1.1, h2load | MB/s | %.2f | %.2f | %s× | ≥ 0.9× |\n' \
  "$(med h2load_h2_rs)" "$(med h2load_h1_rs)" "$(ratio "$(med h2load_h2_rs)" "$(med h2load_h1_rs)")"
printf '| nginx HTTP/2 vs its own HTTPS/1.1, curl / h2load | ratio | %s | %s | - | - |\n' \
  "$(ratio "$(med h2_mbs_ng)" "$(med h1_mbs_ng)")" "$(ratio "$(med h2load_h2_ng)" "$(med h2load_h1_ng)")"
