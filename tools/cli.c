// cli.c — long-flag parser for subcommands.
#include "tools/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/check.h"

void pt_strlist_push(pt_strlist *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->items = pt_realloc(l->items, sizeof(char *) * (size_t)l->cap);
    }
    l->items[l->n++] = s;
}

void pt_cli_print_help(const pt_cli_spec *spec) {
    printf("usage: posetune %s %s\n\n", spec->cmd, spec->usage ? spec->usage : "");
    if (spec->description) printf("%s\n\n", spec->description);
    printf("options:\n");
    for (int i = 0; i < spec->n_flags; i++) {
        const pt_flag *f = &spec->flags[i];
        char left[96];
        if (f->kind == PT_FLAG_BOOL) snprintf(left, sizeof left, "--%s", f->name);
        else snprintf(left, sizeof left, "--%s %s", f->name, f->metavar ? f->metavar : "VALUE");
        printf("  %-30s %s%s\n", left, f->help ? f->help : "", f->kind == PT_FLAG_STRLIST ? " (repeatable)" : "");
    }
    printf("  %-30s %s\n", "--help", "show this help and exit");
}

static void set_flag(const pt_cli_spec *spec, const pt_flag *f, const char *val) {
    char *end = NULL;
    switch (f->kind) {
    case PT_FLAG_BOOL: *(int *)f->dst = 1; break;
    case PT_FLAG_STR: *(const char **)f->dst = val; break;
    case PT_FLAG_STRLIST: pt_strlist_push((pt_strlist *)f->dst, val); break;
    case PT_FLAG_INT: {
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (errno || !end || *end || end == val || v < INT_MIN || v > INT_MAX)
            PT_USAGE("%s: --%s expects an integer, got '%s'", spec->cmd, f->name, val);
        *(int *)f->dst = (int)v;
        break;
    }
    case PT_FLAG_FLOAT: {
        errno = 0;
        double v = strtod(val, &end);
        if (errno || !end || *end || end == val)
            PT_USAGE("%s: --%s expects a number, got '%s'", spec->cmd, f->name, val);
        *(double *)f->dst = v;
        break;
    }
    }
}

int pt_cli_parse(const pt_cli_spec *spec, int argc, char **argv, const char **pos, int *n_pos) {
    int np = 0;
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) { only_pos = 1; continue; }
        if (!only_pos && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            pt_cli_print_help(spec);
            return 1;
        }
        if (!only_pos && a[0] == '-' && a[1] != 0) {
            if (a[1] != '-')
                PT_USAGE("%s: short flag '%s' is not supported; flags are long (--name), see 'posetune %s --help'",
                         spec->cmd, a, spec->cmd);
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
            const pt_flag *f = NULL;
            for (int k = 0; k < spec->n_flags; k++)
                if (strlen(spec->flags[k].name) == nlen && strncmp(spec->flags[k].name, name, nlen) == 0) f = &spec->flags[k];
            if (!f) PT_USAGE("%s: unknown flag '--%.*s'; see 'posetune %s --help'", spec->cmd, (int)nlen, name, spec->cmd);
            if (f->kind == PT_FLAG_BOOL) {
                if (eq) PT_USAGE("%s: --%s takes no value", spec->cmd, f->name);
                set_flag(spec, f, NULL);
            } else if (eq) {
                set_flag(spec, f, eq + 1);
            } else {
                if (i + 1 >= argc) PT_USAGE("%s: --%s expects a value (%s)", spec->cmd, f->name, f->metavar ? f->metavar : "VALUE");
                set_flag(spec, f, argv[++i]);
            }
            continue;
        }
        if (spec->max_pos >= 0 && np >= spec->max_pos)
            PT_USAGE("%s: unexpected argument '%s' (usage: posetune %s %s)", spec->cmd, a, spec->cmd, spec->usage ? spec->usage : "");
        pos[np++] = a;
    }
    if (np < spec->min_pos)
        PT_USAGE("%s: missing argument (usage: posetune %s %s)", spec->cmd, spec->cmd, spec->usage ? spec->usage : "");
    *n_pos = np;
    return 0;
}
