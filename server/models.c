// models.c: the model registry of tft-server (models.h says what it guarantees; server/API.md,
// "Model repository", how to use it).
#include "models.h"
#include "json_out.h"
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SRV_MODEL_EXT ".safetensors"

// What identifies a file's content without reading it: a rewrite changes the size or the mtime, a
// rename over it (the safe way to publish a new version) the inode.
typedef struct file_id {
    int      ok; // 0: the file could not be stat'ed
    int64_t  size, mtime_ns;
    uint64_t ino, dev;
} file_id;

typedef struct entry {
    char             name[104];
    char            *path;
    srv_model       *cur;          // the current version, NULL while unloaded (under mu)
    file_id          loaded;       // the file its current version came from
    file_id          failed;       // the last file that did not load: not retried until it changes
    uint64_t         last_used;    // the registry's LRU clock at its last acquire
    int              unloaded;     // by the repository API: only its load call brings it back
    int              load_failed;  // not loaded because its file does not load
    int              evicted;      // unloaded by the memory budget: the next request loads it
    _Atomic uint64_t loads, reloads, reload_failures, unloads;
} entry;

struct srv_registry {
    srv_registry_config cfg;
    pthread_mutex_t     mu, load_mu; // models.h: mu for the table, load_mu serializes loads
    entry             **e;           // [n] by insertion; entries are never removed (pointers stay valid)
    int                 n, cap;
    uint64_t            clock;
    int64_t             used;        // bytes of the current versions
    srv_model          *live;        // every version not yet freed (current or retired)
    int                 draining;
};

