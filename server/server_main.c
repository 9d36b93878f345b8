// tft-server: HTTP inference server for TFT models (server/API.md).
//   tft-server --model weights/default.safetensors [--port 8080] [...]   (tft-server --help)
//   tft-server --model-dir DIR [...]   (every DIR/NAME.safetensors; the registry is server/models.c)
// Flags, their environment variables, logging, signals and the drain on SIGTERM; the endpoints are in
// routes.c, the HTTP layer in http_mhd.c, the micro-batcher in batcher.c.
//
// Exit codes: 0 after a clean drain, 1 when the model cannot be loaded / the server cannot start, or
// a drain that ran out of --drain-timeout-s, or a second SIGTERM/SIGINT; 2 for bad flags.
#include "json_out.h"
#include "routes.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// ---- logging -----------------------------------------------------------------------------------------

static int log_level = TFT_LOG_WARN; // set once from the flags, before any thread starts

static const char *level_name(int level) {
    switch (level) {
    case TFT_LOG_ERROR: return "error";
    case TFT_LOG_WARN: return "warn";
    case TFT_LOG_INFO: return "info";
    default: return "debug";
    }
}

void srv_log(int level, const char *fmt, ...) {
    if (level > log_level) return;
    char    msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "tft-server: %s: %s\n", level_name(level), msg); // one call: lines stay whole
}

// libtft's log sink (tft_log_set): same format and filter. Called from workers too; thread-safe.
static void engine_log(tft_log_level level, const char *msg, void *user) {
    (void)user;
    srv_log((int)level, "engine: %s", msg);
}

static void batcher_log(int level, const char *msg) { srv_log(level, "%s", msg); }

// ---- flags ----------------------------------------------------------------------------------------------

typedef enum { F_STR, F_INT, F_LEVEL, F_BOOL } flag_kind;

typedef struct flag {
    const char *name, *env, *arg;
    flag_kind   kind;
    void       *dst;    // const char ** / int64_t * / int32_t *
    int64_t     lo, hi; // F_INT range
    const char *help;
} flag;

static srv_config cfg;
static int64_t    f_port = 8080, f_workers = 0, f_max_batch = 64, f_delay_us = 1000, f_queue_cap = 64;
static int64_t    f_timeout_ms = 30000, f_body = 8 << 20, f_series = 4096, f_values = 1 << 22;
static int64_t    f_conns = 256, f_conns_ip = 0, f_idle = 10, f_header = 32768, f_io = 1, f_drain = 30, f_pin = 1;
static int64_t    f_header_s = 10, f_body_rate = 1024, f_out_values = 1 << 22, f_pending = (int64_t)256 << 20;
static const char *f_model, *f_host = "127.0.0.1";
static int32_t    f_level = TFT_LOG_WARN, f_access = 0;
static int64_t    f_context_mib = 0; // 0: libtft's default (TFT_CONTEXT_DEFAULT_MAX_MIB)
static const char *f_model_dir, *f_api_key;
static int64_t    f_model_mib = 0, f_poll_s = 0, f_warmup = 1;
static int32_t    f_repo_api = 0;
static const char *f_fleet, *f_fleet_store; // fleet mode (server/fleet.h)
static int64_t    f_fleet_series = 0;

