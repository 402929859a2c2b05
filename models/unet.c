// unet.c — UNet2DConditionModel: construction (diffusers names), loading, forward with hooks.
// See unet.h for the wiring, the temporal slot numbering and the hooks.
#include "models/unet.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tools/check.h"

// prefix + formatted name
static const char *nm(const pt_unet *u, char *buf, size_t n, const char *fmt, ...) {
    size_t k = (size_t)snprintf(buf, n, "%s", u->prefix);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, n - k, fmt, ap);
    va_end(ap);
    return buf;
}

// ---- construction -------------------------------------------------------------------------------
void pt_unet_init(pt_unet *u, const pt_unet_config *c, pt_params *P, const char *prefix) {
    memset(u, 0, sizeof *u);
    u->cfg = *c;
    u->P = P;
    if (prefix && strlen(prefix) >= sizeof u->prefix) PT_USAGE("UNet parameter prefix '%s' is too long", prefix);
    snprintf(u->prefix, sizeof u->prefix, "%s", prefix ? prefix : "");
    const int nb = c->n_blocks, G = c->norm_num_groups, T = c->time_embed_dim, X = c->cross_attention_dim;
    const float eps = c->norm_eps;
    const int *boc = c->block_out_channels;
    char b[256];

    u->conv_in = pt_mc_conv(P, nm(u, b, sizeof b, "conv_in"), NULL, c->in_channels, boc[0], 3, 1, 1, 1);
    u->time_linear_1 = pt_mc_linear(P, nm(u, b, sizeof b, "time_embedding.linear_1"), NULL, boc[0], T, 1);
    u->time_linear_2 = pt_mc_linear(P, nm(u, b, sizeof b, "time_embedding.linear_2"), NULL, T, T, 1);

    int slot = 0, skip = 0;
    u->skip_channels[skip++] = boc[0];
    // down blocks
    int out_ch = boc[0];
    for (int i = 0; i < nb; i++) {
        pt_unet_down *d = &u->down[i];
        int in_ch = out_ch;
        out_ch = boc[i];
        d->n_layers = c->layers_per_block[i];
        d->has_attn = c->down_attn[i];
        d->has_downsample = i < nb - 1;
        d->resnets = pt_calloc((size_t)d->n_layers, sizeof *d->resnets);
        if (d->has_attn) d->attns = pt_calloc((size_t)d->n_layers, sizeof *d->attns);
        for (int j = 0; j < d->n_layers; j++) {
            pt_resnet_init(&d->resnets[j], P, nm(u, b, sizeof b, "down_blocks.%d.resnets.%d", i, j), j == 0 ? in_ch : out_ch,
                           out_ch, T, G, eps, 1.0f);
            if (d->has_attn) {
                pt_transformer2d_init(&d->attns[j], P, nm(u, b, sizeof b, "down_blocks.%d.attentions.%d", i, j), out_ch,
                                      c->heads[i], c->transformer_layers[i], X, G, c->use_linear_projection);
                u->n_transformer_blocks += c->transformer_layers[i];
            }
            u->temporal_channels[slot++] = out_ch;
            u->skip_channels[skip++] = out_ch;
        }
        if (d->has_downsample) {
            pt_downsample_init(&d->downsample, P, nm(u, b, sizeof b, "down_blocks.%d.downsamplers.0", i), out_ch);
            u->skip_channels[skip++] = out_ch;
        }
    }
    u->n_skips = skip;
    // mid block
    const int top = boc[nb - 1];
    if (c->has_mid_block) {
        pt_resnet_init(&u->mid_resnets[0], P, nm(u, b, sizeof b, "mid_block.resnets.0"), top, top, T, G, eps,
                       c->mid_block_scale_factor);
        pt_transformer2d_init(&u->mid_attn, P, nm(u, b, sizeof b, "mid_block.attentions.0"), top, c->heads[nb - 1],
                              c->transformer_layers[nb - 1], X, G, c->use_linear_projection);
        u->n_transformer_blocks += c->transformer_layers[nb - 1];
        pt_resnet_init(&u->mid_resnets[1], P, nm(u, b, sizeof b, "mid_block.resnets.1"), top, top, T, G, eps,
                       c->mid_block_scale_factor);
        u->temporal_channels[slot++] = top;
    }
    // up blocks: block i mirrors down block nb-1-i
    int prev_out = top;
    for (int i = 0; i < nb; i++) {
        pt_unet_up *up = &u->up[i];
        int r = nb - 1 - i;
        int out = boc[r];
        int in = boc[r > 0 ? r - 1 : 0];
        up->n_layers = c->layers_per_block[r] + 1;
        up->has_attn = c->up_attn[i];
        up->has_upsample = i < nb - 1;
        up->resnets = pt_calloc((size_t)up->n_layers, sizeof *up->resnets);
        if (up->has_attn) up->attns = pt_calloc((size_t)up->n_layers, sizeof *up->attns);
        for (int j = 0; j < up->n_layers; j++) {
            int skip_ch = j == up->n_layers - 1 ? in : out;
            int res_in = j == 0 ? prev_out : out;
            pt_resnet_init(&up->resnets[j], P, nm(u, b, sizeof b, "up_blocks.%d.resnets.%d", i, j), res_in + skip_ch, out, T,
                           G, eps, 1.0f);
            if (up->has_attn) {
                pt_transformer2d_init(&up->attns[j], P, nm(u, b, sizeof b, "up_blocks.%d.attentions.%d", i, j), out,
                                      c->heads[r], c->transformer_layers[r], X, G, c->use_linear_projection);
                u->n_transformer_blocks += c->transformer_layers[r];
            }
            u->temporal_channels[slot++] = out;
        }
        if (up->has_upsample)
            pt_upsample_init(&up->upsample, P, nm(u, b, sizeof b, "up_blocks.%d.upsamplers.0", i), out);
        prev_out = out;
    }
    u->n_temporal_slots = slot;
    u->conv_norm_out = pt_mc_group_norm(P, nm(u, b, sizeof b, "conv_norm_out"), NULL, boc[0], G, eps);
    u->conv_out = pt_mc_conv(P, nm(u, b, sizeof b, "conv_out"), NULL, boc[0], c->out_channels, 3, 1, 1, 1);
}

