#!/usr/bin/env bash
# Data parallelism on the CPU backend (MPI): 2 ranks x batch B/2 must give the same parameters
# after K steps as 1 rank x batch B (within fp32 rounding), and a run killed mid-way and resumed
# with the same command must end with the same parameters as an uninterrupted run.
#   bash tests/cli_mpi_equivalence.sh POSETUNE_BIN TMPDIR
set -u
bin=$1; tmp=$2
src=$(cd "$(dirname "$0")/.." && pwd)
command -v mpirun >/dev/null || { echo "SKIP: mpirun not installed"; exit 77; }
rm -rf "$tmp"; mkdir -p "$tmp"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
cfg=$src/configs/demo/dreampose.yaml
common=(--set train.steps=4 --set train.checkpoint_every=2 --set train.keep_checkpoints=0
        --set data.synthetic_videos=2 --set data.synthetic_frames=6 --set train.log_every=1 --set train.seed=7)
fail=0
run() { echo "+ $*"; "$@" > "$tmp/last.log" 2>&1; local rc=$?; tail -n 5 "$tmp/last.log"; return $rc; }

run "$bin" train "$cfg" "${common[@]}" --set train.batch_size=2 --set train.out_dir="$tmp/one" || { echo "FAIL: 1-rank run"; exit 1; }
run mpirun -np 2 "$bin" train "$cfg" "${common[@]}" --set train.batch_size=1 --set train.out_dir="$tmp/two" || { echo "FAIL: 2-rank run"; exit 1; }
a=$tmp/one/checkpoints/step-00000004.safetensors; b=$tmp/two/checkpoints/step-00000004.safetensors
if "$bin" inspect "$a" --diff "$b" --filter model. --tol 1e-5; then echo "ok 2 ranks x B/2 == 1 rank x B"; else echo "FAIL: 2-rank parameters differ"; fail=1; fi

# resume after a kill: the same 2-rank command, killed after step 3 (checkpoint at step 2), rerun.
POSETUNE_KILL_AT_STEP=3 run mpirun -np 2 "$bin" train "$cfg" "${common[@]}" --set train.batch_size=1 --set train.out_dir="$tmp/killed"
[ -f "$tmp/killed/checkpoints/step-00000004.safetensors" ] && { echo "FAIL: the killed run reached step 4"; fail=1; }
run mpirun -np 2 "$bin" train "$cfg" "${common[@]}" --set train.batch_size=1 --set train.out_dir="$tmp/killed" || { echo "FAIL: resumed run"; exit 1; }
grep -q "resumed from" "$tmp/last.log" || { echo "FAIL: the rerun did not resume"; fail=1; }
c=$tmp/killed/checkpoints/step-00000004.safetensors
if "$bin" inspect "$c" --diff "$b" --filter model. --tol 0; then echo "ok resumed run == uninterrupted run (bit-identical)"; else echo "FAIL: resumed parameters differ"; fail=1; fi
[ $fail = 0 ] && echo "2 passed, 0 failed" || echo "some checks failed"
exit $fail