static const flag flags[] = {
    {"--model", "TFT_SERVER_MODEL", "[NAME=]PATH", F_STR, &f_model, 0, 0,
     "a .safetensors model to serve (this or --model-dir is required); NAME defaults to the file name "
     "without .safetensors"},
    {"--model-dir", "TFT_SERVER_MODEL_DIR", "DIR", F_STR, &f_model_dir, 0, 0,
     "serve every DIR/NAME.safetensors as model NAME (beside --model, if given)"},
    {"--model-memory-mib", "TFT_SERVER_MODEL_MEMORY_MIB", "MIB", F_INT, &f_model_mib, 0, INT32_MAX,
     "memory budget of the loaded models (weights + worker contexts); past it the least recently used are "
     "unloaded and loaded again by their next request (default 0 = no budget)"},
    {"--reload-poll-s", "TFT_SERVER_RELOAD_POLL_S", "S", F_INT, &f_poll_s, 0, 86400,
     "hot reload: look for changed model files every S seconds (default 0 = only on SIGHUP)"},
    {"--warmup", "TFT_SERVER_WARMUP", "0|1", F_INT, &f_warmup, 0, 1,
     "run one forward per batch-size bucket (1, 2, 4 ... --max-batch) when a model loads (default 1)"},
    {"--model-repository-api", "TFT_SERVER_MODEL_REPOSITORY_API", NULL, F_BOOL, &f_repo_api, 0, 0,
     "enable POST /v2/repository/index and /v2/repository/models/NAME/load|unload, for loopback clients "
     "or with --api-key (env: 1 to enable)"},
    {"--api-key", "TFT_SERVER_API_KEY", "KEY", F_STR, &f_api_key, 0, 0,
     "a client sending Authorization: Bearer KEY may use the repository API from any address"},
    {"--host", "TFT_SERVER_HOST", "ADDR", F_STR, &f_host, 0, 0, "address to listen on (default 127.0.0.1)"},
    {"--port", "TFT_SERVER_PORT", "N", F_INT, &f_port, 0, 65535, "port (default 8080; 0 = any free port)"},
    {"--workers", "TFT_SERVER_WORKERS", "N", F_INT, &f_workers, 0, 256,
     "model worker threads, one tft_context each (default: cores - 1, at least 1)"},
    {"--max-batch", "TFT_SERVER_MAX_BATCH", "N", F_INT, &f_max_batch, 1, 65536,
     "series per model call (default 64)"},
    {"--max-context-mib", "TFT_SERVER_MAX_CONTEXT_MIB", "MIB", F_INT, &f_context_mib, -1, INT32_MAX,
     "workspace limit of each worker's context (default 4096; -1: none); a --max-batch over it fails at start"},
    {"--max-queue-delay-us", "TFT_SERVER_MAX_QUEUE_DELAY_US", "US", F_INT, &f_delay_us, 0, 10000000,
     "how long a request may wait for others to fill a batch (default 1000)"},
    {"--queue-cap", "TFT_SERVER_QUEUE_CAP", "N", F_INT, &f_queue_cap, 1, 1000000,
     "requests waiting for a worker; more are answered 503 (default 64)"},
    {"--request-timeout-ms", "TFT_SERVER_REQUEST_TIMEOUT_MS", "MS", F_INT, &f_timeout_ms, 1, 86400000,
     "deadline of a request (default 30000; a client may lower it with X-Request-Timeout-Ms)"},
    {"--max-body-bytes", "TFT_SERVER_MAX_BODY_BYTES", "N", F_INT, &f_body, 1024, (int64_t)1 << 31,
     "largest request body (default 8388608)"},
    {"--max-series", "TFT_SERVER_MAX_SERIES", "N", F_INT, &f_series, 1, INT32_MAX,
     "series per request (default 4096)"},
    {"--max-values", "TFT_SERVER_MAX_VALUES", "N", F_INT, &f_values, 1, (int64_t)1 << 40,
     "numbers + labels per request (default 4194304)"},
    {"--max-connections", "TFT_SERVER_MAX_CONNECTIONS", "N", F_INT, &f_conns, 1, 1000000,
     "concurrent connections (default 256)"},
    {"--max-connections-per-ip", "TFT_SERVER_MAX_CONNECTIONS_PER_IP", "N", F_INT, &f_conns_ip, 0, 1000000,
     "concurrent connections per client address (default 0 = no cap)"},
    {"--idle-timeout-s", "TFT_SERVER_IDLE_TIMEOUT_S", "S", F_INT, &f_idle, 1, 86400,
     "close a connection idle this long: slow headers or body, idle keep-alive (default 10)"},
    {"--max-header-bytes", "TFT_SERVER_MAX_HEADER_BYTES", "N", F_INT, &f_header, 8192, 1 << 24,
     "request line + headers per connection; past it 414 or 431 (default 32768)"},
    {"--header-timeout-s", "TFT_SERVER_HEADER_TIMEOUT_S", "S", F_INT, &f_header_s, 0, 86400,
     "a request's line + headers must all arrive within S of the connection opening or its previous "
     "request ending, or the connection is closed (default 10; 0 = no deadline)"},
    {"--min-body-rate", "TFT_SERVER_MIN_BODY_RATE", "BYTES_PER_S", F_INT, &f_body_rate, 0, (int64_t)1 << 40,
     "a request body slower than this on average (from 2 s on) is cut off (default 1024; 0 = no minimum)"},
    {"--max-output-values", "TFT_SERVER_MAX_OUTPUT_VALUES", "N", F_INT, &f_out_values, 1, (int64_t)1 << 40,
     "numbers in one response (quantiles + interpretation); more: 413 response_too_large (default 4194304)"},
    {"--max-pending-bytes", "TFT_SERVER_MAX_PENDING_BYTES", "N", F_INT, &f_pending, 0, (int64_t)1 << 48,
     "while responses not yet sent hold more than N bytes, new forecasts get 503 + Retry-After "
     "(default 268435456; 0 = no cap)"},
    {"--io-threads", "TFT_SERVER_IO_THREADS", "N", F_INT, &f_io, 1, 64, "HTTP threads (default 1)"},
    {"--drain-timeout-s", "TFT_SERVER_DRAIN_TIMEOUT_S", "S", F_INT, &f_drain, 0, 86400,
     "on SIGTERM, how long queued and running requests may take to finish (default 30)"},
    {"--pin", "TFT_SERVER_PIN", "0|1", F_INT, &f_pin, 0, 1, "pin each worker to a core with hwloc (default 1)"},
    {"--fleet", "TFT_SERVER_FLEET", "CONFIG.json", F_STR, &f_fleet, 0, 0,
     "fleet mode: keep each series' window, /v1/fleet/ingest and /v1/fleet/forecasts (server/API.md; "
     "weights/fleet_default.json is the default model's config)"},
    {"--fleet-max-series", "TFT_SERVER_FLEET_MAX_SERIES", "N", F_INT, &f_fleet_series, 0, 10000000,
     "fleet mode: series whose windows are reserved at start (default: the config's max_series)"},
    {"--fleet-store", "TFT_SERVER_FLEET_STORE", "PATH", F_STR, &f_fleet_store, 0, 0,
     "fleet mode: the SQLite file of the windows (default: the config's store)"},
    {"--log-level", "TFT_SERVER_LOG_LEVEL", "LEVEL", F_LEVEL, &f_level, 0, 0,
     "error, warn (default), info or debug; stderr"},
    {"--access-log", "TFT_SERVER_ACCESS_LOG", NULL, F_BOOL, &f_access, 0, 0,
     "one line per request on stdout (env: 1 to enable)"},
};
#define N_FLAGS ((int)(sizeof flags / sizeof flags[0]))

