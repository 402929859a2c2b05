// names_motion.h — AnimateDiff motion-module names. posetune uses the ORIGINAL AnimateDiff names
// internally (mm_sd_v15_v2.ckpt):
//   down_blocks.I.motion_modules.J.temporal_transformer.{norm,proj_in,proj_out}.*
//   ....temporal_transformer.transformer_blocks.0.attention_blocks.{0,1}.{to_q,to_k,to_v,to_out.0}.*
//   ....transformer_blocks.0.{norms.0,norms.1,ff_norm,ff.net.0.proj,ff.net.2}.*
//   ....attention_blocks.N.pos_encoder.pe   (fixed sinusoidal buffer [1, max_len, C])
// diffusers' MotionAdapter (scripts/convert_animatediff_motion_module_to_diffusers.py) drops the
// "temporal_transformer." level and renames attention_blocks.0/1 -> attn1/attn2,
// norms.0/1 -> norm1/norm2, ff_norm -> norm3; pos_encoder buffers are not stored.
#pragma once
#include <stddef.h>

#define PT_MM_V2_COUNT 21
// The 21 module prefixes of mm_sd_v15_v2 (down 0-3 x 2, up 0-3 x 3, mid x 1), each ending in '.',
// in forward order of the UNet, and their channel counts for SD 1.5 (320 x5, 640 x5, 1280 x11).
extern const char *const PT_MM_V2_PREFIXES[PT_MM_V2_COUNT];
extern const int PT_MM_V2_CHANNELS[PT_MM_V2_COUNT];

// Original -> diffusers MotionAdapter. Returns 0 (nothing written) for pos_encoder buffers, which
// diffusers does not store; 1 otherwise. A name that is not a motion-module tensor fails (PT_USAGE).
int pt_mm_to_diffusers(const char *orig, char *out, size_t cap);
// diffusers MotionAdapter -> original. Fails (PT_USAGE) on names outside a motion module.
void pt_mm_from_diffusers(const char *hf, char *out, size_t cap);
