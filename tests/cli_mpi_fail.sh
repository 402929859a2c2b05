#!/usr/bin/env bash
# Failure handling on the CPU backend (MPI), 2 ranks: one rank stops with an error mid-run
# (POSETUNE_FAIL_RANK=R after step POSETUNE_FAIL_AT_STEP) while the other goes on into the next
# collective. The whole job must end quickly (never hang), non-zero, with a message naming the
# failed rank; rerunning the same command resumes from the last complete checkpoint and ends with
# the same parameters as an uninterrupted run.
#   bash tests/cli_mpi_fail.sh POSETUNE_BIN TMPDIR
set -u
bin=$1; tmp=$2
src=$(cd "$(dirname "$0")/.." && pwd)
command -v mpirun >/dev/null || { echo "SKIP: mpirun not installed"; exit 77; }
rm -rf "$tmp"; mkdir -p "$tmp"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
cfg=$src/configs/demo/dreampose.yaml
common=(--set train.steps=4 --set train.checkpoint_every=2 --set train.keep_checkpoints=0 --set train.batch_size=1
        --set data.synthetic_videos=2 --set data.synthetic_frames=6 --set train.log_every=1 --set train.seed=5)
limit=90   # seconds; a hang would run into it
pass=0; fail=0
ok() { echo "ok $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# $1 = failing rank, $2 = step, $3 = out dir name
failing_run() {
    local t0=$(date +%s)
    POSETUNE_FAIL_RANK=$1 POSETUNE_FAIL_AT_STEP=$2 timeout -k 5 $limit mpirun -np 2 "$bin" train "$cfg" "${common[@]}" \
        --set train.out_dir="$tmp/$3" > "$tmp/$3.log" 2>&1
    local rc=$? el=$(( $(date +%s) - t0 ))
    grep -E "error|rank" "$tmp/$3.log" | head -n 4
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then bad "rank $1 failing at step $2: the job hung (killed after ${limit}s)"; return; fi
    [ $rc -ne 0 ] || { bad "rank $1 failing at step $2: the job exited 0"; return; }
    if grep -q "rank $1 of 2" "$tmp/$3.log" && grep -q "injected failure on rank $1" "$tmp/$3.log"; then
        ok "rank $1 failing at step $2: job ended in ${el}s (exit $rc) naming rank $1"
    else bad "rank $1 failing at step $2: no message naming rank $1"; fi
}

failing_run 1 3 fail1      # after step 3: the checkpoint of step 2 is complete
failing_run 0 1 fail0      # rank 0 itself, before any checkpoint
[ -f "$tmp/fail1/checkpoints/step-00000004.safetensors" ] && bad "the failed run reached step 4"

# same command without the fault: resumes from step 2, ends like an uninterrupted run
timeout $limit mpirun -np 2 "$bin" train "$cfg" "${common[@]}" --set train.out_dir="$tmp/fail1" > "$tmp/resume.log" 2>&1 \
    || bad "rerun after the failure exited non-zero: $(grep -m1 error "$tmp/resume.log")"
grep -q "resumed from .*step-00000002" "$tmp/resume.log" && ok "rerun resumed from the last complete checkpoint" \
    || bad "rerun did not resume from step 2"
timeout $limit mpirun -np 2 "$bin" train "$cfg" "${common[@]}" --set train.out_dir="$tmp/clean" > "$tmp/clean.log" 2>&1 \
    || bad "uninterrupted run failed"
if "$bin" inspect "$tmp/fail1/checkpoints/step-00000004.safetensors" --diff "$tmp/clean/checkpoints/step-00000004.safetensors" \
    --filter model. --tol 0; then ok "resumed == uninterrupted (bit-identical)"
else bad "resumed parameters differ"; fi

echo "$pass passed, $fail failed"
[ $fail = 0 ]
