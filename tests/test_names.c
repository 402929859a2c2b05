// test_names.c — diffusers <-> LDM name tables (UNet, VAE) and AnimateDiff motion-module names.
// Real diffusers names come from the peer fixtures; LDM names are checked against pairs written
// out by hand from the original SD v1 checkpoints' key list.
#include "checkpoints/names_motion.h"
#include "checkpoints/names_sd.h"
#include "tests/test_util.h"

static void expect_pair(const pt_sd_names *t, const char *hf, const char *ldm, int want_reshape) {
    char out[256];
    int rs = -1;
    pt_sd_to_ldm(t, hf, out, sizeof out, &rs);
    EXPECT(strcmp(out, ldm) == 0, "%s -> %s, want %s", hf, out, ldm);
    EXPECT(rs == want_reshape, "%s reshape %d", hf, rs);
    pt_sd_from_ldm(t, ldm, out, sizeof out, &rs);
    EXPECT(strcmp(out, hf) == 0, "%s -> %s, want %s", ldm, out, hf);
}

TEST_CASE(unet_sd15_pairs) {
    pt_sd_names *t = pt_sd_names_unet_sd15();
    const char *P = "model.diffusion_model.";
    char l[256];
#define PAIR(hf, ldm) (snprintf(l, sizeof l, "%s%s", P, ldm), expect_pair(t, hf, l, 0))
    PAIR("down_blocks.0.resnets.0.conv1.weight", "input_blocks.1.0.in_layers.2.weight");
    PAIR("up_blocks.0.upsamplers.0.conv.weight", "output_blocks.2.1.conv.weight");
    PAIR("up_blocks.1.upsamplers.0.conv.bias", "output_blocks.5.2.conv.bias");
    PAIR("up_blocks.2.upsamplers.0.conv.weight", "output_blocks.8.2.conv.weight");
    PAIR("mid_block.attentions.0.proj_in.weight", "middle_block.1.proj_in.weight");
    PAIR("mid_block.resnets.1.conv2.weight", "middle_block.2.out_layers.3.weight");
    PAIR("down_blocks.0.downsamplers.0.conv.weight", "input_blocks.3.0.op.weight");
    PAIR("down_blocks.2.downsamplers.0.conv.bias", "input_blocks.9.0.op.bias");
    PAIR("down_blocks.1.resnets.0.conv_shortcut.weight", "input_blocks.4.0.skip_connection.weight");
    PAIR("down_blocks.3.resnets.1.time_emb_proj.bias", "input_blocks.11.0.emb_layers.1.bias");
    PAIR("down_blocks.2.attentions.1.transformer_blocks.0.attn2.to_k.weight",
         "input_blocks.8.1.transformer_blocks.0.attn2.to_k.weight");
    PAIR("up_blocks.3.attentions.2.transformer_blocks.0.ff.net.0.proj.weight",
         "output_blocks.11.1.transformer_blocks.0.ff.net.0.proj.weight");
    PAIR("up_blocks.0.resnets.2.norm1.weight", "output_blocks.2.0.in_layers.0.weight");
    PAIR("up_blocks.3.resnets.0.norm2.bias", "output_blocks.9.0.out_layers.0.bias");
    PAIR("time_embedding.linear_1.weight", "time_embed.0.weight");
    PAIR("time_embedding.linear_2.bias", "time_embed.2.bias");
    PAIR("conv_in.weight", "input_blocks.0.0.weight");
    PAIR("conv_norm_out.bias", "out.0.bias");
    PAIR("conv_out.weight", "out.2.weight");
#undef PAIR
    char out[256];
    EXPECT_FAILS(pt_sd_to_ldm(t, "down_blocks.3.attentions.0.proj_in.weight", out, sizeof out, NULL), 2,
                 "UNet tensor 'down_blocks.3.attentions.0.proj_in.weight' has no original (LDM) name");
    EXPECT_FAILS(pt_sd_to_ldm(t, "down_blocks.0.resnets.0.bogus.weight", out, sizeof out, NULL), 2, "bogus");
    EXPECT_FAILS(pt_sd_from_ldm(t, "first_stage_model.encoder.conv_in.weight", out, sizeof out, NULL), 2,
                 "'first_stage_model.encoder.conv_in.weight' has no diffusers UNet name");
    EXPECT(!pt_sd_try_to_ldm(t, "up_blocks.3.upsamplers.0.conv.weight", out, sizeof out, NULL), "no upsampler in last block");
    pt_sd_names_free(t);
}

