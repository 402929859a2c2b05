#!/usr/bin/env bash
# `posetune bench` on the CPU with the tiny models: it runs every selected row and prints one JSON
# object per row with a positive time (this checks the command works; timings are not asserted).
#   bash tests/cli_bench.sh POSETUNE_BIN TMPDIR
set -u
bin=$1; tmp=$2
rm -rf "$tmp"; mkdir -p "$tmp"
fail=0
"$bin" bench --device cpu --iters 1 --warmup 0 --json --only "inference" > "$tmp/rows.json" 2> "$tmp/err.log" || { echo "FAIL: bench exited $?"; cat "$tmp/err.log"; exit 1; }
n=$(grep -c '"row": "unet inference b[13] 64x64 (tiny)"' "$tmp/rows.json")
[ "$n" = 2 ] && echo "ok two inference rows" || { echo "FAIL: expected 2 inference rows, got $n"; cat "$tmp/rows.json"; fail=1; }
if awk -F'"ms": ' '/"ms"/ { split($2, a, ","); if (a[1] + 0 <= 0) bad = 1 } END { exit bad }' "$tmp/rows.json"; then echo "ok positive times"; else echo "FAIL: a row has no positive time"; fail=1; fi
"$bin" bench --device cpu --size bogus > /dev/null 2> "$tmp/err2.log"; rc=$?
[ $rc = 2 ] && grep -q -- "--size expects sd15 or tiny" "$tmp/err2.log" && echo "ok bad --size exits 2" || { echo "FAIL: bad --size gave $rc"; fail=1; }
[ $fail = 0 ] && echo "3 passed, 0 failed" || echo "some checks failed"
exit $fail