static void usage(FILE *f) {
    fprintf(f, "usage: tft-server --model [NAME=]PATH | --model-dir DIR [options]\n"
               "Serves TFT models over HTTP: POST /v1/forecast (engine/cli/REQUEST.md), GET /v1/models,\n"
               "KServe v2 (/v2/...), GET /metrics, /v2/health/live|ready. See server/API.md.\n\noptions "
               "(each also read from its environment variable; a flag wins):\n");
    for (int i = 0; i < N_FLAGS; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", flags[i].name, flags[i].arg ? " " : "", flags[i].arg ? flags[i].arg : "");
        fprintf(f, "  %-30s %s\n  %-30s [%s]\n", left, flags[i].help, "", flags[i].env);
    }
    fprintf(f, "  %-30s %s\n", "--help", "this text");
    fprintf(f, "  %-30s %s\n", "--version", "the server's, libtft's and libmicrohttpd's versions");
    fprintf(f, "\nSIGTERM/SIGINT: readiness goes 503, the listener closes, queued and running requests finish\n"
               "(up to --drain-timeout-s), exit 0. A second signal exits at once (status 1).\n"
               "SIGHUP: hot reload (models whose files changed are loaded again; a file that does not load is\n"
               "refused and the old version keeps serving).\n");
}

static int bad(const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "tft-server: error: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, " (see tft-server --help)\n");
    return 2;
}