void pt_unet_free(pt_unet *u) {
    for (int i = 0; i < u->cfg.n_blocks; i++) {
        for (int j = 0; u->down[i].attns && j < u->down[i].n_layers; j++) pt_transformer2d_free(&u->down[i].attns[j]);
        for (int j = 0; u->up[i].attns && j < u->up[i].n_layers; j++) pt_transformer2d_free(&u->up[i].attns[j]);
        free(u->down[i].resnets); free(u->down[i].attns);
        free(u->up[i].resnets); free(u->up[i].attns);
    }
    if (u->cfg.has_mid_block) pt_transformer2d_free(&u->mid_attn);
    memset(u, 0, sizeof *u);
}

int pt_unet_temporal_slot_channels(const pt_unet *u, int slot) {
    PT_CHECKF(slot >= 0 && slot < u->n_temporal_slots, "temporal slot %d out of range [0, %d)", slot, u->n_temporal_slots);
    return u->temporal_channels[slot];
}

// ---- loading ------------------------------------------------------------------------------------
typedef struct load_map { const pt_unet *u; int skip_conv_in_weight; } load_map;

static const char *strip_prefix(const char *param, char *buf, size_t n, void *ctx) {
    load_map *m = ctx;
    size_t k = strlen(m->u->prefix);
    const char *name = param + k;   // every parameter of this UNet starts with the prefix
    if (m->skip_conv_in_weight && strcmp(name, "conv_in.weight") == 0) return NULL;
    snprintf(buf, n, "%s", name);
    return buf;
}

static void load_common(pt_unet *u, const pt_weights *w, int widened) {
    load_map m = {u, widened};
    size_t k = strlen(u->prefix);
    pt_load_opts o = {0};
    o.map = strip_prefix;
    o.map_ctx = &m;
    o.only_prefix = k ? u->prefix : NULL;
    o.allow_unexpected = widened;   // checked by hand below (conv_in.weight is used, just not by the map)
    pt_params_load(u->P, w, &o);
    if (!widened) return;
    char full[512];
    for (int i = 0; i < w->n; i++) {
        snprintf(full, sizeof full, "%s%s", u->prefix, w->t[i].name);
        if (!pt_params_find(u->P, full))
            PT_USAGE("%s: unexpected tensor '%s' (no parameter of the model takes it)", w->source, w->t[i].name);
    }
}

void pt_unet_load(pt_unet *u, const pt_weights *w) { load_common(u, w, 0); }

