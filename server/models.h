// models.h: tft-server's model registry (server/API.md, "Model repository"): the models it serves
// (one --model, or every *.safetensors of --model-dir, name = file name without the extension), each
// loaded version with its own batcher and worker contexts, warmed up at load.
//
// Lifetime: a loaded version (srv_model) is reference counted. The registry holds one reference
// while the version is current; each request that uses it holds one from srv_models_acquire (on the
// I/O thread, when the route names the model) to srv_model_release (in on_done, after its response
// went out). A hot reload, an LRU eviction or an unload only drops the registry's reference: requests
// in flight finish on the version they started with, and the last release frees it (its batcher, its
// contexts, its weights). So a request sees one version from start to end, and the version header
// (X-Model-Version) switches atomically with the registry's pointer.
//
// Locks: `mu` guards the table (entries, their current version, the LRU clock, the memory in use)
// and is held only for pointer moves; `load_mu` serializes loads (startup, on demand after an
// eviction, reloads, the repository API), which run outside `mu` so that lookups of other models
// never wait for a load.
//
// Memory budget (--model-memory-mib): a version costs its weights file plus its workers' contexts
// (tft_context_memory). After a load that takes the total over the budget, the least recently used
// other versions are unloaded until it fits (a model alone over the budget is still served, with a
// warning). An unloaded model is loaded again, inline, by the next request that names it: that
// request (and its HTTP thread) pays the load and the warmup, later ones do not.
#ifndef TFT_SERVER_MODELS_H
#define TFT_SERVER_MODELS_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "../engine/tft.h"
#include "batcher.h"
#include "metrics.h"

typedef struct srv_registry srv_registry;

typedef struct srv_model { // one loaded version of one model; immutable once published
    const char           *name; // the entry's (lives as long as the registry)
    tft_model            *model;
    const tft_model_info *mi;
    char                  version[16]; // the first 12 hex digits of the file's sha256
    srv_batcher          *batcher;
    size_t                bytes; // weights file + worker contexts: what the memory budget counts
    // GET /v1/models/NAME ([0] the first labels of each categorical, [1] all of them) and
    // GET /v2/models/NAME, written once by the registry's describe callback (routes.c)
    char                 *model_json[2], *v2_model_json;
    size_t                model_len[2];
    ssize_t               v2_model_len;
    _Atomic int64_t       refs;
    srv_registry         *reg;
    struct srv_model     *live_next; // the registry's list of versions not yet freed (under mu)
} srv_model;

typedef struct srv_registry_config {
    const char        *dir;            // --model-dir (rescanned for new files on a reload check), or NULL
    srv_batcher_config batcher;        // every version's batcher (warmup included)
    srv_metrics       *metrics;        // shared by every batcher
    int64_t            budget_bytes;   // --model-memory-mib in bytes; 0 = no budget
    // Writes m's descriptions (model_json, v2_model_json); 0, or -1 with err (the load fails).
    int  (*describe)(srv_model *m, void *user, char *err, size_t errsz);
    void (*free_description)(srv_model *m);
    void *user;
    void (*log)(int level, const char *msg); // level: tft_log_level
} srv_registry_config;

// Names a model may have: 1..100 of [A-Za-z0-9._-], not starting with '.' (a file name, a URL path
// segment and a Prometheus label value as is).
int srv_model_name_ok(const char *name, size_t len);

srv_registry *srv_registry_new(const srv_registry_config *cfg, char *err, size_t errsz);
// Adds model `name` from `path` and loads it now. 0, or -1 with err (bad name, duplicate, load failure).
int srv_registry_add(srv_registry *r, const char *name, const char *path, char *err, size_t errsz);
// Adds (and loads, within the budget) every *.safetensors of cfg->dir not yet known; a file that
// does not load is logged and skipped. The number of models added, or -1 with err if the directory
// cannot be read.
int srv_registry_scan_dir(srv_registry *r, char *err, size_t errsz);
int srv_registry_count(srv_registry *r);

typedef enum srv_lookup {
    SRV_MODEL_OK,
    SRV_MODEL_UNKNOWN,     // no model of that name
    SRV_MODEL_NEED_NAME,   // no name given and more than one model is served
    SRV_MODEL_UNLOADED,    // unloaded through the repository API (loaded again only by its load call)
    SRV_MODEL_LOAD_FAILED, // evicted and its file no longer loads
} srv_lookup;
// The current version of model name[0, len) (name NULL: the only model), with a reference the caller
// must give back with srv_model_release. Loads an evicted model inline (the caller's thread waits).
srv_lookup srv_models_acquire(srv_registry *r, const char *name, size_t len, srv_model **out);
void       srv_model_release(srv_model *m); // NULL is a no-op; the last reference frees the version
// Calls fn on every loaded current version (a reference held during the call), in the
// table's order (--model first, a directory's files by name, later additions last).
void srv_models_each_loaded(srv_registry *r, void (*fn)(srv_model *m, void *arg), void *arg);

// Hot reload: every loaded model whose file changed (size, mtime or inode) since its version was
// loaded is loaded again beside it; on success the new version becomes current, on failure (a corrupt
// or unreadable file) the old one keeps serving and the failure is logged and counted. A file that
// failed is not retried until it changes again. A removed file changes nothing (the loaded version
// keeps serving). In a --model-dir registry new files are added too.
// Called from SIGHUP and every --reload-poll-s by the main thread.
void srv_registry_check(srv_registry *r);

// KServe v2 model repository: load (again, from its file; also a new file NAME.safetensors of the
// directory) or unload model `name`. 0, or an HTTP status (404, 422, 500) with a message in err.
int     srv_registry_load(srv_registry *r, const char *name, char *err, size_t errsz);
int     srv_registry_unload(srv_registry *r, const char *name, char *err, size_t errsz);
// POST /v2/repository/index's body: [{"name","version","state":"READY"|"UNAVAILABLE","reason"}...];
// ready_only: only the loaded ones. The length, or -1 when cap is too small.
ssize_t srv_registry_write_index(srv_registry *r, char *buf, size_t cap, int ready_only);
// Prometheus lines: tft_model_info per loaded model, tft_model_loaded, tft_model_loads_total,
// tft_model_reloads_total, tft_model_reload_failures_total and tft_model_unloads_total per model,
// tft_model_memory_bytes. The length, or -1 when cap is too small.
ssize_t srv_registry_write_metrics(srv_registry *r, char *buf, size_t cap);

void srv_registry_drain(srv_registry *r); // every live version's batcher runs its queue now
int  srv_registry_idle(srv_registry *r);  // no live version has work queued or running
void srv_registry_free(srv_registry *r);  // after the HTTP layer stopped: no request holds a version
#endif