static int set_flag(const flag *f, const char *v, const char *from) {
    switch (f->kind) {
    case F_STR:
        if (!*v) return bad("%s needs a value%s", from, "");
        *(const char **)f->dst = v;
        return 0;
    case F_INT: {
        char     *end;
        errno       = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < f->lo || x > f->hi) {
            char range[64];
            snprintf(range, sizeof range, "an integer in [%lld, %lld]", (long long)f->lo, (long long)f->hi);
            return bad("%s must be %s", from, range);
        }
        *(int64_t *)f->dst = x;
        return 0;
    }
    case F_LEVEL: {
        static const char *const names[] = {"error", "warn", "info", "debug"};
        for (int i = 0; i < 4; i++)
            if (strcmp(v, names[i]) == 0) return *(int32_t *)f->dst = i + 1, 0;
        return bad("%s must be error, warn, info or debug, not '%s'", from, v);
    }
    case F_BOOL:
        if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "on") == 0) *(int32_t *)f->dst = 1;
        else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "off") == 0 || !*v) *(int32_t *)f->dst = 0;
        else return bad("%s must be 0 or 1, not '%s'", from, v);
        return 0;
    }
    return 2;
}

// Environment first, then the command line (a flag wins). 0, 1 (--help) or 2 (bad usage).
static int parse_flags(int argc, char **argv) {
    for (int i = 0; i < N_FLAGS; i++) {
        const char *v = getenv(flags[i].env);
        if (v && set_flag(&flags[i], v, flags[i].env)) return 2;
    }
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) return 1;
        if (strcmp(argv[a], "--version") == 0) return 3;
        const char *arg = argv[a], *eq = strchr(arg, '=');
        size_t      nl  = eq ? (size_t)(eq - arg) : strlen(arg);
        int         i   = 0;
        while (i < N_FLAGS && !(strlen(flags[i].name) == nl && strncmp(flags[i].name, arg, nl) == 0)) i++;
        if (i == N_FLAGS) return bad("unknown option '%s'%s", arg, "");
        if (flags[i].kind == F_BOOL) {
            if (set_flag(&flags[i], eq ? eq + 1 : "1", flags[i].name)) return 2;
            continue;
        }
        const char *v = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
        if (!v) return bad("%s needs a value%s", flags[i].name, "");
        if (set_flag(&flags[i], v, flags[i].name)) return 2;
    }
    if (!f_model && !f_model_dir) return bad("--model or --model-dir is required%s%s", "", "");
    return 0;
}

// "NAME=PATH" or "PATH" (name: the file name without .safetensors). The name lives in `buf`.
static int split_model(const char *arg, char *buf, size_t cap, const char **name, const char **path) {
    const char *eq = strchr(arg, '=');
    if (eq && !memchr(arg, '/', (size_t)(eq - arg))) {
        snprintf(buf, cap, "%.*s", (int)(eq - arg), arg);
        *path = eq + 1;
    } else {
        tft_model_name_of_path(arg, buf, cap);
        *path = arg;
    }
    *name = buf;
    if (!**name || strchr(*name, '/') || strlen(*name) >= cap - 1) return -1;
    return 0;
}

static int default_workers(void) {
    cpu_set_t set;
    int       n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    return n > 1 ? n - 1 : 1; // one core for the HTTP and batcher threads
}

// ---- signals: a self-pipe --------------------------------------------------------------------------------

static int                   sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t sig_count;

// SIGHUP: a hot-reload check on the main thread (srv_registry_check); never counts as a stop signal.
static void on_hup(int sig) {
    (void)sig;
    int  saved = errno;
    char b     = 'h';
    if (write(sig_pipe[1], &b, 1) < 0) {}
    errno = saved;
}