static void logf_(srv_registry *r, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void logf_(srv_registry *r, int level, const char *fmt, ...) {
    if (!r->cfg.log) return;
    char    msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->cfg.log(level, msg);
}

int srv_model_name_ok(const char *name, size_t len) {
    if (!name || len == 0 || len > 100 || name[0] == '.') return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static file_id stat_id(const char *path) {
    struct stat st;
    file_id     id = {0};
    if (stat(path, &st) != 0) return id;
    id.ok = 1, id.size = st.st_size, id.ino = st.st_ino, id.dev = st.st_dev;
    id.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    return id;
}

static int same_file(file_id a, file_id b) {
    return a.ok == b.ok && a.size == b.size && a.mtime_ns == b.mtime_ns && a.ino == b.ino && a.dev == b.dev;
}

// ---- versions ----------------------------------------------------------------------------------------

static void free_version(srv_model *m) {
    srv_registry *r = m->reg;
    pthread_mutex_lock(&r->mu);
    for (srv_model **p = &r->live; *p; p = &(*p)->live_next)
        if (*p == m) {
            *p = m->live_next;
            break;
        }
    pthread_mutex_unlock(&r->mu);
    srv_batcher_free(m->batcher); // idle: nobody holds a reference, so nothing is queued or running
    if (r->cfg.free_description) r->cfg.free_description(m);
    tft_model_free(m->model);
    free(m);
}

void srv_model_release(srv_model *m) {
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) free_version(m);
}

// Loads e's file as a new version (one reference: the caller's) with its batcher, warmed up. NULL
// with err when it does not load. *id: the file's identity, taken before it is read (a change while
// it loads is seen by the next check).
static srv_model *load_version(srv_registry *r, entry *e, file_id *id, char *err, size_t errsz) {
    *id          = stat_id(e->path);
    srv_model *m = calloc(1, sizeof *m);
    if (!m) return snprintf(err, errsz, "out of memory"), NULL;
    m->name = e->name, m->reg = r, m->v2_model_len = -1;
    if (tft_model_load(e->path, NULL, &m->model) != TFT_OK) {
        snprintf(err, errsz, "%s", tft_last_error());
        free(m);
        return NULL;
    }
    m->mi = tft_model_get_info(m->model);
    snprintf(m->version, sizeof m->version, "%.12s", m->mi->sha256);
    // what the budget counts: the weights and every worker's context, as the batcher makes them
    tft_context_params cp = tft_context_default_params();
    cp.max_batch          = r->cfg.batcher.max_batch;
    cp.n_threads          = 1;
    cp.max_memory_mib     = r->cfg.batcher.max_context_mib;
    size_t ctx            = 0;
    if (tft_context_memory(m->model, &cp, &ctx) != TFT_OK) ctx = 0; // (the batcher then refuses it)
    m->bytes = (size_t)(id->ok ? id->size : 0) + (size_t)r->cfg.batcher.workers * ctx;
    if (r->cfg.describe && r->cfg.describe(m, r->cfg.user, err, errsz) != 0) goto fail;
    m->batcher = srv_batcher_new(m->model, &r->cfg.batcher, r->cfg.metrics, err, errsz);
    if (!m->batcher) goto fail;
    atomic_init(&m->refs, 1);
    pthread_mutex_lock(&r->mu);
    m->live_next = r->live, r->live = m;
    if (r->draining) srv_batcher_drain(m->batcher);
    pthread_mutex_unlock(&r->mu);
    return m;
fail:
    if (r->cfg.free_description) r->cfg.free_description(m);
    tft_model_free(m->model);
    free(m);
    return NULL;
}

// Under mu: the least recently used current versions other than `keep`'s go until the total fits the
// budget; they are moved to victims[] (their registry references, to release after the unlock).
static int evict_over_budget(srv_registry *r, const entry *keep, srv_model **victims) {
    int nv = 0;
    while (r->cfg.budget_bytes > 0 && r->used > r->cfg.budget_bytes) {
        entry *lru = NULL;
        for (int i = 0; i < r->n; i++)
            if (r->e[i] != keep && r->e[i]->cur && (!lru || r->e[i]->last_used < lru->last_used)) lru = r->e[i];
        if (!lru) {
            logf_(r, TFT_LOG_WARN, "model %s alone takes %lld bytes, more than --model-memory-mib (%lld bytes)",
                  keep->name, (long long)r->used, (long long)r->cfg.budget_bytes);
            break;
        }
        logf_(r, TFT_LOG_INFO, "model %s unloaded (least recently used; memory budget)", lru->name);
        r->used -= (int64_t)lru->cur->bytes;
        victims[nv++] = lru->cur;
        lru->cur = NULL, lru->evicted = 1;
        atomic_fetch_add_explicit(&lru->unloads, 1, memory_order_relaxed);
    }
    return nv;
}

// Makes m (a fresh version of e, its reference becoming the registry's) current; the old version and
// any version evicted for the budget lose the registry's reference after the unlock.
static void install(srv_registry *r, entry *e, srv_model *m, file_id id) {
    srv_model **victims = calloc((size_t)r->n + 1, sizeof *victims);
    pthread_mutex_lock(&r->mu);
    srv_model *old = e->cur;
    e->cur         = m;
    r->used += (int64_t)m->bytes - (old ? (int64_t)old->bytes : 0);
    e->loaded = id, e->last_used = ++r->clock;
    e->load_failed = e->evicted = e->unloaded = 0;
    int nv = victims ? evict_over_budget(r, e, victims) : 0;
    pthread_mutex_unlock(&r->mu);
    srv_model_release(old);
    for (int i = 0; i < nv; i++) srv_model_release(victims[i]);
    free(victims);
}

// Under load_mu: loads e's file and installs it; counts the load. 0, or -1 with err.
static int load_entry(srv_registry *r, entry *e, char *err, size_t errsz) {
    file_id    id;
    srv_model *m = load_version(r, e, &id, err, errsz);
    if (!m) {
        pthread_mutex_lock(&r->mu);
        e->failed = id, e->load_failed = !e->cur;
        pthread_mutex_unlock(&r->mu);
        return -1;
    }
    install(r, e, m, id);
    atomic_fetch_add_explicit(&e->loads, 1, memory_order_relaxed);
    logf_(r, TFT_LOG_INFO, "model %s version %s loaded (%zu bytes with its contexts)", e->name, m->version, m->bytes);
    return 0;
}

// ---- the table ------------------------------------------------------------------------------------------

static entry *find(srv_registry *r, const char *name, size_t len) {
    for (int i = 0; i < r->n; i++)
        if (strlen(r->e[i]->name) == len && memcmp(r->e[i]->name, name, len) == 0) return r->e[i];
    return NULL;
}

// Under load_mu: a new entry (not loaded). NULL with err on a bad or duplicate name.
static entry *new_entry(srv_registry *r, const char *name, const char *path, char *err, size_t errsz) {
    if (!srv_model_name_ok(name, strlen(name))) {
        snprintf(err, errsz, "model name '%.100s' must be 1 to 100 of A-Z a-z 0-9 . _ - (not starting with '.')",
                 name);
        return NULL;
    }
    entry *e = calloc(1, sizeof *e);
    if (!e || !(e->path = strdup(path))) {
        free(e);
        return snprintf(err, errsz, "out of memory"), NULL;
    }
    snprintf(e->name, sizeof e->name, "%s", name);
    pthread_mutex_lock(&r->mu);
    if (find(r, name, strlen(name))) {
        pthread_mutex_unlock(&r->mu);
        free(e->path), free(e);
        return snprintf(err, errsz, "two models named '%s'", name), NULL;
    }
    if (r->n == r->cap) {
        int     cap = r->cap ? 2 * r->cap : 16;
        entry **t   = realloc(r->e, (size_t)cap * sizeof *t);
        if (!t) {
            pthread_mutex_unlock(&r->mu);
            free(e->path), free(e);
            return snprintf(err, errsz, "out of memory"), NULL;
        }
        r->e = t, r->cap = cap;
    }
    r->e[r->n++] = e;
    pthread_mutex_unlock(&r->mu);
    return e;
}

srv_registry *srv_registry_new(const srv_registry_config *cfg, char *err, size_t errsz) {
    srv_registry *r = calloc(1, sizeof *r);
    if (!r) return snprintf(err, errsz, "out of memory"), NULL;
    r->cfg = *cfg;
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->load_mu, NULL);
    return r;
}

