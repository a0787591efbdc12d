#!/usr/bin/env bash
# Runs every hilt test and ends with "N passed, M failed".
#   tests/run.sh                 everything
#   tests/run.sh PATTERN         only tests whose file name contains PATTERN
# Unit tests are cmocka binaries built with ASan+UBSan; integration tests are
# scripts in tests/integration/ that drive the sanitized hilt binary against
# real peers they start on loopback; fuzz targets run over their seed corpus.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
PATTERN=${1:-}
export ROOT BUILD
export HILT="$BUILD/san/hilt" HILT_REL="$BUILD/hilt"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
OUT="$BUILD/test-results"
rm -rf "$OUT"; mkdir -p "$OUT"
export RESULTS="$OUT/results.txt"
: > "$RESULTS"

passed=0; failed=0; skipped=0
match() { [[ -z "$PATTERN" || "$1" == *"$PATTERN"* ]]; }

echo "== unit tests (ASan+UBSan)"
for t in "$BUILD"/san/tests/test_*; do
  [[ -x "$t" ]] || continue
  name=$(basename "$t"); match "$name" || continue
  log="$OUT/$name.log"
  "$t" >"$log" 2>&1; rc=$?
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  p=${p:-0}; f=${f:-0}
  if (( rc != 0 && f == 0 )); then f=1; fi   # crashed or sanitizer abort
  passed=$((passed + p)); failed=$((failed + f))
  if (( f )); then
    echo "FAIL $name ($p passed, $f failed; log: $log)"
    grep -E '^\[  (FAILED|ERROR) \]|ERROR: |runtime error' "$log" | head -20 | sed 's/^/    /'
  else
    echo "ok   $name ($p tests)"
  fi
done

echo "== integration tests"
for s in "$ROOT"/tests/integration/*.sh; do
  [[ -f "$s" ]] || continue
  name=$(basename "$s" .sh); match "$name" || continue
  before=$(wc -l < "$RESULTS")
  start=$(date +%s)
  timeout 900 bash "$s" > "$OUT/$name.log" 2>&1; rc=$?
  secs=$(( $(date +%s) - start ))
  new=$(tail -n +$((before + 1)) "$RESULTS")
  np=$(grep -c '^PASS ' <<<"$new"); nf=$(grep -c '^FAIL ' <<<"$new"); ns=$(grep -c '^SKIP ' <<<"$new")
  if (( rc != 0 && nf == 0 )); then
    echo "FAIL $name: script exited $rc" >> "$RESULTS"; nf=1
  fi
  passed=$((passed + np)); failed=$((failed + nf)); skipped=$((skipped + ns))
  echo "$( ((nf)) && echo FAIL || echo 'ok  ') $name ($np passed, $nf failed, $ns skipped, ${secs}s)"
  grep -E '^(FAIL|SKIP) ' <<<"$new" | sed 's/^/    /'
  (( nf )) && tail -n 15 "$OUT/$name.log" | sed 's/^/    | /'
done

echo "== fuzz targets (seed corpus + 2000 mutations each)"
for f in "$BUILD"/fuzz/fuzz_*; do
  [[ -x "$f" ]] || continue
  name=$(basename "$f"); match "$name" || continue
  corpus="$ROOT/tests/fuzz/corpus/${name#fuzz_}"
  work="$OUT/corpus-$name"; mkdir -p "$work"
  [[ -d "$corpus" ]] && cp -r "$corpus"/. "$work"/ 2>/dev/null
  if "$f" -artifact_prefix="$OUT/" -runs=2000 -seed=1 -max_len=65536 -rss_limit_mb=2048 "$work" > "$OUT/$name.log" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name (log: $OUT/$name.log)"
    tail -n 20 "$OUT/$name.log" | sed 's/^/    | /'
  fi
done

echo
if (( skipped )); then
  echo "$passed passed, $failed failed, $skipped skipped (reasons above)"
else
  echo "$passed passed, $failed failed"
fi
(( failed == 0 ))
