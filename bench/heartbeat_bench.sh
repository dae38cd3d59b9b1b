#!/usr/bin/env bash
# Heartbeats per second: `vigie server` vs nginx answering 204 (the ceiling), issue 7.
#
# Builds (Release, -DVIGIE_BUILD_BENCH=ON), prepares a throwaway data directory with S sites
# (bench/heartbeat_setup.cc: packages, agent secrets in the local secrets backend, as
# provisioning leaves them), starts the real `vigie server` on it, registers every site through
# POST /v1/sites/{id}/register, starts nginx (TLS with the same certificate and key, `return
# 204;`), then for each connection count runs the same load generator (bench/heartbeat_load.cc:
# signed heartbeats, keep-alive TLS, no pipelining) against vigie and against nginx, alternately,
# and prints a table. Also runs the tracker memory bench (bench/liveness_memory_bench.cc).
#
# Server CPU per request: for every run the script also measures the CPU time the server spent
# (utime + stime, fields 14 and 15 of /proc/<pid>/stat, in clock ticks of `getconf CLK_TCK`;
# for a process they cover all its threads, the exited ones included): the `vigie server`
# process, or the nginx master plus its workers (summed). The generator counts only the
# responses completed inside its measured window (launch + warm-up .. + duration), so the CPU is
# sampled at those two instants, not around the whole generator run: the script launches the
# generator in the background, sleeps until launch + warm-up, samples, sleeps until launch +
# warm-up + duration, samples again, then waits for the generator's JSON. server_us_per_req =
# CPU delta / requests of the window. The generator's own clock starts a few milliseconds after
# its launch (exec, reading the sites file), so the CPU window leads the counting window by that
# much: an error well under 1% for windows of seconds. Tick granularity (1/CLK_TCK per thread
# and sample) is negligible too. This per-request CPU is far steadier on a shared machine than
# requests/s: compare it first. Each run's JSON line gets server_cpu_s and server_us_per_req.
#
# Steady state: by default every site starts with 100 healthchecks (--history) and a licence, as
# in a fleet that has been running for a while. Their receipt times fill the oldest part of the
# retention window, spread over the benchmark's own length (vigie_heartbeat_setup
# --history-span), so they age out one after the other while it runs and the batches prune old
# rows as they add new ones (sites x history / length rows a second: 1M rows over the default
# runs' ~90 s, about 11,000 a second); --history 0 measures a fresh fleet, which never prunes.
#
# Usage: bench/heartbeat_bench.sh [--sites 10000] [--history 100] [--duration 20] [--warmup 5]
#                                 [--conns "16 64 256"] [--threads 1] [--build-dir DIR]
#                                 [--perf | --perf-run N] [--keep] [--no-build] [--vigie-only]
#   --perf   records `perf record -g` of the vigie server during the first vigie run
#            (perf.data left in the work directory, which is then kept).
#   --perf-run N  the same, during the N-th vigie run (a server that has run for a while).
#   --keep   keeps the work directory (data dir, logs, results.jsonl).
#   --no-build  uses the binaries already in the build directory.
#   --vigie-only  does not start nor load nginx (its columns then show "-").
# Needs: nginx (Debian: nginx-light; not with --vigie-only), jq, ninja, cmake. Traffic stays on
# 127.0.0.1.
set -euo pipefail
export LC_NUMERIC=C  # $EPOCHREALTIME and awk print a decimal point

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build/bench"
SITES=10000
HISTORY=100
DURATION=20
WARMUP=5
CONNS="16 64 256"
THREADS=1
PERF=0
KEEP=0
BUILD_FIRST=1
VIGIE_ONLY=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sites) SITES=$2; shift 2 ;;
    --history) HISTORY=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --build-dir) BUILD=$(realpath -m "$2"); shift 2 ;;
    --perf) PERF=1; KEEP=1; shift ;;
    --perf-run) PERF=$2; KEEP=1; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --no-build) BUILD_FIRST=0; shift ;;
    --vigie-only) VIGIE_ONLY=1; shift ;;
    *) echo "heartbeat_bench.sh: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
TOOLS="jq cmake ninja"
[[ $VIGIE_ONLY == 1 ]] || TOOLS="nginx $TOOLS"
for tool in $TOOLS; do
  if ! command -v "$tool" >/dev/null; then
    echo "heartbeat_bench.sh: $tool not found (Debian: apt-get install nginx-light jq cmake ninja-build)" >&2
    exit 2
  fi
done

if [[ $BUILD_FIRST == 1 ]]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVIGIE_BUILD_BENCH=ON >/dev/null
  ninja -C "$BUILD" -j2 vigie vigie_heartbeat_setup vigie_heartbeat_load vigie_liveness_memory_bench
fi

