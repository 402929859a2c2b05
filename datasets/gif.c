// gif.c — animated GIF89a encoder: fixed 6x7x6 colour cube, optional Bayer dithering, LZW.
#include "datasets/gif.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int LEVELS[3] = {6, 7, 6};

static int level_value(int k, int n) { return (k * 255 * 2 + (n - 1)) / (2 * (n - 1)); }   // round(k*255/(n-1)), half up

void pt_gif_palette(uint8_t pal[256][3]) {
    memset(pal, 0, 256 * 3);
    for (int r = 0; r < 6; r++)
        for (int g = 0; g < 7; g++)
            for (int b = 0; b < 6; b++) {
                int i = r * 42 + g * 6 + b;
                pal[i][0] = (uint8_t)level_value(r, 6);
                pal[i][1] = (uint8_t)level_value(g, 7);
                pal[i][2] = (uint8_t)level_value(b, 6);
            }
}

static const float BAYER4[4][4] = {{0, 8, 2, 10}, {12, 4, 14, 6}, {3, 11, 1, 9}, {15, 7, 13, 5}};

int pt_gif_quantize(uint8_t r, uint8_t g, uint8_t b, int x, int y, int dither) {
    const uint8_t v[3] = {r, g, b};
    int q[3];
    float off = dither ? (BAYER4[y & 3][x & 3] + 0.5f) / 16.0f - 0.5f : 0.0f;   // in level steps
    for (int c = 0; c < 3; c++) {
        float steps = (float)v[c] * (LEVELS[c] - 1) / 255.0f + off;
        int k = (int)floorf(steps + 0.5f);
        q[c] = k < 0 ? 0 : (k > LEVELS[c] - 1 ? LEVELS[c] - 1 : k);
    }
    return q[0] * 42 + q[1] * 6 + q[2];
}

// ---- LZW bit writer into 255-byte sub-blocks -----------------------------------------------------
typedef struct lzw_out {
    FILE *f; const char *path;
    uint32_t acc; int nbits;
    uint8_t block[256]; int blen;
} lzw_out;

static void flush_block(lzw_out *o) {
    if (o->blen == 0) return;
    uint8_t n = (uint8_t)o->blen;
    pt_fwrite(&n, 1, 1, o->f, o->path);
    pt_fwrite(o->block, 1, (size_t)o->blen, o->f, o->path);
    o->blen = 0;
}

static void put_code(lzw_out *o, int code, int size) {
    o->acc |= (uint32_t)code << o->nbits;
    o->nbits += size;
    while (o->nbits >= 8) {
        o->block[o->blen++] = (uint8_t)(o->acc & 0xff);
        o->acc >>= 8;
        o->nbits -= 8;
        if (o->blen == 255) flush_block(o);
    }
}

#define HASH_SIZE 16384   // > 4096 entries, power of two, open addressing

static void lzw_encode(FILE *f, const char *path, const uint8_t *idx, size_t n) {
    static _Thread_local int32_t keys[HASH_SIZE];
    static _Thread_local int16_t vals[HASH_SIZE];
    const int clear = 256, eoi = 257;
    lzw_out o = {f, path, 0, 0, {0}, 0};
    uint8_t min_size = 8;
    pt_fwrite(&min_size, 1, 1, f, path);
    int size = 9, next = 258;
    memset(keys, 0xff, sizeof keys);
    put_code(&o, clear, size);
    int prefix = idx[0];
    for (size_t i = 1; i < n; i++) {
        int32_t key = (prefix << 8) | idx[i];
        uint32_t h = ((uint32_t)key * 2654435761u) >> 18;   // 14-bit hash
        while (keys[h] != -1 && keys[h] != key) h = (h + 1) & (HASH_SIZE - 1);
        if (keys[h] == key) { prefix = vals[h]; continue; }
        put_code(&o, prefix, size);
        if (next < 4096) {
            if (next == (1 << size) && size < 12) size++;
            keys[h] = key;
            vals[h] = (int16_t)next++;
        } else {   // table full: start over
            put_code(&o, clear, size);
            memset(keys, 0xff, sizeof keys);
            size = 9;
            next = 258;
        }
        prefix = idx[i];
    }
    put_code(&o, prefix, size);
    if (next == (1 << size) && size < 12) size++;   // the decoder adds an entry after this code too
    put_code(&o, eoi, size);
    if (o.nbits > 0) put_code(&o, 0, 8 - o.nbits);
    flush_block(&o);
    uint8_t zero = 0;
    pt_fwrite(&zero, 1, 1, f, path);
}