void pt_unet_load_widened(pt_unet *u, const pt_weights *w) {
    load_common(u, w, 1);
    const pt_wtensor *wt = pt_weights_get(w, "conv_in.weight");
    const int O = u->cfg.block_out_channels[0], N = u->cfg.in_channels;
    char sh[96];
    if (wt->ndim != 4 || wt->shape[0] != O || wt->shape[1] > N || wt->shape[2] != 3 || wt->shape[3] != 3)
        PT_USAGE("%s: tensor 'conv_in.weight' has shape %s; widening to %d input channels needs [%d, K<=%d, 3, 3]",
                 w->source, pt_wtensor_shape_str(wt, sh, sizeof sh), N, O, N);
    const int K = (int)wt->shape[1];
    float *src = pt_malloc(sizeof(float) * (size_t)O * K * 9);
    float *dst = pt_calloc((size_t)O * N * 9, sizeof(float));   // (O, N, 3, 3), zeros beyond channel K
    pt_weights_read_f32(wt, src);
    for (int o = 0; o < O; o++) memcpy(dst + (size_t)o * N * 9, src + (size_t)o * K * 9, sizeof(float) * K * 9);
    pt_copy_from_host_f32(u->conv_in.w, dst);
    free(src);
    free(dst);
}

// ---- forward ------------------------------------------------------------------------------------
static void check_shape(const pt_tensor *t, const char *what, int ndim, const int64_t *want) {
    int ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = want[d] < 0 || t->shape[d] == want[d];
    if (!ok) {
        char b[128], w[128];
        int k = snprintf(w, sizeof w, "(");
        for (int d = 0; d < ndim; d++)
            k += want[d] < 0 ? snprintf(w + k, sizeof w - k, "%s*", d ? ", " : "")
                             : snprintf(w + k, sizeof w - k, "%s%lld", d ? ", " : "", (long long)want[d]);
        snprintf(w + k, sizeof w - k, ")");
        PT_USAGE("UNet input '%s' is %s, expected %s", what, pt_shape_str(t, b, sizeof b), w);
    }
}

static pt_tensor *time_embedding(pt_unet *u, pt_tensor *timesteps, int64_t B, pt_dtype dt) {
    const pt_unet_config *c = &u->cfg;
    int64_t nt = pt_numel(timesteps);
    if (nt != 1 && nt != B) PT_USAGE("UNet input 'timestep' has %lld values for a batch of %lld", (long long)nt, (long long)B);
    int mark = pt_scope_begin();
    pt_tensor *t = pt_reshape(timesteps, PT_DIMS(nt));
    pt_tensor *e = pt_timestep_embedding(t, c->block_out_channels[0], c->flip_sin_to_cos, c->freq_shift, 1.0f, 10000.0f);
    if (nt == 1 && B > 1) e = pt_repeat(e, 0, B);                         // (B, C0)
    if (e->dtype != dt) e = pt_cast(e, dt);
    e = pt_mc_linear_fwd(&u->time_linear_1, e);
    e = pt_silu(e);
    e = pt_mc_linear_fwd(&u->time_linear_2, e);                           // (B, T)
    return pt_scope_end(mark, e);
}

static pt_tensor *temporal(const pt_unet_hooks *hk, int *slot, pt_tensor *h) {
    int s = (*slot)++;
    if (!hk->temporal) return h;
    pt_tensor *o = hk->temporal(hk->temporal_ctx, s, h, hk->frames);
    if (!o || !pt_same_shape(o, h)) PT_RUNTIME("temporal hook at slot %d returned a tensor of a different shape", s);
    return o;
}

