// test_pose_guider.c — Animate Anyone's Pose Guider: parameter count of the real widths derived by
// hand, zero-initialised output, the forward against a direct convolution written here, and the
// ControlNet init (conv_in / blocks copied, conv_out kept zero, shape mismatch named).
#include "autograd/ops.h"
#include "models/pose_guider.h"
#include "tests/test_util.h"

// direct 3x3 convolution, zero padding 1: x (C, H, W) -> y (O, Ho, Wo)
static void conv_ref(const float *x, int C, int H, int W, const float *w, const float *b, int O, int stride, float *y,
                     int *Ho, int *Wo) {
    int oh = (H + 2 - 3) / stride + 1, ow = (W + 2 - 3) / stride + 1;
    for (int o = 0; o < O; o++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                double s = b[o];
                for (int c = 0; c < C; c++)
                    for (int u = 0; u < 3; u++)
                        for (int v = 0; v < 3; v++) {
                            int yy = i * stride + u - 1, xx = j * stride + v - 1;
                            if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                            s += (double)w[((o * C + c) * 3 + u) * 3 + v] * x[(c * H + yy) * W + xx];
                        }
                y[(o * oh + i) * ow + j] = (float)s;
            }
    *Ho = oh; *Wo = ow;
}

static float *host_of(pt_tensor *t) {
    float *h = pt_malloc(sizeof(float) * (size_t)pt_numel(t));
    pt_copy_to_host_f32(t, h);
    return h;
}

TEST_CASE(real_widths_parameter_count) {
    pt_params P;
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_pose_guider g;
    const int ch[4] = {16, 32, 96, 256};
    pt_pose_guider_init(&g, &P, "pose_guider.", ch, 4, 3, 320);
    // conv_in 3*16*9+16, blocks 16-16, 16-32, 32-32, 32-96, 96-96, 96-256, conv_out 256-320 (each k*k*in*out + out)
    int64_t want = (3 * 16 * 9 + 16) + (16 * 16 * 9 + 16) + (16 * 32 * 9 + 32) + (32 * 32 * 9 + 32) + (32 * 96 * 9 + 96) +
                   (96 * 96 * 9 + 96) + (96 * 256 * 9 + 256) + (256 * 320 * 9 + 320);
    EXPECT(want == 1086480, "hand sum %lld", (long long)want);
    EXPECT(pt_params_count(&P, 0) == want, "count %lld", (long long)pt_params_count(&P, 0));
    EXPECT(pt_params_find(&P, "pose_guider.conv_in.weight") && pt_params_find(&P, "pose_guider.blocks.5.bias") &&
           pt_params_find(&P, "pose_guider.conv_out.weight") && !pt_params_find(&P, "pose_guider.blocks.6.weight"), "names");
    EXPECT(g.n_down == 3, "3 stride-2 convs");
    pt_params_free(&P);
}

TEST_CASE(forward_matches_direct_convolution) {
    pt_params P;
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_pose_guider g;
    const int ch[3] = {4, 6, 8};
    pt_pose_guider_init(&g, &P, "", ch, 3, 3, 5);
    pt_params_finalize(&P);
    pt_params_init_random(&P, 7);
    pt_pose_guider_zero_out(&g);
    const int H = 12, W = 8;
    float x[3 * 12 * 8];
    tu_seed(3);
    for (int i = 0; i < 3 * H * W; i++) x[i] = (float)tu_uniform();
    int mark = pt_scope_begin();
    pt_tensor *xt = pt_from_f32(PT_CPU, PT_F32, 4, PT_SHAPE(1, 3, H, W), x);
    pt_tensor *y0 = pt_pose_guider_forward(&g, xt);
    EXPECT(y0->shape[1] == 5 && y0->shape[2] == 3 && y0->shape[3] == 2, "output (1, 5, 3, 2)");
    float *h0 = host_of(y0);
    int nz = 0;
    for (int i = 0; i < 30; i++) nz += h0[i] != 0.0f;
    EXPECT(nz == 0, "zero-initialised conv_out gives exact zeros (%d nonzero)", nz);
    free(h0);
    // random conv_out and biases: compare with the direct computation
    for (int i = 0; i < P.n; i++) {
        int64_t n = pt_numel(P.e[i].t);
        float *v = pt_malloc(sizeof(float) * n);
        for (int64_t k = 0; k < n; k++) v[k] = (float)(0.3 * tu_normal());
        pt_copy_from_host_f32(P.e[i].t, v);
        free(v);
    }
    float *y = host_of(pt_pose_guider_forward(&g, xt));
    // reference: conv_in, silu, blocks (s1, s2, s1, s2), silu each, conv_out
    pt_conv *layers[6] = {&g.conv_in, &g.blocks[0], &g.blocks[1], &g.blocks[2], &g.blocks[3], &g.conv_out};
    float *a = pt_malloc(sizeof(float) * 8 * H * W), *bb = pt_malloc(sizeof(float) * 8 * H * W);
    memcpy(a, x, sizeof(float) * 3 * H * W);
    int C = 3, h = H, w = W;
    for (int l = 0; l < 6; l++) {
        float *wt = host_of(layers[l]->w), *bs = host_of(layers[l]->b);
        int oh, ow;
        conv_ref(a, C, h, w, wt, bs, layers[l]->out, layers[l]->stride, bb, &oh, &ow);
        C = layers[l]->out; h = oh; w = ow;
        for (int i = 0; i < C * h * w; i++) a[i] = l < 5 ? bb[i] / (1.0f + expf(-bb[i])) : bb[i];
        free(wt); free(bs);
    }
    EXPECT(C == 5 && h == 3 && w == 2, "reference shape");
    EXPECT(rel_err_f32(y, a, 30) < 1e-5, "relative error %.3g", rel_err_f32(y, a, 30));
    free(y); free(a); free(bb);
    pt_scope_end(mark, NULL);
    pt_params_free(&P);
}