WORK=$(mktemp -d /tmp/vigie-heartbeat-bench.XXXXXX)
VIGIE_PID=""
LOAD_PID=""
NGINX_STARTED=0
cleanup() {
  if [[ -n "$LOAD_PID" ]]; then kill -TERM "$LOAD_PID" 2>/dev/null || true; fi
  if [[ -n "$VIGIE_PID" ]]; then kill -TERM "$VIGIE_PID" 2>/dev/null || true; wait "$VIGIE_PID" 2>/dev/null || true; fi
  if [[ $NGINX_STARTED == 1 && -f "$WORK/nginx/nginx.pid" ]]; then
    kill -QUIT "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true
  fi
  if [[ $KEEP == 1 ]]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
  local used port
  used=$(ss -Htan | awk '{print $4}' | sed 's/.*://' | sort -u)
  while :; do
    port=$((20000 + RANDOM % 20000))
    if ! grep -qx "$port" <<<"$used"; then echo "$port"; return; fi
  done
}
wait_port() {  # port, what
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "heartbeat_bench.sh: $2 is not listening on 127.0.0.1:$1 (logs in $WORK)" >&2
  KEEP=1
  exit 1
}

VPORT=$(free_port)
NPORT=$(free_port)
while [[ $NPORT == "$VPORT" ]]; do NPORT=$(free_port); done
DATA="$WORK/data"
SITES_FILE="$WORK/sites.txt"

# The whole benchmark's length, roughly: registration, then each run of each target.
n_runs=$(wc -w <<<"$CONNS")
n_targets=2; [[ $VIGIE_ONLY == 1 ]] && n_targets=1
SPAN=$((20 + n_runs * n_targets * (WARMUP + DURATION + 1)))
echo "== setup: $SITES sites with $HISTORY healthchecks each (aging out over ${SPAN}s) in $DATA"
"$BUILD/bench/vigie_heartbeat_setup" --data-dir "$DATA" --sites "$SITES" --port "$VPORT" \
  --sites-file "$SITES_FILE" --history "$HISTORY" --history-span "$SPAN" 2>"$WORK/setup.log"

echo "== vigie server on 127.0.0.1:$VPORT"
"$BUILD/src/cli/vigie" server --config "$DATA/vigie.toml" >"$WORK/vigie.out" 2>"$WORK/vigie.log" &
VIGIE_PID=$!
wait_port "$VPORT" "vigie server"

TARGETS="vigie nginx"
if [[ $VIGIE_ONLY == 1 ]]; then
  TARGETS="vigie"
else
echo "== nginx on 127.0.0.1:$NPORT"
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$NPORT ssl;
    ssl_certificate $DATA/fleet/tls.crt;
    ssl_certificate_key $DATA/fleet/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 204; }
  }
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"
NGINX_STARTED=1
wait_port "$NPORT" "nginx"
fi

CLK_TCK=$(getconf CLK_TCK)
# Sum of utime + stime (clock ticks) of the given processes, all threads; -1 if one is gone.
cpu_ticks() {
  local total=0 pid stat
  local -a f
  for pid in "$@"; do
    if ! read -r stat <"/proc/$pid/stat" 2>/dev/null; then echo -1; return; fi
    read -ra f <<<"${stat##*) }"  # fields 3.. (the command name may hold spaces)
    total=$((total + f[11] + f[12]))  # fields 14 (utime) and 15 (stime)
  done
  echo "$total"
}
# The server's processes for a target: vigie's one process; nginx's master and workers.
server_pids() {
  if [[ $1 == vigie ]]; then
    echo "$VIGIE_PID"
  else
    local master
    master=$(cat "$WORK/nginx/nginx.pid")
    echo "$master" $(pgrep -P "$master")
  fi
}
sleep_until() {  # an $EPOCHREALTIME instant
  local d
  d=$(awk -v t="$1" -v n="$EPOCHREALTIME" 'BEGIN { d = t - n; printf "%.3f", (d > 0 ? d : 0) }')
  sleep "$d"
}

LOAD="$BUILD/bench/vigie_heartbeat_load"
echo "== registering $SITES sites (POST /v1/sites/{id}/register)"
"$LOAD" --mode register --port "$VPORT" --sites-file "$SITES_FILE" --connections 16 \
  --label vigie-register --ca "$DATA/fleet/tls.crt" | tee -a "$WORK/results.jsonl"