int srv_registry_add(srv_registry *r, const char *name, const char *path, char *err, size_t errsz) {
    pthread_mutex_lock(&r->load_mu);
    entry *e  = new_entry(r, name, path, err, errsz);
    int    rc = e ? load_entry(r, e, err, errsz) : -1;
    pthread_mutex_unlock(&r->load_mu);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Under load_mu: adds and loads every new *.safetensors of the directory (in name order).
static int scan_dir(srv_registry *r, char *err, size_t errsz) {
    DIR *d = opendir(r->cfg.dir);
    if (!d) return snprintf(err, errsz, "cannot read --model-dir %s: %s", r->cfg.dir, strerror(errno)), -1;
    char         **names = NULL;
    size_t         nn = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name), el = strlen(SRV_MODEL_EXT);
        if (len <= el || de->d_name[0] == '.' || strcmp(de->d_name + len - el, SRV_MODEL_EXT) != 0) continue;
        if (nn == cap) {
            char **t = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof *t);
            if (!t) break;
            names = t;
        }
        if (!(names[nn] = strndup(de->d_name, len - el))) break;
        nn++;
    }
    closedir(d);
    if (nn) qsort(names, nn, sizeof *names, cmp_str);
    int added = 0;
    for (size_t i = 0; i < nn; i++) {
        pthread_mutex_lock(&r->mu);
        int known = find(r, names[i], strlen(names[i])) != NULL;
        pthread_mutex_unlock(&r->mu);
        char path[4096], why[512];
        snprintf(path, sizeof path, "%s/%s%s", r->cfg.dir, names[i], SRV_MODEL_EXT);
        entry *e = known ? NULL : new_entry(r, names[i], path, why, sizeof why);
        if (!known && !e) logf_(r, TFT_LOG_WARN, "skipping %s: %s", path, why);
        if (e && load_entry(r, e, why, sizeof why) != 0)
            logf_(r, TFT_LOG_ERROR, "model %s does not load, not served until its file changes: %s", e->name, why);
        added += e != NULL;
        free(names[i]);
    }
    free(names);
    return added;
}