// ---- file structure ---------------------------------------------------------------------------
static void put_u16(FILE *f, const char *path, int v) {
    uint8_t b[2] = {(uint8_t)(v & 0xff), (uint8_t)((v >> 8) & 0xff)};
    pt_fwrite(b, 1, 2, f, path);
}

void pt_gif_begin(pt_gif *g, const char *path, int w, int h, double fps, int dither) {
    if (w <= 0 || h <= 0 || w > 65535 || h > 65535) PT_USAGE("GIF '%s': size %dx%d is out of range", path, w, h);
    if (!(fps > 0)) PT_USAGE("GIF '%s': fps must be positive (got %g)", path, fps);
    memset(g, 0, sizeof *g);
    g->w = w; g->h = h; g->dither = dither;
    g->delay_cs = (int)floor(100.0 / fps + 0.5);   // round half up
    if (g->delay_cs < 2) g->delay_cs = 2;   // browsers treat 0-1 as 10
    g->idx = pt_malloc((size_t)w * h);
    pt_atomic_open(&g->af, path);
    FILE *f = g->af.f;
    pt_fwrite("GIF89a", 1, 6, f, path);
    put_u16(f, path, w);
    put_u16(f, path, h);
    uint8_t lsd[3] = {0xF7, 0, 0};   // global colour table, 8 bits, 256 entries
    pt_fwrite(lsd, 1, 3, f, path);
    uint8_t pal[256][3];
    pt_gif_palette(pal);
    pt_fwrite(pal, 1, sizeof pal, f, path);
    static const uint8_t loop[19] = {0x21, 0xFF, 0x0B, 'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0',
                                     0x03, 0x01, 0x00, 0x00, 0x00};   // loop forever
    pt_fwrite(loop, 1, sizeof loop, f, path);
}

void pt_gif_add_frame(pt_gif *g, const uint8_t *rgb) {
    FILE *f = g->af.f;
    const char *path = g->af.path;
    for (int y = 0; y < g->h; y++)
        for (int x = 0; x < g->w; x++) {
            const uint8_t *p = rgb + ((size_t)y * g->w + x) * 3;
            g->idx[(size_t)y * g->w + x] = (uint8_t)pt_gif_quantize(p[0], p[1], p[2], x, y, g->dither);
        }
    uint8_t gce[8] = {0x21, 0xF9, 0x04, 0x04, (uint8_t)(g->delay_cs & 0xff), (uint8_t)(g->delay_cs >> 8), 0, 0};
    pt_fwrite(gce, 1, sizeof gce, f, path);   // disposal 1 (keep), no transparency
    uint8_t desc = 0x2C;
    pt_fwrite(&desc, 1, 1, f, path);
    put_u16(f, path, 0);
    put_u16(f, path, 0);
    put_u16(f, path, g->w);
    put_u16(f, path, g->h);
    uint8_t packed = 0;   // no local colour table, not interlaced
    pt_fwrite(&packed, 1, 1, f, path);
    lzw_encode(f, path, g->idx, (size_t)g->w * g->h);
}

void pt_gif_end(pt_gif *g) {
    uint8_t trailer = 0x3B;
    pt_fwrite(&trailer, 1, 1, g->af.f, g->af.path);
    pt_atomic_commit(&g->af);
    free(g->idx);
    g->idx = NULL;
}

void pt_gif_save(const char *path, const uint8_t *const *frames, int n, int w, int h, double fps, int dither) {
    if (n <= 0) PT_USAGE("GIF '%s': no frames to write", path);
    pt_gif g;
    pt_gif_begin(&g, path, w, h, fps, dither);
    for (int i = 0; i < n; i++) pt_gif_add_frame(&g, frames[i]);
    pt_gif_end(&g);
}
