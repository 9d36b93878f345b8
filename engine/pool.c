// pool.c: the worker threads of a context, started once by tft_context_new. A call hands every
// lane the same job; lane 0 runs on the caller's thread, lanes 1..n-1 on the workers, and the call
// returns when all are done. No allocation and no thread creation per call.
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include "internal.h"

static void *worker_main(void *arg) {
    tft_pool *p    = ((tft_pool_arg *)arg)->p;
    int       lane = ((tft_pool_arg *)arg)->lane;
    uint64_t  seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->gen == seen && !p->stop) pthread_cond_wait(&p->go, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen           = p->gen;
        tft_job_fn fn  = p->fn;
        void      *job = p->arg;
        int        use = lane < p->active;
        pthread_mutex_unlock(&p->mu);
        if (use) fn(job, lane);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
}

tft_status tft_pool_start(tft_pool *p, int n_workers) {
    memset(p, 0, sizeof *p);
    if (pthread_mutex_init(&p->mu, NULL) != 0) return tft__fail(TFT_ERR_NOMEM, "tft_context_new: cannot create a mutex");
    p->inited = 1;
    if (pthread_cond_init(&p->go, NULL) != 0 || pthread_cond_init(&p->done, NULL) != 0)
        return tft__fail(TFT_ERR_NOMEM, "tft_context_new: cannot create a condition variable");
    p->inited = 2;
    for (int i = 0; i < n_workers; i++) {
        p->args[i].p    = p;
        p->args[i].lane = i + 1;
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->args[i]) != 0)
            return tft__fail(TFT_ERR_NOMEM, "tft_context_new: cannot start worker thread %d", i + 1);
        p->n = i + 1;
    }
    return TFT_OK;
}

void tft_pool_run(tft_pool *p, tft_job_fn fn, void *arg, int lanes) {
    if (lanes <= 1 || p->n == 0) {
        fn(arg, 0);
        return;
    }
    p->busy = 1;
    pthread_mutex_lock(&p->mu);
    p->fn      = fn;
    p->arg     = arg;
    p->active  = lanes;
    p->pending = p->n;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    p->busy = 0;
}

void tft_barrier_init(tft_barrier *b, int n) {
    atomic_init(&b->count, 0);
    atomic_init(&b->gen, 0u);
    b->n = n;
}

void tft_barrier_wait(tft_barrier *b) {
    const unsigned g = atomic_load_explicit(&b->gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) == b->n - 1) {
        atomic_store_explicit(&b->count, 0, memory_order_relaxed); // before the release below
        atomic_fetch_add_explicit(&b->gen, 1u, memory_order_acq_rel);
        return;
    }
    for (unsigned spins = 0; atomic_load_explicit(&b->gen, memory_order_acquire) == g; spins++) {
        if (spins < 4096) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            sched_yield(); // the lane we wait for may have lost its core: give it back
        }
    }
}

void tft_pool_stop(tft_pool *p) {
    if (p->inited < 2) {
        if (p->inited == 1) pthread_mutex_destroy(&p->mu);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
}