int srv_registry_scan_dir(srv_registry *r, char *err, size_t errsz) {
    pthread_mutex_lock(&r->load_mu);
    int rc = scan_dir(r, err, errsz);
    pthread_mutex_unlock(&r->load_mu);
    return rc;
}

int srv_registry_count(srv_registry *r) {
    pthread_mutex_lock(&r->mu);
    int n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

// ---- lookups ---------------------------------------------------------------------------------------------

// Under mu: e's current version with a new reference for the caller.
static srv_model *take(srv_registry *r, entry *e) {
    atomic_fetch_add_explicit(&e->cur->refs, 1, memory_order_relaxed);
    e->last_used = ++r->clock;
    return e->cur;
}

srv_lookup srv_models_acquire(srv_registry *r, const char *name, size_t len, srv_model **out) {
    *out = NULL;
    pthread_mutex_lock(&r->mu);
    entry *e = name ? find(r, name, len) : r->n == 1 ? r->e[0] : NULL;
    srv_lookup st = !e ? (name || r->n == 0 ? SRV_MODEL_UNKNOWN : SRV_MODEL_NEED_NAME)
                    : e->unloaded ? SRV_MODEL_UNLOADED
                    : SRV_MODEL_OK;
    if (st == SRV_MODEL_OK && e->cur) *out = take(r, e);
    pthread_mutex_unlock(&r->mu);
    if (st != SRV_MODEL_OK || *out) return st;
    // not loaded (evicted, or its file did not load): load it now, unless that file already failed
    pthread_mutex_lock(&r->load_mu);
    pthread_mutex_lock(&r->mu);
    if (e->cur) *out = take(r, e);
    else if (e->unloaded) st = SRV_MODEL_UNLOADED;
    else if (e->load_failed && same_file(stat_id(e->path), e->failed)) st = SRV_MODEL_LOAD_FAILED;
    pthread_mutex_unlock(&r->mu);
    if (st == SRV_MODEL_OK && !*out) {
        char err[512];
        if (load_entry(r, e, err, sizeof err) != 0) {
            logf_(r, TFT_LOG_ERROR, "model %s does not load: %s", e->name, err);
            st = SRV_MODEL_LOAD_FAILED;
        } else {
            pthread_mutex_lock(&r->mu);
            if (e->cur) *out = take(r, e);
            else st = SRV_MODEL_LOAD_FAILED; // (a budget smaller than this model alone never evicts it)
            pthread_mutex_unlock(&r->mu);
        }
    }
    pthread_mutex_unlock(&r->load_mu);
    return st;
}

void srv_models_each_loaded(srv_registry *r, void (*fn)(srv_model *m, void *arg), void *arg) {
    pthread_mutex_lock(&r->mu);
    int         n    = r->n;
    srv_model **held = calloc((size_t)n + 1, sizeof *held);
    int         k    = 0;
    for (int i = 0; held && i < n; i++)
        if (r->e[i]->cur) {
            held[k++] = r->e[i]->cur;
            atomic_fetch_add_explicit(&r->e[i]->cur->refs, 1, memory_order_relaxed);
        }
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < k; i++) fn(held[i], arg);
    for (int i = 0; i < k; i++) srv_model_release(held[i]);
    free(held);
}

// ---- hot reload and the repository API ------------------------------------------------------------------

