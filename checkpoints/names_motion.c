// names_motion.c — AnimateDiff motion-module prefixes and original <-> diffusers names.
#include "checkpoints/names_motion.h"

#include <stdio.h>
#include <string.h>

#include "tools/check.h"

const char *const PT_MM_V2_PREFIXES[PT_MM_V2_COUNT] = {
    "down_blocks.0.motion_modules.0.", "down_blocks.0.motion_modules.1.",
    "down_blocks.1.motion_modules.0.", "down_blocks.1.motion_modules.1.",
    "down_blocks.2.motion_modules.0.", "down_blocks.2.motion_modules.1.",
    "down_blocks.3.motion_modules.0.", "down_blocks.3.motion_modules.1.",
    "mid_block.motion_modules.0.",
    "up_blocks.0.motion_modules.0.", "up_blocks.0.motion_modules.1.", "up_blocks.0.motion_modules.2.",
    "up_blocks.1.motion_modules.0.", "up_blocks.1.motion_modules.1.", "up_blocks.1.motion_modules.2.",
    "up_blocks.2.motion_modules.0.", "up_blocks.2.motion_modules.1.", "up_blocks.2.motion_modules.2.",
    "up_blocks.3.motion_modules.0.", "up_blocks.3.motion_modules.1.", "up_blocks.3.motion_modules.2.",
};
const int PT_MM_V2_CHANNELS[PT_MM_V2_COUNT] = {
    320, 320, 640, 640, 1280, 1280, 1280, 1280, 1280,
    1280, 1280, 1280, 1280, 1280, 1280, 640, 640, 640, 320, 320, 320,
};

// Renames inside "transformer_blocks.K.<part>..." (part = what follows the block index).
typedef struct { const char *orig, *hf; } pair;
static const pair BLOCK_PARTS[] = {
    {"attention_blocks.0.", "attn1."}, {"attention_blocks.1.", "attn2."},
    {"norms.0.", "norm1."}, {"norms.1.", "norm2."}, {"ff_norm.", "norm3."}, {"ff.", "ff."},
};

// rest starts after the module prefix (original: after "temporal_transformer."). Maps the part
// after "transformer_blocks.K." if present. Returns 0 if the part is unknown.
static int map_rest(const char *rest, int to_hf, char *out, size_t cap) {
    static const char *tb = "transformer_blocks.";
    if (strncmp(rest, tb, strlen(tb)) != 0) {
        if (!strncmp(rest, "norm.", 5) || !strncmp(rest, "proj_in.", 8) || !strncmp(rest, "proj_out.", 9)) {
            snprintf(out, cap, "%s", rest);
            return 1;
        }
        return 0;
    }
    const char *k = rest + strlen(tb);
    const char *dot = strchr(k, '.');
    if (!dot || dot == k) return 0;
    const char *part = dot + 1;
    for (size_t i = 0; i < sizeof BLOCK_PARTS / sizeof BLOCK_PARTS[0]; i++) {
        const char *from = to_hf ? BLOCK_PARTS[i].orig : BLOCK_PARTS[i].hf;
        const char *to = to_hf ? BLOCK_PARTS[i].hf : BLOCK_PARTS[i].orig;
        size_t n = strlen(from);
        if (strncmp(part, from, n) == 0 && part[n]) {
            snprintf(out, cap, "%.*s%s%s", (int)(part - rest), rest, to, part + n);
            return 1;
        }
    }
    return 0;
}

// Length of the "<down_blocks.I|up_blocks.I|mid_block>.motion_modules.J." prefix, 0 if none.
static size_t module_prefix_len(const char *s) {
    const char *m = strstr(s, ".motion_modules.");
    if (!m) return 0;
    const char *j = m + strlen(".motion_modules.");
    const char *dot = strchr(j, '.');
    if (!dot || dot == j) return 0;
    return (size_t)(dot + 1 - s);
}

int pt_mm_to_diffusers(const char *orig, char *out, size_t cap) {
    size_t p = module_prefix_len(orig);
    static const char *tt = "temporal_transformer.";
    if (!p || strncmp(orig + p, tt, strlen(tt)) != 0)
        PT_USAGE("'%s' is not an AnimateDiff motion-module tensor (expected '<block>.motion_modules.N."
                 "temporal_transformer.…')", orig);
    if (strstr(orig, ".pos_encoder.")) return 0;
    char rest[256];
    if (!map_rest(orig + p + strlen(tt), 1, rest, sizeof rest))
        PT_USAGE("motion-module tensor '%s' has no diffusers MotionAdapter name", orig);
    snprintf(out, cap, "%.*s%s", (int)p, orig, rest);
    return 1;
}

void pt_mm_from_diffusers(const char *hf, char *out, size_t cap) {
    size_t p = module_prefix_len(hf);
    char rest[256];
    if (!p || !map_rest(hf + p, 0, rest, sizeof rest))
        PT_USAGE("'%s' is not a diffusers MotionAdapter tensor (expected '<block>.motion_modules.N.…')", hf);
    snprintf(out, cap, "%.*stemporal_transformer.%s", (int)p, hf, rest);
}
