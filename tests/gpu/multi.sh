#!/usr/bin/env bash
# tests/gpu/multi.sh — data parallelism on a 2- or 4-GPU machine (see docs/distributed.md).
#   bash tests/gpu/multi.sh [OUTDIR]
# Needs the same carried packages as tests/gpu/run.sh (.deps); reuses build-gpu when it already
# holds a CUDA posetune, else configures and builds it (sm_90).
#
# 1. Equivalence on GPUs (tiny models, fp32): 2 ranks x batch B/2 == 1 rank x batch B after 4 steps;
#    2 ranks with train.zero1 == 2 ranks without; bf16 zero1 == bf16 without (bf16 tolerance);
#    small buckets (POSETUNE_BUCKET_MB=1, overlap during backward) == one all-reduce.
# 2. Failure: rank 1 fails after step 2 -> the job ends in time, naming rank 1.
# 3. Throughput, SD1.5-size UNet/VAE/CLIP with random weights (DreamPose regime, bf16, batch 16 per
#    GPU, 512x512, synthetic data) on 1, 2 and 4 GPUs (those present): img/s from metrics.jsonl
#    after warm-up, and scaling efficiency = N-GPU img/s / (N x 1-GPU img/s) (target >= 0.90).
# Ends with "N passed, N failed" and the throughput table. Environment knobs: PT_MULTI_STEPS
# (timed steps, default 20), PT_MULTI_WARMUP (default 5), PT_MULTI_BATCH (default 16), PT_MULTI_PARTS
# (default "equiv fail throughput": run a subset to stay within one 10-minute device call).
set -u
source "$(dirname "$0")/env.sh"
out=${1:-${OUT:-/tmp/pt-multi-out}}
mkdir -p "$out"
ngpu=$(nvidia-smi -L | wc -l)
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
echo "GPUs: $ngpu"
passed=0; failed=0
ok() { echo "ok $*" | tee -a "$out/summary.txt"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*" | tee -a "$out/summary.txt"; failed=$((failed + 1)); }

if ! [ -x "$bin" ] || ! nm "$bin" | grep -q pt_dist_nccl_iallreduce_mean; then
  pt_gpu_build posetune > "$out/build.log" 2>&1 || { tail -n 30 "$out/build.log"; echo "0 passed, 1 failed"; exit 1; }
fi
[ "$ngpu" -ge 2 ] || { echo "SKIP: needs at least 2 GPUs"; exit 77; }

cfg=$root/configs/demo/dreampose.yaml
tiny=(--set train.device=cuda --set train.steps=4 --set train.checkpoint_every=0 --set train.log_every=1 --set train.seed=3
      --set data.synthetic_videos=4 --set data.synthetic_frames=8 --set data.workers=1)
ck() { echo "$out/$1/checkpoints/step-00000004.safetensors"; }
train() {   # train NAME NP ARGS...
  local name=$1 np=$2; shift 2
  echo "+ [$name] mpirun -np $np posetune train ... $*"
  if [ "$np" = 1 ]; then timeout 300 "$bin" train "$@" --set train.out_dir="$out/$name" > "$out/$name.log" 2>&1
  else timeout 300 mpirun -np "$np" "$bin" train "$@" --set train.out_dir="$out/$name" > "$out/$name.log" 2>&1; fi
  local rc=$?; [ $rc = 0 ] || { tail -n 15 "$out/$name.log"; }
  return $rc
}
diffck() {  # diffck A B TOL LABEL
  if "$bin" inspect "$(ck "$1")" --diff "$(ck "$2")" --filter model. --tol "$3" > "$out/diff-$1-$2.log" 2>&1; then ok "$4 ($(tail -n 1 "$out/diff-$1-$2.log"))"
  else bad "$4: $(tail -n 1 "$out/diff-$1-$2.log")"; fi
}

parts=${PT_MULTI_PARTS:-equiv fail throughput}
want() { case " $parts " in *" $1 "*) return 0;; esac; return 1; }

# ---- 1. equivalence ----------------------------------------------------------------------------
if want equiv; then
train one 1 "$cfg" "${tiny[@]}" --set train.batch_size=4 || bad "1-GPU run"
train two 2 "$cfg" "${tiny[@]}" --set train.batch_size=2 || bad "2-GPU run"
diffck two one 1e-4 "2 GPUs x B/2 == 1 GPU x B"
POSETUNE_BUCKET_MB=0 train two_plain 2 "$cfg" "${tiny[@]}" --set train.batch_size=2 || bad "2-GPU run without buckets"
POSETUNE_BUCKET_MB=0.01 train two_buckets 2 "$cfg" "${tiny[@]}" --set train.batch_size=2 || bad "2-GPU run with small buckets"
grep -h "gradient buckets" "$out/two_buckets.log"
grep -Eq "gradient buckets: .* [1-9][0-9]* launched during backward" "$out/two_buckets.log" && ok "buckets launched during backward" \
  || bad "no bucket launched during backward"