void srv_registry_check(srv_registry *r) {
    pthread_mutex_lock(&r->load_mu);
    char err[512];
    if (r->cfg.dir && scan_dir(r, err, sizeof err) < 0) logf_(r, TFT_LOG_ERROR, "%s", err);
    pthread_mutex_lock(&r->mu);
    int n = r->n;
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&r->mu);
        entry  *e      = r->e[i];
        // loaded ones, and those whose file did not load (a fixed file brings them in)
        int     wanted = e->cur != NULL || (e->load_failed && !e->unloaded);
        file_id have = e->loaded, failed = e->failed;
        pthread_mutex_unlock(&r->mu);
        file_id now = stat_id(e->path);
        // (a file removed: the loaded version keeps serving; the repository API unloads it)
        if (!wanted || !now.ok || (have.ok && same_file(now, have)) || same_file(now, failed)) continue;
        file_id    id;
        srv_model *m = load_version(r, e, &id, err, sizeof err);
        if (!m) {
            pthread_mutex_lock(&r->mu);
            e->failed = id;
            pthread_mutex_unlock(&r->mu);
            atomic_fetch_add_explicit(&e->reload_failures, 1, memory_order_relaxed);
            logf_(r, TFT_LOG_ERROR, "model %s: the new file is refused, the old version keeps serving: %s", e->name,
                  err);
            continue;
        }
        const char *was = "";
        pthread_mutex_lock(&r->mu);
        int still = e->cur != NULL || e->load_failed;
        if (e->cur) was = e->cur->version; // (kept alive by the registry's reference until install)
        char old[16];
        snprintf(old, sizeof old, "%s", was);
        pthread_mutex_unlock(&r->mu);
        if (!still) { // unloaded or evicted while it loaded: not wanted now
            srv_model_release(m);
            continue;
        }
        install(r, e, m, id);
        atomic_fetch_add_explicit(&e->reloads, 1, memory_order_relaxed);
        logf_(r, TFT_LOG_INFO, "model %s reloaded: version %s -> %s", e->name, old[0] ? old : "(none)", m->version);
    }
    pthread_mutex_unlock(&r->load_mu);
}

int srv_registry_load(srv_registry *r, const char *name, char *err, size_t errsz) {
    if (!srv_model_name_ok(name, strlen(name)))
        return snprintf(err, errsz, "no model named '%.100s'", name), 404;
    pthread_mutex_lock(&r->load_mu);
    pthread_mutex_lock(&r->mu);
    entry *e = find(r, name, strlen(name));
    pthread_mutex_unlock(&r->mu);
    int rc = 0;
    if (!e && r->cfg.dir) { // a file added to the directory since the last scan
        char path[4096];
        snprintf(path, sizeof path, "%s/%s%s", r->cfg.dir, name, SRV_MODEL_EXT);
        if (stat_id(path).ok) e = new_entry(r, name, path, err, errsz);
    }
    if (!e) rc = 404, snprintf(err, errsz, "no model named '%s' in the repository", name);
    else if (load_entry(r, e, err, errsz) != 0) {
        logf_(r, TFT_LOG_ERROR, "model %s: load refused: %s", name, err);
        snprintf(err, errsz, "model '%s' does not load (its file is not a valid model; the server log says why)",
                 name);
        rc = 422;
    }
    pthread_mutex_unlock(&r->load_mu);
    return rc;
}

