// lr_schedule.h — learning-rate schedules as pure functions of the optimizer step.
//
// `step` counts the optimizer updates already done (0 for the first update), as the LambdaLR of
// diffusers' get_scheduler sees it, and the formulas are diffusers'/transformers':
//   constant:          lr
//   warmup_constant:   lr * step / warmup               for step < warmup, then lr
//                      (so the very first update has lr 0 when warmup > 0, as in diffusers)
//   warmup_cosine:     warmup as above, then with p = (step - warmup) / (total - warmup) clamped
//                      to [0, 1]:  min_lr + (lr - min_lr) * 0.5 * (1 + cos(pi * p))
//                      (diffusers' get_cosine_schedule_with_warmup is the min_lr = 0 case; it would
//                      rise again after `total`, posetune stays at min_lr)
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PT_LR_CONSTANT = 0, PT_LR_WARMUP_CONSTANT, PT_LR_WARMUP_COSINE } pt_lr_kind;

typedef struct pt_lr_schedule {
    pt_lr_kind kind;
    double lr;              // peak / base learning rate
    int64_t warmup_steps;   // 0 = none
    int64_t total_steps;    // cosine: step at which min_lr is reached
    double min_lr;          // cosine floor
} pt_lr_schedule;

double pt_lr_at(const pt_lr_schedule *s, int64_t step);
// "constant", "constant_with_warmup", "cosine" (diffusers' --lr_scheduler names); -1 if unknown.
int pt_lr_kind_from_name(const char *name);
const char *pt_lr_kind_name(pt_lr_kind k);

#ifdef __cplusplus
}
#endif
