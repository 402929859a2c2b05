// lr_schedule.c — see lr_schedule.h.
#include "trainer/lr_schedule.h"

#include <math.h>
#include <string.h>

double pt_lr_at(const pt_lr_schedule *s, int64_t step) {
    if (step < 0) step = 0;
    if (s->kind == PT_LR_CONSTANT) return s->lr;
    if (step < s->warmup_steps) return s->lr * (double)step / (double)s->warmup_steps;
    if (s->kind == PT_LR_WARMUP_CONSTANT) return s->lr;
    int64_t span = s->total_steps - s->warmup_steps;
    double p = (double)(step - s->warmup_steps) / (double)(span > 1 ? span : 1);  // max(1, span)
    if (p > 1.0) p = 1.0;
    return s->min_lr + (s->lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * p));
}

int pt_lr_kind_from_name(const char *name) {
    if (!name) return -1;
    if (strcmp(name, "constant") == 0) return PT_LR_CONSTANT;
    if (strcmp(name, "constant_with_warmup") == 0) return PT_LR_WARMUP_CONSTANT;
    if (strcmp(name, "cosine") == 0) return PT_LR_WARMUP_COSINE;
    return -1;
}

const char *pt_lr_kind_name(pt_lr_kind k) {
    switch (k) {
    case PT_LR_CONSTANT: return "constant";
    case PT_LR_WARMUP_CONSTANT: return "constant_with_warmup";
    case PT_LR_WARMUP_COSINE: return "cosine";
    }
    return "?";
}