pt_tensor *pt_unet_forward(pt_unet *u, pt_tensor *sample, pt_tensor *timesteps, pt_tensor *context,
                           const pt_unet_hooks *hooks) {
    static const pt_unet_hooks none = {0};
    const pt_unet_hooks *hk = hooks ? hooks : &none;
    const pt_unet_config *c = &u->cfg;
    const int nb = c->n_blocks, ck = hk->checkpoint;
    check_shape(sample, "sample", 4, PT_SHAPE(-1, c->in_channels, -1, -1));
    const int64_t B = sample->shape[0], H = sample->shape[2], W = sample->shape[3];
    const int64_t f = (int64_t)1 << (nb - 1);
    if (H % f || W % f)
        PT_USAGE("UNet input 'sample' is %lldx%lld; height and width must be multiples of %lld", (long long)H, (long long)W,
                 (long long)f);
    check_shape(context, "encoder_hidden_states", 3, PT_SHAPE(B, -1, c->cross_attention_dim));
    if (hk->conv_in_residual) check_shape(hk->conv_in_residual, "conv_in_residual", 4, PT_SHAPE(B, c->block_out_channels[0], H, W));
    if (hk->down_residuals && hk->n_down_residuals != u->n_skips)
        PT_USAGE("ControlNet gave %d down-block residuals, the UNet has %d skip connections", hk->n_down_residuals, u->n_skips);
    if (hk->temporal && (hk->frames < 1 || B % hk->frames))
        PT_USAGE("temporal hook: batch %lld is not a multiple of frames %d", (long long)B, hk->frames);

    pt_ref_ctx rc = {hk->ref_mode, hk->ref_bank, hk->ref_frames, 0};
    if (hk->ref_mode != PT_REF_NONE && !hk->ref_bank) PT_USAGE("reference attention mode set without a bank");
    if (hk->ref_mode == PT_REF_WRITE) pt_ref_bank_clear(hk->ref_bank);
    if (hk->ref_mode == PT_REF_READ && hk->ref_bank->n && hk->ref_bank->n != u->n_transformer_blocks)
        PT_USAGE("reference bank holds %d entries, this UNet has %d transformer blocks", hk->ref_bank->n,
                 u->n_transformer_blocks);

    int mark = pt_scope_begin();
    pt_tensor *temb = time_embedding(u, timesteps, B, sample->dtype);
    pt_tensor *temb_act = pt_silu(temb);                                   // every resnet's silu(temb)
    pt_tensor *skips[64];
    int ns = 0, slot = 0;

    pt_tensor *x = sample;
    if (c->center_input_sample) x = pt_add_scalar(pt_scale(x, 2.0f), -1.0f);
    pt_tensor *h = pt_mc_conv_fwd(&u->conv_in, x);                         // (B, C0, H, W)
    if (hk->conv_in_residual) h = pt_add(h, hk->conv_in_residual);
    skips[ns++] = h;

    for (int i = 0; i < nb; i++) {
        pt_unet_down *d = &u->down[i];
        int m = pt_scope_begin(), first = ns;
        for (int j = 0; j < d->n_layers; j++) {
            h = pt_resnet_forward(&d->resnets[j], h, temb_act, ck);
            if (d->has_attn) h = pt_transformer2d_forward(&d->attns[j], h, context, &rc, ck);
            h = temporal(hk, &slot, h);
            skips[ns++] = h;
        }
        if (d->has_downsample) { h = pt_downsample_forward(&d->downsample, h); skips[ns++] = h; }
        pt_scope_end_keep(m, skips + first, ns - first);                  // h is the last skip
    }
    if (hk->down_residuals)
        for (int k = 0; k < ns; k++) {
            char what[48];
            snprintf(what, sizeof what, "down_residuals[%d]", k);
            check_shape(hk->down_residuals[k], what, 4, skips[k]->shape);
            skips[k] = pt_add(skips[k], hk->down_residuals[k]);
        }
    h = skips[ns - 1];

    if (c->has_mid_block) {
        int m = pt_scope_begin();
        h = pt_resnet_forward(&u->mid_resnets[0], h, temb_act, ck);
        h = pt_transformer2d_forward(&u->mid_attn, h, context, &rc, ck);
        h = temporal(hk, &slot, h);
        h = pt_resnet_forward(&u->mid_resnets[1], h, temb_act, ck);
        h = pt_scope_end(m, h);
    }
    if (hk->mid_residual) {
        check_shape(hk->mid_residual, "mid_residual", 4, h->shape);
        h = pt_add(h, hk->mid_residual);
    }

    for (int i = 0; i < nb; i++) {
        pt_unet_up *up = &u->up[i];
        int m = pt_scope_begin();
        for (int j = 0; j < up->n_layers; j++) {
            pt_tensor *s = skips[--ns];
            h = pt_concat((pt_tensor *[]){h, s}, 2, 1);                    // (B, C + C_skip, h, w)
            h = pt_resnet_forward(&up->resnets[j], h, temb_act, ck);
            if (up->has_attn) h = pt_transformer2d_forward(&up->attns[j], h, context, &rc, ck);
            h = temporal(hk, &slot, h);
        }
        if (up->has_upsample) h = pt_upsample_forward(&up->upsample, h);
        h = pt_scope_end(m, h);
    }
    if (!hk->no_head) {
        h = pt_mc_group_norm_silu_fwd(&u->conv_norm_out, h);
        h = pt_mc_conv_fwd(&u->conv_out, h);                               // (B, Cout, H, W)
    }
    return pt_scope_end(mark, h);
}