RESULTS="$WORK/results.jsonl"
vigie_run=0
pair=0  # the table reads each pair of runs by this number: a repeated count shows each run
for c in $CONNS; do
  pair=$((pair + 1))
  for target in $TARGETS; do
    port=$VPORT; [[ $target == nginx ]] && port=$NPORT
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    # shellcheck disable=SC2207
    pids=($(server_pids "$target"))
    [[ $target == vigie ]] && vigie_run=$((vigie_run + 1))
    if [[ $target == vigie && $PERF -gt 0 && $vigie_run == "$PERF" ]]; then
      perf record -g -F 499 -p "$VIGIE_PID" -o "$WORK/perf.data" -- sleep "$((WARMUP + DURATION))" \
        >/dev/null 2>&1 &
      PERF_PID=$!
    fi
    launched=$EPOCHREALTIME
    "$LOAD" --port "$port" --sites-file "$SITES_FILE" --connections "$c" --threads "$THREADS" \
      --duration "$DURATION" --warmup "$WARMUP" --label "$target" --ca "$DATA/fleet/tls.crt" \
      >"$WORK/run.json" &
    LOAD_PID=$!
    sleep_until "$(awk -v l="$launched" -v w="$WARMUP" 'BEGIN { printf "%.6f", l + w }')"
    cpu0=$(cpu_ticks "${pids[@]}")
    sleep_until "$(awk -v l="$launched" -v w="$WARMUP" -v d="$DURATION" \
      'BEGIN { printf "%.6f", l + w + d }')"
    cpu1=$(cpu_ticks "${pids[@]}")
    wait "$LOAD_PID" || true
    LOAD_PID=""
    if [[ -n "${PERF_PID:-}" ]]; then wait "$PERF_PID" || true; PERF_PID=""; fi
    ticks=-1
    if [[ $cpu0 -ge 0 && $cpu1 -ge 0 ]]; then ticks=$((cpu1 - cpu0)); fi
    line=$(jq -c --arg load "$load" --argjson ticks "$ticks" --argjson hz "$CLK_TCK" \
      --argjson pair "$pair" '
      . + {pair: $pair, loadavg: $load,
           server_cpu_s: (if $ticks >= 0 then ($ticks / $hz * 100 | round / 100) else null end),
           server_us_per_req: (if $ticks >= 0 and .requests > 0
                               then ($ticks / $hz * 1e6 / .requests * 10 | round / 10)
                               else null end)}' "$WORK/run.json" || true)
    if [[ -z "$line" ]]; then
      echo "heartbeat_bench.sh: the $target run at $c connections printed no result" >&2
      continue
    fi
    echo "$line" | tee -a "$RESULTS"
    jq -r '"   \(.label): server CPU \(.server_cpu_s) s in the \(.duration_s) s window, " +
      "\(.requests) requests: \(.server_us_per_req) us/request"' <<<"$line"
  done
done

echo
echo "== tracker memory (1,000,000 sites)"
"$BUILD/bench/vigie_liveness_memory_bench" --sites 1000000 | tee -a "$RESULTS"

echo
echo "Heartbeats/s, $SITES sites, ${DURATION}s after ${WARMUP}s warm-up, $(nproc) cores, loadavg at start of each pair"
echo "us/req: server CPU (utime+stime) per request in the measured window; cpu_ratio = vigie/nginx"
printf '%-6s %-8s %10s %8s %8s %10s %8s %8s %7s %12s %12s %9s  %s\n' conns target vigie/s p50_us \
  p99_us nginx/s p50_us p99_us ratio "vigie us/req" "nginx us/req" cpu_ratio loadavg
pair=0
for c in $CONNS; do
  pair=$((pair + 1))
  # Missing runs (--vigie-only, a generator that printed nothing) show "-".
  jq -rs --argjson c "$c" --argjson pair "$pair" '
    def cell: if . == null then "-" else tostring end;
    (map(select(.mode == "heartbeat" and .pair == $pair and .label == "vigie")) | last) as $v |
    (map(select(.mode == "heartbeat" and .pair == $pair and .label == "nginx")) | last) as $n |
    [$c, "", ($v.rate | cell), ($v.p50_us | cell), ($v.p99_us | cell), ($n.rate | cell),
     ($n.p50_us | cell), ($n.p99_us | cell),
     (if ($n.rate // 0) > 0 and $v.rate != null
      then ($v.rate / $n.rate * 100 | round / 100 | cell) else "-" end),
     ($v.server_us_per_req | cell), ($n.server_us_per_req | cell),
     (if ($n.server_us_per_req // 0) > 0 and $v.server_us_per_req != null
      then ($v.server_us_per_req / $n.server_us_per_req * 100 | round / 100 | cell)
      else "-" end),
     ($v.loadavg | cell), ($v.errors | cell), ($n.errors | cell)] | @tsv' "$RESULTS" |
    awk -F'\t' '{printf "%-6s %-8s %10s %8s %8s %10s %8s %8s %7s %12s %12s %9s  %s  (errors: vigie %s, nginx %s)\n",
                 $1, "", $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15}'
done
echo "Targets: vigie >= 0.60 x nginx; >= 17000 heartbeats/s; tracker <= 512 bytes/site;"
echo "         (with nginx at ~12 us per request, 0.6 takes vigie at about 25 us or less)."
