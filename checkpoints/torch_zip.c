// torch_zip.c — minimal zip central-directory reader for torch.save archives (stored entries, zip64).
#include <stdlib.h>
#include <string.h>

#include "checkpoints/pickle.h"
#include "tools/check.h"

static uint32_t u16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t u32(const uint8_t *p) { return u16(p) | (uint32_t)u16(p + 2) << 16; }
static uint64_t u64(const uint8_t *p) { return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32; }

static void need(const pt_zip *z, uint64_t off, uint64_t n, const char *what) {
    if (off > z->size || n > z->size - off)
        PT_USAGE("%s: zip %s at byte offset %llu (+%llu bytes) runs past the end of the file (%zu bytes)",
                 z->path, what, (unsigned long long)off, (unsigned long long)n, z->size);
}

void pt_zip_open(pt_zip *z, const char *path, const uint8_t *base, size_t size) {
    memset(z, 0, sizeof *z);
    z->path = path; z->base = base; z->size = size;
    // End of central directory: 22 bytes + comment (<= 65535), searched backwards.
    if (size < 22) PT_USAGE("%s: %zu bytes is too short for a zip archive", path, size);
    int64_t eocd = -1;
    int64_t lo = (int64_t)size - 22 - 65535;
    if (lo < 0) lo = 0;
    for (int64_t o = (int64_t)size - 22; o >= lo; o--)
        if (u32(base + o) == 0x06054b50u) { eocd = o; break; }
    if (eocd < 0) PT_USAGE("%s: no zip end-of-central-directory record (truncated archive?)", path);
    uint64_t n_entries = u16(base + eocd + 10);
    uint64_t cd_size = u32(base + eocd + 12);
    uint64_t cd_off = u32(base + eocd + 16);
    if (n_entries == 0xffff || cd_off == 0xffffffffu || cd_size == 0xffffffffu) {  // zip64
        if (eocd < 20 || u32(base + eocd - 20) != 0x07064b50u)
            PT_USAGE("%s: zip64 archive without a zip64 locator before byte offset %lld", path, (long long)eocd);
        uint64_t z64 = u64(base + eocd - 20 + 8);
        need(z, z64, 56, "zip64 end record");
        if (u32(base + z64) != 0x06064b50u) PT_USAGE("%s: bad zip64 end record signature at byte offset %llu", path,
                                                    (unsigned long long)z64);
        n_entries = u64(base + z64 + 32);
        cd_size = u64(base + z64 + 40);
        cd_off = u64(base + z64 + 48);
    }
    need(z, cd_off, cd_size, "central directory");
    if (n_entries > cd_size / 46 + 1) PT_USAGE("%s: zip claims %llu entries in a %llu-byte central directory", path,
                                               (unsigned long long)n_entries, (unsigned long long)cd_size);
    z->e = pt_calloc(n_entries + 1, sizeof(pt_zip_entry));
    uint64_t p = cd_off;
    for (uint64_t i = 0; i < n_entries; i++) {
        need(z, p, 46, "central directory entry");
        if (u32(base + p) != 0x02014b50u)
            PT_USAGE("%s: bad central directory signature at byte offset %llu", path, (unsigned long long)p);
        int method = (int)u16(base + p + 10);
        uint64_t csize = u32(base + p + 20), usize = u32(base + p + 24);
        uint32_t nlen = u16(base + p + 28), xlen = u16(base + p + 30), clen = u16(base + p + 32);
        uint64_t loff = u32(base + p + 42);
        need(z, p + 46, (uint64_t)nlen + xlen + clen, "central directory names");
        // zip64 extra field (id 1): the 0xffffffff fields, in the order usize, csize, offset
        const uint8_t *x = base + p + 46 + nlen, *xe = x + xlen;
        while (x + 4 <= xe) {
            uint32_t id = u16(x), sz = u16(x + 2);
            const uint8_t *d = x + 4;
            if (d + sz > xe) break;
            if (id == 1) {
                const uint8_t *q = d;
                if (usize == 0xffffffffu && q + 8 <= d + sz) { usize = u64(q); q += 8; }
                if (csize == 0xffffffffu && q + 8 <= d + sz) { csize = u64(q); q += 8; }
                if (loff == 0xffffffffu && q + 8 <= d + sz) { loff = u64(q); q += 8; }
            }
            x = d + sz;
        }
        pt_zip_entry *e = &z->e[z->n++];
        e->name = pt_malloc(nlen + 1);
        memcpy(e->name, base + p + 46, nlen);
        e->name[nlen] = 0;
        e->method = method;
        e->size = csize;
        need(z, loff, 30, "local header");
        if (u32(base + loff) != 0x04034b50u)
            PT_USAGE("%s: entry '%s': bad local header signature at byte offset %llu", path, e->name,
                     (unsigned long long)loff);
        uint64_t data = loff + 30 + u16(base + loff + 26) + u16(base + loff + 28);
        need(z, data, csize, "entry data");
        if (method == 0 && csize != usize)
            PT_USAGE("%s: stored entry '%s' has compressed size %llu != size %llu", path, e->name,
                     (unsigned long long)csize, (unsigned long long)usize);
        e->data = base + data;
        p += 46 + (uint64_t)nlen + xlen + clen;
    }
}

const pt_zip_entry *pt_zip_find(const pt_zip *z, const char *name) {
    for (int i = 0; i < z->n; i++)
        if (strcmp(z->e[i].name, name) == 0) {
            if (z->e[i].method != 0)
                PT_USAGE("%s: zip entry '%s' is compressed (method %d); only STORED entries (as torch.save "
                         "writes them) are supported", z->path, name, z->e[i].method);
            return &z->e[i];
        }
    return NULL;
}

void pt_zip_close(pt_zip *z) {
    for (int i = 0; i < z->n; i++) free(z->e[i].name);
    free(z->e);
    memset(z, 0, sizeof *z);
}
