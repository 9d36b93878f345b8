// config.c: the typed getters of the model config document (config.h), used by bind.c and schema.c.
// Out-of-range values name the key; a value over one of config.h's caps is TFT_E_CONFIG_LIMIT, so a
// server or tool can tell a hostile or oversized file from a typo.
#include <stdio.h>
#include <string.h>
#include "config.h"

const char *tft_cfg_str(const tft_json *v) { return v && v->type == TFT_JSON_STRING ? v->str : NULL; }

tft_status tft_cfg_err(const char *path, const char *what) {
    return tft__fail(TFT_ERR_FORMAT, "model config: %s %s", path, what);
}

tft_status tft_cfg_int(const tft_json *obj, const char *key, const char *path, int32_t lo, int32_t hi,
                       int32_t *out) {
    const tft_json *v = tft_json_get(obj, key);
    int64_t         x;
    if (!v || v->type != TFT_JSON_NUMBER || tft_json_i64(v, &x) != 0)
        return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s must be an integer", path, key);
    if (x > hi) { // a cap: the structured code says so (a server or tool can tell it from a typo)
        char field[128];
        snprintf(field, sizeof field, "%s.%s", path, key);
        return tft__fail_at(TFT_ERR_FORMAT, TFT_E_CONFIG_LIMIT, -1, field, -1,
                            "model config: %s.%s = %lld is outside [%d, %d] (the cap of weights/FORMAT.md \"Limits\")",
                            path, key, (long long)x, lo, hi);
    }
    if (x < lo)
        return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s = %lld is outside [%d, %d]", path, key,
                         (long long)x, lo, hi);
    *out = (int32_t)x;
    return TFT_OK;
}

tft_status tft_cfg_bool(const tft_json *obj, const char *key, const char *path, int dflt, int32_t *out) {
    const tft_json *v = tft_json_get(obj, key);
    if (!v) {
        *out = dflt;
        return TFT_OK;
    }
    if (v->type != TFT_JSON_TRUE && v->type != TFT_JSON_FALSE)
        return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s must be true or false", path, key);
    *out = v->type == TFT_JSON_TRUE;
    return TFT_OK;
}

tft_status tft_cfg_num(const tft_json *obj, const char *key, const char *path, double *out) {
    const tft_json *v = tft_json_get(obj, key);
    if (!v || v->type != TFT_JSON_NUMBER)
        return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s must be a number", path, key);
    *out = v->num;
    return TFT_OK;
}

// A config list or object of n entries over its cap: TFT_E_CONFIG_LIMIT naming the key.
tft_status tft_cfg_too_many(const char *path, const char *key, size_t n, size_t cap, const char *what) {
    char field[128];
    snprintf(field, sizeof field, "%s%s%s", path, key && *path ? "." : "", key ? key : "");
    return tft__fail_at(TFT_ERR_FORMAT, TFT_E_CONFIG_LIMIT, -1, field, -1,
                        "model config: %s lists %zu %s, more than the cap of %zu (weights/FORMAT.md \"Limits\")", field,
                        n, what, cap);
}

// A JSON array of strings -> an array of pointers into the config tree (lives as long as m->cfg).
// At most cap names.
tft_status tft_cfg_strs_cap(const tft_json *obj, const char *key, const char *path, size_t cap, const char ***out,
                            int32_t *n) {
    const tft_json *v = tft_json_get(obj, key);
    *out = NULL;
    *n   = 0;
    if (!v || v->type != TFT_JSON_ARRAY)
        return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s must be a list of names", path, key);
    if (v->len > cap) return tft_cfg_too_many(path, key, v->len, cap, "names");
    const char **a = tft__calloc(v->len ? v->len : 1, sizeof *a);
    if (!a) return tft__fail(TFT_ERR_NOMEM, "model config: out of memory");
    int32_t i = 0;
    for (const tft_json *e = v->child; e; e = e->next, i++) {
        if (e->type != TFT_JSON_STRING || e->len == 0) {
            tft__free(a);
            return tft__fail(TFT_ERR_FORMAT, "model config: %s.%s[%d] must be a non-empty string", path, key, i);
        }
        a[i] = e->str;
    }
    *out = a;
    *n   = i;
    return TFT_OK;
}

// Every other list of names in the config is one of variables or columns: at most CAP_VARIABLES.
tft_status tft_cfg_strs(const tft_json *obj, const char *key, const char *path, const char ***out,
                        int32_t *n) {
    return tft_cfg_strs_cap(obj, key, path, CAP_VARIABLES, out, n);
}

int tft_cfg_find_name(const char *const *list, int32_t n, const char *name) {
    for (int32_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0) return i;
    return -1;
}
