#!/usr/bin/env bash
# ZeRO-1 and gradient buckets on the CPU backend (MPI), 2 ranks:
#   1. many small buckets launched during backward == one all-reduce after backward (bit-identical:
#      a sum of two values does not depend on the order)
#      (also with grad_accum 2: only the last micro-step communicates)
#   2. train.zero1 on == train.zero1 off (within fp32 rounding: only the norm's summation order differs)
#   3. every rank wrote its optimizer shard, rank 0's checkpoint has no optim.* tensors
#   4. a zero1 run killed after step 3 and rerun with the same command resumes from step 2 and ends
#      bit-identical to the uninterrupted zero1 run
#   5. resuming a zero1 checkpoint whose shard is missing fails naming the file
#   bash tests/cli_mpi_zero1.sh POSETUNE_BIN TMPDIR
set -u
bin=$1; tmp=$2
src=$(cd "$(dirname "$0")/.." && pwd)
command -v mpirun >/dev/null || { echo "SKIP: mpirun not installed"; exit 77; }
rm -rf "$tmp"; mkdir -p "$tmp"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
cfg=$src/configs/demo/dreampose.yaml
common=(--set train.steps=4 --set train.checkpoint_every=2 --set train.keep_checkpoints=0 --set train.batch_size=1
        --set data.synthetic_videos=2 --set data.synthetic_frames=6 --set train.log_every=1 --set train.seed=11
        --set train.grad_clip=0.5)
pass=0; fail=0
ok() { echo "ok $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
run() { echo "+ $*"; timeout 300 "$@" > "$tmp/last.log" 2>&1; local rc=$?; tail -n 4 "$tmp/last.log"; return $rc; }
ck() { echo "$tmp/$1/checkpoints/step-0000000$2.safetensors"; }

POSETUNE_BUCKET_MB=0 run mpirun -np 2 "$bin" train "$cfg" "${common[@]}" --set train.out_dir="$tmp/plain" || { echo "FAIL: plain run"; exit 1; }
POSETUNE_BUCKET_MB=0.02 run mpirun -np 2 "$bin" train "$cfg" "${common[@]}" --set train.out_dir="$tmp/buckets" || { echo "FAIL: bucket run"; exit 1; }
# the buckets really overlapped backward (the first step is the probe, later ones launch during backward)
if grep -Eq "gradient buckets: ([2-9]|[1-9][0-9]+) covering .* ([1-9][0-9]*) launched during backward" "$tmp/last.log"; then
    ok "several buckets, launched during backward"
else bad "no bucket was launched during backward: $(grep 'gradient buckets' "$tmp/last.log")"; fi
if "$bin" inspect "$(ck buckets 4)" --diff "$(ck plain 4)" --filter model. --tol 0; then ok "buckets == one all-reduce (bit-identical)"
else bad "bucketed gradients differ from the plain all-reduce"; fi

# with gradient accumulation only the last micro-step communicates; still identical
POSETUNE_BUCKET_MB=0 run mpirun -np 2 "$bin" train "$cfg" "${common[@]}" --set train.grad_accum=2 --set train.out_dir="$tmp/plain_acc" || { echo "FAIL: plain accum run"; exit 1; }
POSETUNE_BUCKET_MB=0.02 run mpirun -np 2 "$bin" train "$cfg" "${common[@]}" --set train.grad_accum=2 --set train.out_dir="$tmp/buckets_acc" || { echo "FAIL: bucket accum run"; exit 1; }
if "$bin" inspect "$(ck buckets_acc 4)" --diff "$(ck plain_acc 4)" --filter model. --tol 0; then ok "buckets with grad_accum 2 == one all-reduce (bit-identical)"
else bad "bucketed gradients with accumulation differ"; fi

run mpirun -np 2 "$bin" train "$cfg" "${common[@]}" --set train.zero1=true --set train.out_dir="$tmp/zero1" || { echo "FAIL: zero1 run"; exit 1; }
if "$bin" inspect "$(ck zero1 4)" --diff "$(ck plain 4)" --filter model. --tol 1e-5; then ok "zero1 == no zero1 (fp32 rounding)"
else bad "zero1 parameters differ"; fi
for r in 0 1; do [ -f "$(ck zero1 4).rank$r.safetensors" ] || bad "rank $r wrote no optimizer shard"; done
[ -f "$(ck zero1 4).rank1.safetensors" ] && ok "every rank wrote its optimizer shard"
if "$bin" inspect "$(ck zero1 4)" 2>&1 | grep -q "optim\.m\."; then bad "zero1 checkpoint still holds full optim.m tensors"
else ok "rank 0's checkpoint holds the model, not the optimizer"; fi

# kill after step 3 (checkpoint at 2), rerun the same command
POSETUNE_KILL_AT_STEP=3 run mpirun -np 2 "$bin" train "$cfg" "${common[@]}" --set train.zero1=true --set train.out_dir="$tmp/killed"
[ -f "$(ck killed 4)" ] && bad "the killed run reached step 4"
run mpirun -np 2 "$bin" train "$cfg" "${common[@]}" --set train.zero1=true --set train.out_dir="$tmp/killed" || bad "resumed zero1 run failed"
grep -q "resumed from .*step-00000002" "$tmp/last.log" || bad "the rerun did not resume from step 2"
if "$bin" inspect "$(ck killed 4)" --diff "$(ck zero1 4)" --filter model. --tol 0; then ok "zero1 resumed == uninterrupted (bit-identical)"
else bad "resumed zero1 parameters differ"; fi

# a missing shard is an error naming the file (never a silent restart of the optimizer)
rm -f "$(ck killed 4).rank1.safetensors"
run mpirun -np 2 "$bin" train "$cfg" "${common[@]}" --set train.zero1=true --set train.steps=5 --set train.out_dir="$tmp/killed"
rc=$?
if [ $rc -ne 0 ] && grep -q "rank1.safetensors" "$tmp/last.log"; then ok "missing shard fails naming it"
else bad "missing shard: exit $rc, message: $(grep -m1 error "$tmp/last.log")"; fi

echo "$pass passed, $fail failed"
[ $fail = 0 ]
