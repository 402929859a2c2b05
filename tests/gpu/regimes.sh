#!/usr/bin/env bash
# tests/gpu/regimes.sh — both regimes at full SD1.5 size (random weights, bf16) on one GPU:
#   DreamPose phase 1 at 640x512, the VAE decoder finetune, a full `posetune subject` run
#   (subject finetune + VAE decoder finetune + render) at 640x512;
#   Animate Anyone stage 1 at 768x768, stage 2 with 24-frame clips at 512x512 (checkpointing on),
#   and a 60-frame windowed render (24 frames, overlap 4).
# Each line reports ms/step and peak GPU memory (the trainer prints them). Uses build-gpu from
# tests/gpu/run.sh (same carried packages). Ends with "N passed, N failed" and a table.
#   bash tests/gpu/regimes.sh [OUTDIR]
set -u
source "$(dirname "$0")/env.sh"
out=${1:-${OUT:-/tmp/pt-regimes-out}}
mkdir -p "$out"
[ -x "$bin" ] || pt_gpu_build posetune > "$out/build.log" 2>&1 || { tail -n 30 "$out/build.log"; echo "0 passed, 1 failed"; exit 1; }
steps=${PT_REGIME_STEPS:-4}
work=/tmp/pt-regimes; rm -rf "$work"; mkdir -p "$work"
sd15=(--set "model.tiny_size.unet_channels=[320,640,1280,1280]" --set model.tiny_size.unet_layers_per_block=2
      --set model.tiny_size.unet_heads=8 --set model.tiny_size.cross_attention_dim=768 --set model.tiny_size.norm_groups=32
      --set "model.tiny_size.vae_channels=[128,256,512,512]" --set model.tiny_size.vae_layers_per_block=2
      --set model.tiny_size.clip_image_size=224 --set train.device=cuda --set train.precision=bf16
      --set train.log_every=1 --set train.checkpoint_every=0 --set data.workers=4)
clip_b32=(--set model.tiny_size.clip_hidden=768 --set model.tiny_size.clip_layers=12 --set model.tiny_size.clip_heads=12 --set model.tiny_size.clip_patch=32)
clip_l14=(--set model.tiny_size.clip_hidden=1024 --set model.tiny_size.clip_layers=24 --set model.tiny_size.clip_heads=16 --set model.tiny_size.clip_patch=14)
passed=0; failed=0; rows=()
only=${PT_REGIME_ONLY:-}   # regex: run only matching steps (dreampose_phase1 always runs when a later step needs it)
step() {   # step NAME CMD...
  if [ -n "$only" ] && ! [[ "$1" =~ $only ]]; then return 0; fi
  local name=$1; shift
  local t0=$(date +%s.%N)
  if timeout "${PT_STEP_TIMEOUT:-300}" "$@" > "$out/$name.log" 2>&1; then passed=$((passed+1)); st=PASS; else failed=$((failed+1)); st=FAIL; fi
  local t1=$(date +%s.%N)
  local perf=$(grep -E "ms/step|rendered|frames in" "$out/$name.log" | tail -n 1 | cut -c1-110)
  rows+=("$(printf '%-22s %-5s %7.1fs  %s' "$name" "$st" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$perf")")
  echo "== $name: $st"; tail -n 6 "$out/$name.log"
}
step dreampose_phase1_640x512 "$bin" train "$root/configs/demo/dreampose.yaml" "${sd15[@]}" "${clip_b32[@]}" \
  --set data.height=640 --set data.width=512 --set data.synthetic_videos=2 --set data.synthetic_frames=8 \
  --set train.batch_size=4 --set train.grad_accum=1 --set train.steps=$steps --set train.out_dir=$work/dp1
step dreampose_vae_decoder_512 "$bin" train "$root/configs/demo/dreampose_vae_decoder.yaml" "${sd15[@]}" "${clip_b32[@]}" \
  --set data.height=512 --set data.width=512 --set data.synthetic_videos=2 --set data.synthetic_frames=8 \
  --set train.batch_size=1 --set train.grad_accum=1 --set train.steps=$steps --set train.out_dir=$work/dpvae
vd=$work/dp1/data/video_0000
step dreampose_subject_640x512 "$bin" subject --base "$work/dp1" --images "$vd/frame_0000.png" --images "$vd/frame_0001.png" \
  --poses "$vd" --out "$work/subject" "${sd15[@]}" "${clip_b32[@]}" --set model.tiny=true --set model.unet= --set model.vae= \
  --set model.clip= --set data.height=640 --set data.width=512 --set train.steps=$steps --set train.batch_size=1 \
  --set render.steps=${PT_RENDER_STEPS:-4} --set render.max_frames=4
"$bin" pack --synth "$work/synth" --synth-videos 1 --synth-frames 60 --size 512x512 > "$out/synth.log" 2>&1
vid=$(ls -d "$work"/synth/*/ | head -n 1)
step aa_stage1_768 "$bin" train "$root/configs/demo/animate_anyone_stage1.yaml" "${sd15[@]}" "${clip_l14[@]}" \
  --set data.height=768 --set data.width=768 --set data.synthetic_videos=2 --set data.synthetic_frames=40 \
  --set train.batch_size=2 --set train.grad_accum=1 --set train.steps=$steps --set train.out_dir=$work/aa1
step aa_stage2_24f_512 "$bin" train "$root/configs/demo/animate_anyone_stage2.yaml" "${sd15[@]}" "${clip_l14[@]}" \
  --set data.height=512 --set data.width=512 --set data.synthetic_videos=1 --set data.synthetic_frames=100 \
  --set data.num_frames=24 --set data.frame_stride=4 --set train.gradient_checkpointing=true \
  --set train.batch_size=1 --set train.steps=$steps --set model.stage1_checkpoint=$work/aa1 --set train.out_dir=$work/aa2
step aa_render_60f "$bin" render "$root/configs/animate_anyone/render.yaml" "${sd15[@]}" "${clip_l14[@]}" --set model.tiny=true \
  --set model.unet= --set model.vae= --set model.clip= --set model.motion_module= \
  --set data.height=512 --set data.width=512 --set render.steps=${PT_RENDER_STEPS:-4} --set render.window=24 --set render.overlap=4 \
  --set render.max_frames=60 --set model.checkpoint=$work/aa2 --set model.stage1_checkpoint=$work/aa1 --set "render.reference=${vid}frame_0000.png" \
  --set "render.poses=$vid" --set render.pose_rescale=false --set render.format=gif --set render.output=$work/aa_render
echo
echo "$passed passed, $failed failed"
printf '%s\n' "${rows[@]}"
