#!/usr/bin/env bash
# Benchmark: `vigie ledger verify` (RunLedgerVerify, via vigie_ledger_verify_bench) against
# sha256sum over the same ledger segment file, in the same run. Target (issue): verify reaches
# at least 0.8x sha256sum's throughput over at least 1 GiB of entries.
#
# Usage: bench/ledger_verify_bench.sh [min_bytes]      (default 1 GiB)
# Env:   BUILD_DIR (default build/bench, configured Release with VIGIE_BUILD_BENCH=ON),
#        JOBS (ninja -j, default 2), RUNS (timed runs of each, best kept, default 3),
#        KEEP=1 to keep the generated ledger.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build/bench}
MIN_BYTES=${1:-1073741824}
RUNS=${RUNS:-3}

cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVIGIE_BUILD_BENCH=ON \
  -DVIGIE_BUILD_TESTS=OFF >/dev/null
ninja -C "$BUILD_DIR" -j"${JOBS:-2}" vigie_ledger_gen vigie_ledger_verify_bench >/dev/null

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigie-ledger-bench-XXXXXX")
cleanup() { if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi; }
trap cleanup EXIT

echo "generating >= $MIN_BYTES bytes of ledger entries in $WORK ..."
"$BUILD_DIR/bench/vigie_ledger_gen" "$WORK/ledger" "$MIN_BYTES" "$WORK/fleet.pem"
SEG="$WORK/ledger/entries.seg"
BYTES=$(stat -c %s "$SEG")

# Warm the page cache so both tools read from memory, not from the disk.
cat "$SEG" >/dev/null

now() { date +%s.%N; }
best_sha=""
best_verify=""
for ((i = 1; i <= RUNS; i++)); do
  t0=$(now); sha256sum "$SEG" >/dev/null; t1=$(now)
  sha=$(echo "$t1 - $t0" | bc -l)
  t0=$(now)
  if ! "$BUILD_DIR/bench/vigie_ledger_verify_bench" "$WORK/ledger" "$WORK/fleet.pem" >"$WORK/verify.out" 2>&1; then
    cat "$WORK/verify.out"; echo "ledger verify FAILED"; exit 1
  fi
  t1=$(now)
  ver=$(echo "$t1 - $t0" | bc -l)
  printf 'run %d: sha256sum %.3f s, ledger verify %.3f s\n' "$i" "$sha" "$ver"
  if [[ -z "$best_sha" ]] || (( $(echo "$sha < $best_sha" | bc -l) )); then best_sha=$sha; fi
  if [[ -z "$best_verify" ]] || (( $(echo "$ver < $best_verify" | bc -l) )); then best_verify=$ver; fi
done
grep -h "OK:" "$WORK/verify.out" || true

mib=$(echo "$BYTES / 1048576" | bc -l)
sha_tput=$(echo "$mib / $best_sha" | bc -l)
ver_tput=$(echo "$mib / $best_verify" | bc -l)
ratio=$(echo "$ver_tput / $sha_tput" | bc -l)
printf 'bytes: %d (%.1f MiB)\n' "$BYTES" "$mib"
printf 'sha256sum:     best %.3f s  %.1f MiB/s\n' "$best_sha" "$sha_tput"
printf 'ledger verify: best %.3f s  %.1f MiB/s\n' "$best_verify" "$ver_tput"
printf 'ratio (verify / sha256sum throughput): %.2fx (target >= 0.80x)\n' "$ratio"
if (( $(echo "$ratio < 0.8" | bc -l) )); then echo "BELOW TARGET"; exit 1; fi