// Async-signal-safe: the first signal wakes the main loop through the pipe; the second ends the
// process at once (_exit is async-signal-safe; no atexit handlers, no flushing).
static void on_signal(int sig) {
    (void)sig;
    if (sig_count++ > 0) _exit(1);
    int  saved = errno;
    char b     = 1;
    if (write(sig_pipe[1], &b, 1) < 0) {} // the pipe is non-blocking; one byte is enough
    errno = saved;
}

// Fleet mode on one model: the --model one, else the only one served (a --model-dir of several
// models without --model is refused). The fleet holds a reference on the version current at start
// for its whole life (*held, released after fleet_close): its store records that version's sha256,
// so a hot reload of the file serves the new version on /v1/forecast while the fleet stays on the
// one its windows were checked against (server/API.md). NULL + err on failure.
static fleet *fleet_for_model(srv_registry *r, const char *name, srv_model **held, char *err, size_t errsz) {
    srv_lookup lk = srv_models_acquire(r, name, name ? strlen(name) : 0, held);
    if (lk != SRV_MODEL_OK) {
        snprintf(err, errsz, "--fleet: %s", lk == SRV_MODEL_NEED_NAME ? "several models are served: name the fleet's with --model"
                                            : "the fleet's model could not be loaded");
        return NULL;
    }
    fleet_options o = {.max_series = f_fleet_series, .store = f_fleet_store};
    return fleet_open((*held)->model, f_fleet, &o, err, errsz);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    int rc = parse_flags(argc, argv);
    if (rc == 1) return usage(stdout), 0;
    if (rc == 3) // the server's version is the tft.h it was built with; the library's is what it runs with
        return printf("tft-server %d.%d.%d (libtft %s, libmicrohttpd %s)\n", TFT_VERSION_MAJOR, TFT_VERSION_MINOR,
                      TFT_VERSION_PATCH, tft_version_string(), MHD_get_version()),
               0;
    if (rc) return rc;
    // Large buffers (request bodies, forecasts, replies over 1 MiB) from mmap, so that freeing them
    // gives the memory back: glibc's default threshold rises to each size freed (up to 32 MiB), after
    // which such buffers come from the heap and the process keeps its peak RSS for good.
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    static char model_name[128];
    const char *model_path = NULL;
    if (f_model && (split_model(f_model, model_name, sizeof model_name, &cfg.model_name, &model_path) ||
                    !srv_model_name_ok(cfg.model_name, strlen(cfg.model_name))))
        return bad("--model '%s': the model name must be 1 to 100 of A-Z a-z 0-9 . _ - (not starting with '.')%s",
                   f_model, "");
    cfg.model_path = model_path, cfg.host = f_host;
    cfg.model_dir = f_model_dir, cfg.api_key = f_api_key, cfg.repository_api = f_repo_api;
    cfg.port = (int32_t)f_port, cfg.workers = (int32_t)(f_workers ? f_workers : default_workers());
    cfg.max_batch = (int32_t)f_max_batch, cfg.queue_cap = (int32_t)f_queue_cap, cfg.io_threads = (int32_t)f_io;
    cfg.pin = (int32_t)f_pin, cfg.max_connections = (int32_t)f_conns, cfg.max_connections_per_ip = (int32_t)f_conns_ip;
    cfg.idle_timeout_s = (int32_t)f_idle, cfg.max_queue_delay_us = f_delay_us, cfg.request_timeout_ms = f_timeout_ms;
    cfg.drain_timeout_s = f_drain, cfg.max_body_bytes = f_body, cfg.max_header_bytes = f_header;
    cfg.max_series = f_series, cfg.max_values = f_values, cfg.log_level = f_level, cfg.access_log = f_access;
    cfg.header_timeout_s = (int32_t)f_header_s, cfg.min_body_rate = f_body_rate;
    cfg.max_output_values = f_out_values, cfg.max_pending_bytes = f_pending;
    // TEST ONLY (server/API.md "Testing hooks"): every batch waits this long before it runs, so tests can
    // fill the queue or let a deadline pass deterministically. Not a flag on purpose.
    const char *td = getenv("TFT_SERVER_TEST_BATCH_DELAY_MS");
    cfg.test_delay_ms = td ? atoi(td) : 0;
    // TEST ONLY: every client counts as remote for the repository API's access rule (tests run on loopback)
    const char *tl        = getenv("TFT_SERVER_TEST_NOT_LOOPBACK");
    cfg.test_not_loopback = tl && strcmp(tl, "1") == 0;
    log_level         = cfg.log_level;
    tft_log_set(engine_log, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0); // the ready line and access log lines go out whole, at once

    // signals: blocked while the threads start (they inherit the mask), then handled on this thread
    if (pipe(sig_pipe) != 0) return fprintf(stderr, "tft-server: error: pipe: %s\n", strerror(errno)), 1;
    for (int i = 0; i < 2; i++) fcntl(sig_pipe[i], F_SETFL, O_NONBLOCK), fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    struct sigaction sa = {0};
    sa.sa_handler       = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); // a client gone mid-reply is an error return, not a process kill
    pthread_sigmask(SIG_BLOCK, &block, &old);

    static srv_state s; // static: the HTTP and batcher threads hold pointers into it until the end
    s.cfg               = cfg;
    s.limits            = tft_req_default_limits();
    s.limits.max_series = (uint32_t)cfg.max_series;
    s.limits.max_values = (uint64_t)cfg.max_values;
    srv_metrics_init(&s.metrics, NULL, NULL, NULL, cfg.workers); // (the registry writes tft_model_info)
    char err[512];
    fleet     *fl          = NULL; // fleet mode's core (s.fleet serves it)
    srv_model *fleet_model = NULL; // the model version the fleet runs on
    rc = 1;
    if (srv_routes_init(&s, err, sizeof err) != 0) {
        fprintf(stderr, "tft-server: error: %s\n", err);
        goto out;
    }
    srv_registry_config rcfg = {.dir              = cfg.model_dir,
                                .batcher          = {.workers         = cfg.workers,
                                                     .max_batch       = cfg.max_batch,
                                                     .queue_cap       = cfg.queue_cap,
                                                     .max_delay_ns    = cfg.max_queue_delay_us * 1000,
                                                     .pin             = cfg.pin,
                                                     .test_delay_ms   = cfg.test_delay_ms,
                                                     .max_context_mib = (int32_t)f_context_mib,
                                                     .warmup          = (int32_t)f_warmup,
                                                     .log             = batcher_log},
                                .metrics          = &s.metrics,
                                .budget_bytes     = f_model_mib << 20,
                                .describe         = srv_routes_describe,
                                .free_description = srv_routes_free_description,
                                .user             = &s,
                                .log              = batcher_log};
    s.models = srv_registry_new(&rcfg, err, sizeof err);
    if (!s.models || (cfg.model_path && srv_registry_add(s.models, cfg.model_name, cfg.model_path, err, sizeof err)) ||
        (cfg.model_dir && srv_registry_scan_dir(s.models, err, sizeof err) < 0)) {
        fprintf(stderr, "tft-server: error: %s\n", err);
        goto out;
    }
    if (f_fleet) {
        fl = fleet_for_model(s.models, cfg.model_path ? cfg.model_name : NULL, &fleet_model, err, sizeof err);
        s.fleet = fl ? fleet_srv_start(fl, err, sizeof err) : NULL;
        if (s.fleet) fleet_srv_set_max_output_values(s.fleet, cfg.max_output_values);
        if (!s.fleet) {
            fprintf(stderr, "tft-server: error: %s\n", err);
            goto out;
        }
        fleet_info fi;
        fleet_get_info(fl, &fi);
        srv_log(TFT_LOG_INFO, "fleet: %lld series restored of %lld reserved (%.1f MiB), step %llds, window %lld",
                (long long)fi.n_series, (long long)fi.max_series, (double)fi.bytes_reserved / 1048576.0,
                (long long)(fi.step_ms / 1000), (long long)fi.window);
    }
    http_config hc = {.host                   = cfg.host,
                      .port                   = cfg.port,
                      .max_connections        = (unsigned)cfg.max_connections,
                      .max_connections_per_ip = (unsigned)cfg.max_connections_per_ip,
                      .idle_timeout_s         = (unsigned)cfg.idle_timeout_s,
                      .header_timeout_s       = (unsigned)cfg.header_timeout_s,
                      .min_body_rate          = (size_t)cfg.min_body_rate,
                      .max_body_bytes         = (size_t)cfg.max_body_bytes,
                      .connection_memory      = (size_t)cfg.max_header_bytes,
                      .io_threads             = cfg.io_threads};
    srv_routes_http_config(&s, &hc);
    s.http = http_start(&hc, err, sizeof err);
    if (!s.http) {
        fprintf(stderr, "tft-server: error: %s\n", err);
        goto out;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    atomic_store(&s.ready, 1);
    int v6 = strchr(cfg.host, ':') != NULL;
    if (cfg.model_name)
        printf("tft-server: listening on http://%s%s%s:%d model=%s\n", v6 ? "[" : "", cfg.host, v6 ? "]" : "",
               http_port(s.http), cfg.model_name);
    else
        printf("tft-server: listening on http://%s%s%s:%d models=%d\n", v6 ? "[" : "", cfg.host, v6 ? "]" : "",
               http_port(s.http), srv_registry_count(s.models));
    fflush(stdout);
    srv_log(TFT_LOG_INFO, "%d models, %d workers each, max batch %d, queue %d, delay %lld us",
            srv_registry_count(s.models), cfg.workers, cfg.max_batch, cfg.queue_cap, (long long)cfg.max_queue_delay_us);

    // serve until SIGTERM/SIGINT; SIGHUP and every --reload-poll-s: look for changed model files
    for (int stop = 0; !stop;) {
        struct pollfd p = {sig_pipe[0], POLLIN, 0};
        int           k = poll(&p, 1, f_poll_s > 0 ? (int)(f_poll_s * 1000) : -1);
        int           hup = k == 0; // (the poll interval passed)
        char          b[16];
        ssize_t       n = k > 0 ? read(sig_pipe[0], b, sizeof b) : 0;
        for (ssize_t i = 0; i < n; i++) b[i] == 'h' ? (void)(hup = 1) : (void)(stop = 1);
        if (!stop && hup) srv_registry_check(s.models);
    }
    // drain: not ready, no new connections, queued and running requests finish
    atomic_store(&s.draining, 1);
    atomic_store(&s.ready, 0);
    srv_registry_drain(s.models);
    http_quiesce(s.http);
    srv_log(TFT_LOG_INFO, "draining: %lld requests in progress", (long long)http_active(s.http));
    int64_t deadline = now_ns() + cfg.drain_timeout_s * 1000000000;
    while (http_active(s.http) > 0 || !srv_registry_idle(s.models)) {
        if (now_ns() >= deadline) {
            // connections are still suspended: MHD_stop_daemon would abort, so leave without it
            srv_log(TFT_LOG_ERROR, "drain timeout (%llds): %lld requests unanswered", (long long)cfg.drain_timeout_s,
                    (long long)http_active(s.http));
            fflush(stdout);
            _exit(1);
        }
        struct pollfd p = {sig_pipe[0], POLLIN, 0};
        poll(&p, 1, 5); // (a second signal _exits from the handler)
    }
    srv_log(TFT_LOG_INFO, "drained; stopping");
    rc = 0;
out:
    http_stop(s.http); // every connection is idle or gone: nothing is suspended
    fleet_srv_stop(s.fleet); // after the HTTP layer: no fleet request is deferred any more
    fleet_close(fl);
    srv_model_release(fleet_model); // the fleet's reference on its model version
    srv_registry_free(s.models);
    srv_routes_free(&s);
    close(sig_pipe[0]), close(sig_pipe[1]);
    return rc;
}
