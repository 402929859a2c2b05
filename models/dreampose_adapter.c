// dreampose_adapter.c — see dreampose_adapter.h.
#include "models/dreampose_adapter.h"

#include <stdlib.h>
#include <string.h>

#include "tools/check.h"

void pt_dp_adapter_init(pt_dp_adapter *a, pt_params *P, const char *prefix, int n_clip_tokens, int clip_dim,
                        int latent_channels, int latent_h, int latent_w) {
    PT_CHECKF(latent_h % 2 == 0 && latent_w % 2 == 0, "DreamPose adapter: latent grid %dx%d must be even", latent_h, latent_w);
    a->n_tokens = n_clip_tokens;
    a->dim = clip_dim;
    a->latent_channels = latent_channels;
    a->latent_h = latent_h;
    a->latent_w = latent_w;
    char base[128];
    snprintf(base, sizeof base, "%s", prefix ? prefix : "");
    size_t n = strlen(base);
    if (n && base[n - 1] == '.') base[n - 1] = 0;   // pt_mc_* join base and leaf with a dot
    a->vae2clip = pt_mc_linear(P, base, "vae2clip", (latent_h / 2) * (latent_w / 2), clip_dim, 1);
    a->linear1 = pt_mc_linear(P, base, "linear1", n_clip_tokens + latent_channels, n_clip_tokens, 1);
}

void pt_dp_adapter_reset(pt_dp_adapter *a) {
    int T = a->n_tokens, K = a->n_tokens + a->latent_channels;
    float *w = pt_calloc((size_t)T * (size_t)K, sizeof(float));
    for (int i = 0; i < T; i++) w[(size_t)i * K + i] = 1.0f;   // eye(T, T+4)
    pt_copy_from_host_f32(a->linear1.w, w);
    pt_zero_(a->linear1.b);
    free(w);
}

pt_tensor *pt_dp_adapter_forward(const pt_dp_adapter *a, pt_tensor *clip_hidden, pt_tensor *vae_latent) {
    int mark = pt_scope_begin();
    int64_t B = vae_latent->shape[0], C = vae_latent->shape[1];
    PT_CHECKF(vae_latent->shape[2] == a->latent_h && vae_latent->shape[3] == a->latent_w,
              "DreamPose adapter built for a %dx%d latent grid, got %lldx%lld", a->latent_h, a->latent_w,
              (long long)vae_latent->shape[2], (long long)vae_latent->shape[3]);
    pt_tensor *v = pt_max_pool2d(vae_latent, 2, 2);                       // (B, C, h/2, w/2)
    v = pt_reshape(v, 3, (int64_t[]){B, C, -1});                          // (B, C, h/2*w/2)
    v = pt_mc_linear_fwd(&a->vae2clip, v);                                // (B, C, D)
    if (v->dtype != clip_hidden->dtype) v = pt_cast(v, clip_hidden->dtype);
    pt_tensor *cat = pt_concat((pt_tensor *[]){clip_hidden, v}, 2, 1);    // (B, T+C, D)
    pt_tensor *t = pt_transpose(cat, 1, 2);                               // (B, D, T+C)
    pt_tensor *mixed = pt_mc_linear_fwd(&a->linear1, pt_contiguous(t));  // (B, D, T)
    pt_tensor *out = pt_contiguous(pt_transpose(mixed, 1, 2));            // (B, T, D)
    return pt_scope_end(mark, out);
}