TEST_CASE(vae_sd15_pairs) {
    pt_sd_names *t = pt_sd_names_vae_sd15();
    const char *P = "first_stage_model.";
    char l[256];
#define PAIR(hf, ldm, rs) (snprintf(l, sizeof l, "%s%s", P, ldm), expect_pair(t, hf, l, rs))
    PAIR("decoder.up_blocks.0.resnets.0.conv1.weight", "decoder.up.3.block.0.conv1.weight", 0);
    PAIR("decoder.up_blocks.0.upsamplers.0.conv.weight", "decoder.up.3.upsample.conv.weight", 0);
    PAIR("decoder.up_blocks.3.resnets.2.norm2.bias", "decoder.up.0.block.2.norm2.bias", 0);
    PAIR("decoder.up_blocks.2.resnets.0.conv_shortcut.weight", "decoder.up.1.block.0.nin_shortcut.weight", 0);
    PAIR("encoder.down_blocks.0.downsamplers.0.conv.weight", "encoder.down.0.downsample.conv.weight", 0);
    PAIR("encoder.down_blocks.1.resnets.0.conv_shortcut.weight", "encoder.down.1.block.0.nin_shortcut.weight", 0);
    PAIR("encoder.mid_block.resnets.0.norm1.weight", "encoder.mid.block_1.norm1.weight", 0);
    PAIR("decoder.mid_block.resnets.1.conv2.bias", "decoder.mid.block_2.conv2.bias", 0);
    PAIR("encoder.mid_block.attentions.0.to_q.weight", "encoder.mid.attn_1.q.weight", 1);
    PAIR("encoder.mid_block.attentions.0.to_q.bias", "encoder.mid.attn_1.q.bias", 0);
    PAIR("decoder.mid_block.attentions.0.to_out.0.weight", "decoder.mid.attn_1.proj_out.weight", 1);
    PAIR("decoder.mid_block.attentions.0.group_norm.weight", "decoder.mid.attn_1.norm.weight", 0);
    PAIR("encoder.conv_norm_out.weight", "encoder.norm_out.weight", 0);
    PAIR("decoder.conv_in.bias", "decoder.conv_in.bias", 0);
    PAIR("quant_conv.weight", "quant_conv.weight", 0);
    PAIR("post_quant_conv.bias", "post_quant_conv.bias", 0);
#undef PAIR
    pt_sd_names_free(t);
}

// Every name of a tensor set maps to a distinct LDM name and back to itself.
static void round_trip_all(const pt_sd_names *t, const char **names, int n, int want_unique) {
    char (*ldm)[256] = pt_malloc((size_t)n * 256);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        char back[256];
        int rs1, rs2;
        pt_sd_to_ldm(t, names[i], ldm[i], 256, &rs1);
        pt_sd_from_ldm(t, ldm[i], back, sizeof back, &rs2);
        if (strcmp(back, names[i]) != 0 || rs1 != rs2) { bad++; fprintf(stderr, "  %s -> %s -> %s\n", names[i], ldm[i], back); }
    }
    EXPECT(bad == 0, "%d names did not round-trip", bad);
    int dup = 0;
    for (int i = 0; i < n && want_unique; i++)
        for (int j = i + 1; j < n; j++) dup += strcmp(ldm[i], ldm[j]) == 0;
    EXPECT(dup == 0, "%d LDM names collide", dup);
    free(ldm);
}

static pt_weights *load_fixture(const char *name) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", fixtures_dir(), name);
    return pt_weights_load(p);
}