int srv_registry_unload(srv_registry *r, const char *name, char *err, size_t errsz) {
    pthread_mutex_lock(&r->load_mu);
    pthread_mutex_lock(&r->mu);
    entry     *e   = find(r, name, strlen(name));
    srv_model *old = e ? e->cur : NULL;
    if (e) {
        e->unloaded = 1, e->cur = NULL;
        if (old) r->used -= (int64_t)old->bytes, atomic_fetch_add_explicit(&e->unloads, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_unlock(&r->load_mu);
    if (!e) return snprintf(err, errsz, "no model named '%.100s' in the repository", name), 404;
    srv_model_release(old); // requests still using it finish first
    return 0;
}

ssize_t srv_registry_write_index(srv_registry *r, char *buf, size_t cap, int ready_only) {
    tft_jw o = {buf, cap, 0, 0};
    tft_jw_lit(&o, "[");
    pthread_mutex_lock(&r->mu);
    int k = 0;
    for (int i = 0; i < r->n; i++) {
        entry *e = r->e[i];
        if (ready_only && !e->cur) continue;
        tft_jw_lit(&o, k++ ? ",{\"name\":" : "{\"name\":");
        tft_jw_str(&o, e->name);
        tft_jw_lit(&o, ",\"version\":");
        tft_jw_str(&o, e->cur ? e->cur->version : "");
        tft_jw_lit(&o, e->cur ? ",\"state\":\"READY\",\"reason\":\"\"}" : ",\"state\":\"UNAVAILABLE\",\"reason\":");
        if (!e->cur)
            tft_jw_lit(&o, e->unloaded      ? "\"unloaded\"}"
                           : e->load_failed ? "\"its file does not load\"}"
                                            : "\"unloaded for the memory budget; the next request loads it\"}");
    }
    pthread_mutex_unlock(&r->mu);
    tft_jw_lit(&o, "]");
    return tft_jw_finish(&o);
}

ssize_t srv_registry_write_metrics(srv_registry *r, char *buf, size_t cap) {
    size_t n = 0;
#define PUT(...)                                                                                                       \
    do {                                                                                                               \
        int k_ = snprintf(buf + n, cap - n, __VA_ARGS__);                                                              \
        if (k_ < 0 || (size_t)k_ >= cap - n) goto full;                                                                \
        n += (size_t)k_;                                                                                               \
    } while (0)
    pthread_mutex_lock(&r->mu);
    // names are [A-Za-z0-9._-] (srv_model_name_ok) and versions hex: label values as they are
    PUT("# HELP tft_model_info The models this server serves (loaded versions).\n# TYPE tft_model_info gauge\n");
    for (int i = 0; i < r->n; i++)
        if (r->e[i]->cur)
            PUT("tft_model_info{name=\"%s\",version=\"%s\",sha256=\"%s\"} 1\n", r->e[i]->name, r->e[i]->cur->version,
                r->e[i]->cur->mi->sha256);
    PUT("# HELP tft_model_loaded 1 while the model has a version loaded.\n# TYPE tft_model_loaded gauge\n");
    for (int i = 0; i < r->n; i++) PUT("tft_model_loaded{model=\"%s\"} %d\n", r->e[i]->name, r->e[i]->cur != NULL);
    static const char *const what[4][2] = {
        {"tft_model_loads_total", "Versions loaded (at start, on demand, by the repository API)."},
        {"tft_model_reloads_total", "Hot reloads that made a changed file's new version current."},
        {"tft_model_reload_failures_total", "Changed files refused by a hot reload (the old version kept serving)."},
        {"tft_model_unloads_total", "Versions unloaded (memory budget or repository API)."}};
    for (int k = 0; k < 4; k++) {
        PUT("# HELP %s %s\n# TYPE %s counter\n", what[k][0], what[k][1], what[k][0]);
        for (int i = 0; i < r->n; i++) {
            entry           *e = r->e[i];
            _Atomic uint64_t *c = k == 0 ? &e->loads : k == 1 ? &e->reloads : k == 2 ? &e->reload_failures : &e->unloads;
            PUT("%s{model=\"%s\"} %llu\n", what[k][0], e->name, (unsigned long long)srv_metrics_get(c));
        }
    }
    PUT("# HELP tft_model_memory_bytes Weights + worker contexts of the loaded versions (the memory budget's "
        "measure).\n# TYPE tft_model_memory_bytes gauge\ntft_model_memory_bytes %lld\n",
        (long long)r->used);
    pthread_mutex_unlock(&r->mu);
    return (ssize_t)n;
full:
    pthread_mutex_unlock(&r->mu);
    return -1;
#undef PUT
}

// ---- shutdown ------------------------------------------------------------------------------------------------

void srv_registry_drain(srv_registry *r) {
    pthread_mutex_lock(&r->mu);
    r->draining = 1;
    for (srv_model *m = r->live; m; m = m->live_next) srv_batcher_drain(m->batcher);
    pthread_mutex_unlock(&r->mu);
}

int srv_registry_idle(srv_registry *r) {
    pthread_mutex_lock(&r->mu);
    int idle = 1;
    for (srv_model *m = r->live; m && idle; m = m->live_next) idle = srv_batcher_idle(m->batcher);
    pthread_mutex_unlock(&r->mu);
    return idle;
}

void srv_registry_free(srv_registry *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        srv_model_release(r->e[i]->cur);
        r->e[i]->cur = NULL;
    }
    if (r->live) logf_(r, TFT_LOG_ERROR, "a model version is still referenced at exit");
    for (int i = 0; i < r->n; i++) free(r->e[i]->path), free(r->e[i]);
    free(r->e);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->load_mu);
    free(r);
}