diffck two_buckets two_plain 1e-5 "small buckets == one all-reduce"
train two_z1 2 "$cfg" "${tiny[@]}" --set train.batch_size=2 --set train.zero1=true || bad "2-GPU zero1 run"
diffck two_z1 two 1e-5 "2 GPUs zero1 == no zero1 (fp32)"
train two_bf 2 "$cfg" "${tiny[@]}" --set train.batch_size=2 --set train.precision=bf16 || bad "2-GPU bf16 run"
train two_bf_z1 2 "$cfg" "${tiny[@]}" --set train.batch_size=2 --set train.precision=bf16 --set train.zero1=true || bad "2-GPU bf16 zero1 run"
diffck two_bf_z1 two_bf 1e-2 "2 GPUs bf16 zero1 == no zero1"
fi

# ---- 2. failure ---------------------------------------------------------------------------------
if want fail; then
t0=$(date +%s)
POSETUNE_FAIL_RANK=1 POSETUNE_FAIL_AT_STEP=2 timeout -k 5 180 mpirun -np 2 "$bin" train "$cfg" "${tiny[@]}" \
  --set train.batch_size=2 --set train.out_dir="$out/fail" > "$out/fail.log" 2>&1
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $rc -ne 137 ] && grep -q "rank 1 of 2" "$out/fail.log"; then
  ok "rank 1 failure ended the job in $(( $(date +%s) - t0 ))s naming rank 1"
else bad "rank 1 failure: exit $rc, $(grep -m1 error "$out/fail.log")"; fi
fi

# ---- 3. throughput ------------------------------------------------------------------------------
if want throughput; then
warm=${PT_MULTI_WARMUP:-5}; timed=${PT_MULTI_STEPS:-20}; B=${PT_MULTI_BATCH:-16}
sd=(--set train.device=cuda --set train.precision=bf16 --set train.batch_size=$B --set train.grad_accum=1
    --set train.steps=$((warm + timed)) --set train.checkpoint_every=0 --set train.sample_every=0 --set train.log_every=5
    --set data.height=512 --set data.width=512 --set data.synthetic_videos=16 --set data.synthetic_frames=64 --set data.workers=3
    --set model.tiny_size.unet_channels=[320,640,1280,1280] --set model.tiny_size.unet_layers_per_block=2
    --set model.tiny_size.unet_heads=8 --set model.tiny_size.cross_attention_dim=768 --set model.tiny_size.norm_groups=32
    --set model.tiny_size.vae_channels=[128,256,512,512] --set model.tiny_size.vae_layers_per_block=2
    --set model.tiny_size.clip_hidden=768 --set model.tiny_size.clip_layers=12 --set model.tiny_size.clip_heads=12
    --set model.tiny_size.clip_image_size=224 --set model.tiny_size.clip_patch=32)
# img/s over the timed steps: global batch x steps / time between the last warm-up step and the end
rate() {
  awk -v w="$warm" -v gb="$2" '{ match($0, /"step": [0-9]+/); s = substr($0, RSTART + 8, RLENGTH - 8) + 0;
       match($0, /"time": [0-9.]+/); t = substr($0, RSTART + 8, RLENGTH - 8) + 0;
       if (s == w) t0 = t; if (s > w) { t1 = t; n = s - w } }
       END { if (n > 0 && t1 > t0) printf "%.2f", gb * n / (t1 - t0); else print "0" }' "$out/$1/metrics.jsonl"
}
declare -A ips
rows=()
for n in 1 2 4; do
  [ "$n" -le "$ngpu" ] || continue
  for z in false true; do
    [ "$n" = 1 ] && [ "$z" = true ] && continue
    name=sd_${n}gpu_zero1_$z
    if train "$name" "$n" "$cfg" "${sd[@]}" --set train.zero1=$z; then
      r=$(rate "$name" $((B * n)))
      ips[$n,$z]=$r
      mem=$(grep -ho "peak [0-9.]* GiB" "$out/$name.log" | tail -n 1)
      rows+=("$(printf '%-4s %-6s %10s img/s  %s' "$n" "$z" "$r" "$mem")")
    else bad "throughput run $name"; fi
  done
done
echo
echo "GPUs zero1  throughput (batch $B per GPU, 512x512, bf16, SD1.5-size random weights)" | tee -a "$out/summary.txt"
printf '%s\n' "${rows[@]}" | tee -a "$out/summary.txt"
base=${ips[1,false]:-0}
for n in 2 4; do
  for z in false true; do
    v=${ips[$n,$z]:-}
    [ -n "$v" ] || continue
    eff=$(awk -v a="$v" -v b="$base" -v n="$n" 'BEGIN { if (b > 0) printf "%.3f", a / (n * b); else print "nan" }')
    echo "scaling efficiency $n GPUs (zero1 $z): $eff = $v / ($n x $base)" | tee -a "$out/summary.txt"
    [ "$z" = false ] && awk -v e="$eff" 'BEGIN { exit !(e >= 0.90) }' && ok "scaling $n GPUs >= 0.90 ($eff)"
    [ "$z" = false ] && ! awk -v e="$eff" 'BEGIN { exit !(e >= 0.90) }' && bad "scaling $n GPUs below 0.90 ($eff)"
  done
done
fi
echo
echo "$passed passed, $failed failed"