TEST_CASE(fixture_names_round_trip) {
    if (!fixtures_dir()) { test_skip("peer fixtures absent"); return; }
    char p[4200];
    // UNet: table from the tiny config; then the SD1.5 table on the same names plus the one shortcut
    // that SD1.5 has and the tiny model lacks (its block 2 keeps 32 channels).
    snprintf(p, sizeof p, "%s/unet_tiny.json", fixtures_dir());
    pt_json *j = pt_json_parse_file(p);
    pt_sd_names *t = pt_sd_names_unet_from_config(pt_json_get(j, "config"));
    pt_weights *w = load_fixture("unet_tiny.safetensors");
    const char **names = pt_malloc((size_t)(w->n + 2) * sizeof(char *));
    for (int i = 0; i < w->n; i++) names[i] = w->t[i].name;
    round_trip_all(t, names, w->n, 1);
    pt_sd_names_free(t);
    names[w->n] = "down_blocks.2.resnets.0.conv_shortcut.weight";
    names[w->n + 1] = "down_blocks.2.resnets.0.conv_shortcut.bias";
    t = pt_sd_names_unet_sd15();
    round_trip_all(t, names, w->n + 2, 1);
    EXPECT(w->n + 2 == 686, "SD1.5 UNet has 686 tensors, got %d", w->n + 2);
    pt_sd_names_free(t);
    free(names);
    pt_json_free(j);

    // View of a fake single-file checkpoint: LDM-named copies of the fixture tensors
    pt_weights *ck = pt_weights_new("fake.ckpt");
    t = pt_sd_names_unet_sd15();
    for (int i = 0; i < w->n; i++) {
        char l[256];
        pt_sd_to_ldm(t, w->t[i].name, l, sizeof l, NULL);
        pt_weights_add(ck, l, w->t[i].dtype, w->t[i].ndim, w->t[i].shape, w->t[i].data, w->t[i].nbytes);
    }
    pt_weights_add(ck, "cond_stage_model.transformer.x", PT_F32, 0, NULL, w->t[0].data, 4);
    pt_weights *v = pt_sd_view_from_ldm(ck, t);
    EXPECT(v->n == w->n, "view n %d", v->n);
    const pt_wtensor *a = pt_weights_get(v, "down_blocks.0.resnets.0.conv1.weight");
    EXPECT(a->data == pt_weights_get(w, "down_blocks.0.resnets.0.conv1.weight")->data, "view shares data");
    pt_weights_add(ck, "model.diffusion_model.input_blocks.99.0.foo.weight", PT_F32, 0, NULL, w->t[0].data, 4);
    EXPECT_FAILS(pt_sd_view_from_ldm(ck, t), 2, "tensor 'model.diffusion_model.input_blocks.99.0.foo.weight' has no diffusers UNet name");
    pt_weights_free(v);
    pt_weights_free(ck);
    pt_sd_names_free(t);
    pt_weights_free(w);

    // VAE
    snprintf(p, sizeof p, "%s/vae_tiny.json", fixtures_dir());
    j = pt_json_parse_file(p);
    t = pt_sd_names_vae_from_config(pt_json_get(j, "config"));
    w = load_fixture("vae_tiny.safetensors");
    names = pt_malloc((size_t)w->n * sizeof(char *));
    for (int i = 0; i < w->n; i++) names[i] = w->t[i].name;
    round_trip_all(t, names, w->n, 1);
    free(names);
    // LDM view reshapes attention weights to [C,C,1,1] -> [C,C]
    ck = pt_weights_new("fake_vae.ckpt");
    for (int i = 0; i < w->n; i++) {
        char l[256];
        int rs;
        pt_sd_to_ldm(t, w->t[i].name, l, sizeof l, &rs);
        int64_t sh[8];
        memcpy(sh, w->t[i].shape, sizeof sh);
        int nd = w->t[i].ndim;
        if (rs) { sh[2] = sh[3] = 1; nd = 4; }
        pt_weights_add(ck, l, w->t[i].dtype, nd, sh, w->t[i].data, w->t[i].nbytes);
    }
    const pt_wtensor *q = pt_weights_get(ck, "first_stage_model.decoder.mid.attn_1.q.weight");
    EXPECT(q->ndim == 4 && q->shape[0] == 32 && q->shape[3] == 1, "LDM q is [C,C,1,1]");
    v = pt_sd_view_from_ldm(ck, t);
    q = pt_weights_get(v, "decoder.mid_block.attentions.0.to_q.weight");
    EXPECT(q->ndim == 2 && q->shape[0] == 32 && q->shape[1] == 32, "diffusers to_q is [C,C]");
    EXPECT(v->n == w->n, "vae view n %d", v->n);
    pt_weights_free(v);
    pt_weights_free(ck);
    pt_sd_names_free(t);
    pt_json_free(j);
    pt_weights_free(w);
}

TEST_CASE(vae_deprecated_names) {
    float d[4] = {0};
    pt_weights *w = pt_weights_new("old_vae");
    int64_t s4[4] = {2, 2, 1, 1}, s1[1] = {2};
    pt_weights_add(w, "encoder.mid_block.attentions.0.query.weight", PT_F32, 4, s4, d, 16);
    pt_weights_add(w, "encoder.mid_block.attentions.0.query.bias", PT_F32, 1, s1, d, 8);
    pt_weights_add(w, "decoder.mid_block.attentions.0.proj_attn.weight", PT_F32, 2, s4, d, 16);
    pt_weights_add(w, "decoder.mid_block.attentions.0.group_norm.weight", PT_F32, 1, s1, d, 8);
    pt_weights_add(w, "decoder.conv_in.weight", PT_F32, 4, s4, d, 16);
    pt_sd_vae_normalize(w);
    const pt_wtensor *q = pt_weights_find(w, "encoder.mid_block.attentions.0.to_q.weight");
    EXPECT(q && q->ndim == 2, "query.weight -> to_q.weight [C,C]");
    EXPECT(pt_weights_find(w, "encoder.mid_block.attentions.0.to_q.bias"), "query.bias -> to_q.bias");
    EXPECT(pt_weights_find(w, "decoder.mid_block.attentions.0.to_out.0.weight"), "proj_attn -> to_out.0");
    EXPECT(pt_weights_find(w, "decoder.mid_block.attentions.0.group_norm.weight"), "group_norm kept");
    EXPECT(pt_weights_get(w, "decoder.conv_in.weight")->ndim == 4, "conv untouched");
    EXPECT(!pt_weights_find(w, "encoder.mid_block.attentions.0.query.weight"), "old name gone");
    pt_weights_free(w);
}