TEST_CASE(controlnet_init_copies_embedding_keeps_conv_out_zero) {
    pt_params P;
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_pose_guider g;
    const int ch[2] = {4, 8};
    pt_pose_guider_init(&g, &P, "pose_guider.", ch, 2, 3, 6);
    pt_params_finalize(&P);
    pt_pose_guider_zero_out(&g);
    // a ControlNet-like file: controlnet_cond_embedding.{conv_in, blocks.0, blocks.1, conv_out} + an unrelated tensor
    pt_weights *w = pt_weights_new("fake_controlnet.safetensors");
    const char *names[] = {"conv_in", "blocks.0", "blocks.1", "conv_out"};
    pt_conv *layers[] = {&g.conv_in, &g.blocks[0], &g.blocks[1], &g.conv_out};
    float *bufs[8];
    for (int l = 0; l < 4; l++) {
        for (int k = 0; k < 2; k++) {
            pt_tensor *t = k ? layers[l]->b : layers[l]->w;
            int64_t n = pt_numel(t);
            float *v = pt_malloc(sizeof(float) * n);
            for (int64_t i = 0; i < n; i++) v[i] = (float)(l + 1) + 0.001f * (float)i;
            bufs[2 * l + k] = pt_weights_own_buf(w, v);
            char nm[128];
            snprintf(nm, sizeof nm, "controlnet_cond_embedding.%s.%s", names[l], k ? "bias" : "weight");
            pt_weights_add(w, nm, PT_F32, t->ndim, t->shape, v, sizeof(float) * n);
        }
    }
    int64_t one = 1;
    static float other = 5;
    pt_weights_add(w, "down_blocks.0.resnets.0.conv1.weight", PT_F32, 1, &one, &other, sizeof(float));
    int n = pt_pose_guider_load_controlnet(&g, &P, w);
    EXPECT(n == 6, "conv_in + 2 blocks, weight and bias: %d", n);
    float *ci = host_of(g.conv_in.w), *b1 = host_of(g.blocks[1].b), *co = host_of(g.conv_out.w);
    EXPECT(ci[5] == bufs[0][5] && b1[3] == bufs[5][3], "copied values");
    int nz = 0;
    for (int64_t i = 0; i < pt_numel(g.conv_out.w); i++) nz += co[i] != 0;
    EXPECT(nz == 0, "conv_out stays zero");
    free(ci); free(b1); free(co);
    pt_weights_free(w);
    // wrong widths: named error
    pt_params Q;
    pt_params_init(&Q, PT_CPU, PT_F32);
    pt_pose_guider g2;
    const int ch2[2] = {5, 8};
    pt_pose_guider_init(&g2, &Q, "pose_guider.", ch2, 2, 3, 6);
    pt_params_finalize(&Q);
    pt_weights *w2 = pt_weights_new("cn2.safetensors");
    static float dummy[4 * 3 * 9];
    pt_weights_add(w2, "controlnet_cond_embedding.conv_in.weight", PT_F32, 4, PT_SHAPE(4, 3, 3, 3), dummy, sizeof dummy);
    EXPECT_FAILS(pt_pose_guider_load_controlnet(&g2, &Q, w2), PT_EXIT_USAGE, "controlnet_cond_embedding.conv_in.weight");
    pt_weights_free(w2);
    pt_params_free(&Q);
    pt_params_free(&P);
}

int main(void) {
    RUN(real_widths_parameter_count);
    RUN(forward_matches_direct_convolution);
    RUN(controlnet_init_copies_embedding_keeps_conv_out_zero);
    return test_summary();
}