TEST_CASE(motion_module_names) {
    EXPECT(PT_MM_V2_COUNT == 21, "21 modules");
    int n320 = 0, n640 = 0, n1280 = 0;
    for (int i = 0; i < PT_MM_V2_COUNT; i++) {
        n320 += PT_MM_V2_CHANNELS[i] == 320; n640 += PT_MM_V2_CHANNELS[i] == 640; n1280 += PT_MM_V2_CHANNELS[i] == 1280;
    }
    EXPECT(n320 == 5 && n640 == 5 && n1280 == 11, "widths %d %d %d", n320, n640, n1280);
    char out[256], back[256];
    struct { const char *orig, *hf; } P[] = {
        {"down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.to_q.weight",
         "down_blocks.0.motion_modules.0.transformer_blocks.0.attn1.to_q.weight"},
        {"up_blocks.3.motion_modules.2.temporal_transformer.transformer_blocks.0.attention_blocks.1.to_out.0.bias",
         "up_blocks.3.motion_modules.2.transformer_blocks.0.attn2.to_out.0.bias"},
        {"mid_block.motion_modules.0.temporal_transformer.transformer_blocks.0.norms.1.weight",
         "mid_block.motion_modules.0.transformer_blocks.0.norm2.weight"},
        {"down_blocks.2.motion_modules.1.temporal_transformer.transformer_blocks.0.ff_norm.bias",
         "down_blocks.2.motion_modules.1.transformer_blocks.0.norm3.bias"},
        {"down_blocks.1.motion_modules.0.temporal_transformer.norm.weight", "down_blocks.1.motion_modules.0.norm.weight"},
        {"up_blocks.0.motion_modules.1.temporal_transformer.proj_out.bias", "up_blocks.0.motion_modules.1.proj_out.bias"},
        {"up_blocks.1.motion_modules.0.temporal_transformer.transformer_blocks.0.ff.net.0.proj.weight",
         "up_blocks.1.motion_modules.0.transformer_blocks.0.ff.net.0.proj.weight"},
    };
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++) {
        EXPECT(pt_mm_to_diffusers(P[i].orig, out, sizeof out) == 1 && !strcmp(out, P[i].hf), "%s -> %s", P[i].orig, out);
        pt_mm_from_diffusers(P[i].hf, back, sizeof back);
        EXPECT(!strcmp(back, P[i].orig), "%s -> %s", P[i].hf, back);
    }
    EXPECT(pt_mm_to_diffusers("down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0."
                              "attention_blocks.0.pos_encoder.pe", out, sizeof out) == 0, "pos_encoder dropped");
    EXPECT_FAILS(pt_mm_to_diffusers("down_blocks.0.resnets.0.conv1.weight", out, sizeof out), 2,
                 "'down_blocks.0.resnets.0.conv1.weight' is not an AnimateDiff motion-module tensor");
    EXPECT_FAILS(pt_mm_from_diffusers("down_blocks.0.motion_modules.0.transformer_blocks.0.attn9.to_q.weight", out, sizeof out),
                 2, "is not a diffusers MotionAdapter tensor");
    if (!fixtures_dir()) { test_skip("peer fixtures absent"); return; }
    // every tensor of the motion-module fixture (original names of one module) round-trips
    pt_weights *w = load_fixture("motion_module_tiny.safetensors");
    int dropped = 0, bad = 0;
    for (int i = 0; i < w->n; i++) {
        char full[300];
        snprintf(full, sizeof full, "%s%s", PT_MM_V2_PREFIXES[4], w->t[i].name);
        if (!pt_mm_to_diffusers(full, out, sizeof out)) { dropped++; continue; }
        pt_mm_from_diffusers(out, back, sizeof back);
        bad += strcmp(back, full) != 0;
    }
    EXPECT(dropped == 2 && bad == 0, "dropped %d (pos_encoder x2), bad %d", dropped, bad);
    pt_weights_free(w);
}

int main(void) {
    RUN(unet_sd15_pairs);
    RUN(vae_sd15_pairs);
    RUN(fixture_names_round_trip);
    RUN(vae_deprecated_names);
    RUN(motion_module_names);
    return test_summary();
}
