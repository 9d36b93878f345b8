// simt.cc: the SIMT harness's engine (see simt.h): fibers and barriers, the runtime calls, streams,
// events, graph capture and the cuBLAS GEMM on the CPU.
//
// Fibers: one per CUDA thread of a block, each with its own mmap'd stack (a PROT_NONE guard page
// below it), pooled and reused across blocks and launches. On x86-64 a fiber switch is a few
// instructions (simt_switch below: callee-saved registers, MXCSR and the x87 control word, the
// stack pointer); elsewhere it is ucontext's swapcontext, which also saves the signal mask with a
// system call (~20x slower). The launching host thread is
// the scheduler: it resumes every runnable fiber in thread order; a fiber runs until it waits at a
// barrier / warp collective (then it yields back) or returns from the kernel. A pass over the block
// that resumes nobody while some fiber still waits is a deadlock (e.g. __syncthreads inside a
// branch some threads never reach while others wait at a warp collective): the launch fails.
//
// Sanitizers: under ASan, every switch is announced (__sanitizer_start/finish_switch_fiber) so ASan
// tracks the fiber stacks. Under TSan (SIMT_TSAN: this file is then compiled WITHOUT
// -fsanitize=thread, so the harness's own bookkeeping is invisible to TSan while the kernels are
// instrumented) every fiber is a TSan fiber and every switch is __tsan_switch_to_fiber(..., no_sync):
// the only happens-before edges between CUDA threads are the ones barriers make (release on arrival,
// acquire on departure), plus launch start (host -> threads) and launch end (threads -> host).
//
// Errors: a bad launch configuration is the error cudaGetLastError returns (nothing runs); a
// failure inside a kernel (deadlock, mismatched warp collective, shuffle from a lane outside the
// mask) prints "simt: <kernel> block (x,y,z): <what>" on stderr, abandons the launch and is
// reported as cudaErrorLaunchFailure by the next synchronizing call (and cudaGetLastError), like an
// asynchronous kernel fault on the device.
#include "simt.h"

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#include <vector>

#if defined(__x86_64__)
#define SIMT_ASM_SWITCH 1
// simt_switch(save, next): saves the callee-saved state on this stack, stores the stack pointer in
// *save, continues on the stack `next` (one saved by simt_switch, or one armed by arm_stack).
// simt_fiber_start: where an armed stack first returns to; the fiber is in %r12.
extern "C" void simt_switch(void **save, void *next);
extern "C" void simt_fiber_start(void);
extern "C" __attribute__((visibility("hidden"))) void simt_fiber_main(void *f);
asm(R"(
    .text
    .globl simt_switch
    .hidden simt_switch
    .type simt_switch, @function
simt_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size simt_switch, .-simt_switch

    .globl simt_fiber_start
    .hidden simt_fiber_start
    .type simt_fiber_start, @function
simt_fiber_start:
    movq %r12, %rdi
    call simt_fiber_main
    ud2
    .size simt_fiber_start, .-simt_fiber_start
)");
#endif

#include "cublas_v2.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define SIMT_ASAN 1
#endif
#ifdef SIMT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace simt {
thread_local thread_regs *tls_regs;
}

namespace {

// ---- limits of the device the harness pretends to be (an H100/H200, sm_90) -------------------
constexpr int    kMaxThreads     = 1024;
constexpr int    kDefaultSmem    = 48 * 1024;  // dynamic shared memory without an opt-in
constexpr int    kOptinSmem      = 232448;     // cudaDevAttrMaxSharedMemoryPerBlockOptin (227 KiB)
constexpr int    kSMs            = 132;
constexpr size_t kStackBytes     = 256 * 1024; // per fiber; kernels keep small frames
constexpr size_t kAllocAlign     = 256;        // cudaMalloc's alignment

// Everything below is guarded by g_lock: launches are serialized process-wide (a kernel can only
// run on the host thread that holds it).
std::recursive_mutex g_lock;
thread_local cudaError_t tls_last_error = cudaSuccess; // launch configuration errors
cudaError_t              g_async_error  = cudaSuccess; // a kernel failure, for the next sync
unsigned long long       g_launches_run = 0;

std::map<uintptr_t, size_t>    g_allocs; // device allocations: base -> bytes
std::set<void *>               g_pinned; // cudaMallocHost
std::map<const void *, int>    g_max_dyn_smem;

// ---- fibers -----------------------------------------------------------------------------------
enum fiber_state { F_RUN, F_WAIT, F_DONE, F_DEAD };
enum coll_kind { K_NONE, K_BAR, K_SHFL, K_BALLOT, K_SYNCWARP };

struct fiber {
    simt::thread_regs regs; // first member: tls_regs points at it, self() casts back
#ifdef SIMT_ASM_SWITCH
    void *sp = nullptr; // the saved stack pointer while it does not run
#else
    ucontext_t uc;
#endif
    char             *map = nullptr, *stack = nullptr;
    void             *tsan       = nullptr;
    void             *asan_fake  = nullptr;
    int               linear = 0, lane = 0, warp = 0;
    fiber_state       state  = F_DONE;
    // the collective this fiber waits in: what it brought, and what it gets back
    coll_kind ckind = K_NONE;
    unsigned  cmask = 0, cgen = 0;
    uint64_t  cval  = 0;
    int       cb = 0, cc = 0, cmode = 0;
    uint64_t  cres = 0, ccount = 0;
};

// The block being run.
struct block_run {
    const std::function<void()> *body = nullptr;
    const char                  *name = nullptr;
    dim3                         grid, block;
    uint3                        bidx{0, 0, 0};
    int                          nthreads = 0, nwarps = 0;
    void                        *smem     = nullptr;
    int                          live     = 0;
    int                          bar_arrived = 0, bar_sum = 0;
    unsigned                     bar_gen = 0;
    unsigned                     warp_live[kMaxThreads / 32], warp_arrived[kMaxThreads / 32];
    unsigned                     warp_gen[kMaxThreads / 32];
    fiber                      **f = nullptr;
#ifdef SIMT_ASM_SWITCH
    void *sched_sp = nullptr;
#else
    ucontext_t sched_uc;
#endif
    const void                  *host_bottom = nullptr;
    size_t                       host_size   = 0;
    void                        *sched_tsan  = nullptr;
    bool                         failed      = false;
    char                         msg[320];
    // TSan sync objects (only their addresses matter): block barrier and warp collectives by
    // generation parity, launch start and end
    char tsan_bar[2], tsan_warp[kMaxThreads / 32][2], tsan_start, tsan_done;
};

// The fibers, grown to the largest block seen, released at exit.
struct fiber_pool {
    std::vector<fiber *> v;
    ~fiber_pool() {
        for (fiber *f : v) {
#ifdef SIMT_TSAN
            __tsan_destroy_fiber(f->tsan);
#endif
            munmap(f->map, kStackBytes + (size_t)sysconf(_SC_PAGESIZE));
            delete f;
        }
    }
};
fiber_pool g_pool;
block_run *g_run = nullptr; // the block being run (one at a time, under g_lock)

inline void tsan_release(void *a) {
#ifdef SIMT_TSAN
    __tsan_release(a);
#else
    (void)a;
#endif
}
inline void tsan_acquire(void *a) {
#ifdef SIMT_TSAN
    __tsan_acquire(a);
#else
    (void)a;
#endif
}

fiber *new_fiber() {
    fiber *f       = new fiber();
    long   pg      = sysconf(_SC_PAGESIZE);
    size_t total   = kStackBytes + (size_t)pg;
    void  *m       = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        delete f;
        return nullptr;
    }
    mprotect(m, (size_t)pg, PROT_NONE); // stack overflow faults instead of corrupting the neighbour
    f->map   = (char *)m;
    f->stack = (char *)m + pg;
#ifndef SIMT_ASM_SWITCH
    getcontext(&f->uc); // once: makecontext re-arms it for every block
#endif
#ifdef SIMT_TSAN
    f->tsan = __tsan_create_fiber(0);
#endif
    return f;
}

fiber *self() {
    return reinterpret_cast<fiber *>(simt::tls_regs);
}

// fiber -> scheduler. final: the fiber never resumes (ASan drops its fake stack).
void to_sched(fiber *f, bool final) {
    block_run *R = g_run;
#ifdef SIMT_ASAN
    __sanitizer_start_switch_fiber(final ? nullptr : &f->asan_fake, R->host_bottom, R->host_size);
#endif
#ifdef SIMT_TSAN
    __tsan_switch_to_fiber(R->sched_tsan, __tsan_switch_to_fiber_no_sync);
#endif
#ifdef SIMT_ASM_SWITCH
    simt_switch(&f->sp, R->sched_sp);
#else
    swapcontext(&f->uc, &R->sched_uc);
#endif
#ifdef SIMT_ASAN
    __sanitizer_finish_switch_fiber(f->asan_fake, &R->host_bottom, &R->host_size);
#endif
}

// scheduler -> fiber, back when it yields or ends
void to_fiber(block_run *R, fiber *f) {
    simt::tls_regs = &f->regs;
#ifdef SIMT_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f->stack, kStackBytes);
#endif
#ifdef SIMT_TSAN
    __tsan_switch_to_fiber(f->tsan, __tsan_switch_to_fiber_no_sync);
#endif
#ifdef SIMT_ASM_SWITCH
    simt_switch(&R->sched_sp, f->sp);
#else
    swapcontext(&R->sched_uc, &f->uc);
#endif
#ifdef SIMT_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
    simt::tls_regs = nullptr;
}

// A kernel bug the harness found: the first one is the launch's message.
void record_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void record_fail(const char *fmt, ...) {
    block_run *R = g_run;
    if (R->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(R->msg, sizeof R->msg, fmt, ap);
    va_end(ap);
    R->failed = true;
}

// The running fiber leaves the failed block for good (the scheduler abandons the block).
[[noreturn]] void leave_failed(fiber *f) {
    f->state = F_DEAD;
    to_sched(f, true);
    abort(); // never resumed
}

void wait_here(fiber *f) {
    f->state = F_WAIT;
    to_sched(f, false);
}

void open_block_barrier(block_run *R) {
    for (int i = 0; i < R->nthreads; i++) {
        fiber *g = R->f[i];
        if (g->ckind == K_BAR && (g->state == F_WAIT || g == self())) {
            g->cres = (uint64_t)R->bar_sum, g->ccount = (uint64_t)R->bar_arrived;
            g->ckind = K_NONE;
            if (g->state == F_WAIT)
                g->state = F_RUN;
        }
    }
    R->bar_arrived = 0, R->bar_sum = 0;
    R->bar_gen++;
}

// PTX shfl.sync: the source lane of `lane` for operand b and c (segment mask, clamp) and mode.
int shfl_source(int lane, int b, int c, int mode) {
    const int segmask = (c >> 8) & 0x1f, max_lane = (lane & segmask) | (c & 0x1f & ~segmask);
    const int min_lane = lane & segmask;
    int       j = lane;
    bool      ok = false;
    switch (mode) {
    case simt::SHFL_UP: j = lane - b, ok = j >= max_lane; break;
    case simt::SHFL_DOWN: j = lane + b, ok = j <= max_lane; break;
    case simt::SHFL_BFLY: j = lane ^ b, ok = j <= max_lane; break;
    default: j = min_lane | (b & 0x1f & ~segmask), ok = j <= max_lane; break;
    }
    return ok ? j : lane;
}

const char *coll_name(int kind) {
    return kind == K_SHFL ? "shfl" : kind == K_BALLOT ? "vote" : kind == K_SYNCWARP ? "syncwarp" : "__syncthreads";
}

// Opens the collective of the lanes in mask m of warp w when all its live lanes have arrived:
// checks they agree, computes every lane's result, releases them. Returns whether it opened (or
// failed: then R->failed is set and nobody is released). caller: a lane of the collective.
bool try_open_warp(block_run *R, int w, unsigned m, fiber *caller) {
    const unsigned need = m & R->warp_live[w];
    if ((R->warp_arrived[w] & need) != need)
        return false;
    fiber   **lanes = R->f + w * 32;
    const int kind  = caller->ckind;
    unsigned  ballot = 0;
    for (int l = 0; l < 32; l++)
        if (need >> l & 1u) {
            fiber *g = lanes[l];
            if (g->ckind != kind || g->cmask != m) {
                record_fail("warp %d: lanes disagree on the collective (lane %d: %s mask 0x%08x, lane %d: %s mask "
                            "0x%08x)",
                            w, caller->lane, coll_name(kind), m, l, coll_name(g->ckind), g->cmask);
                return true;
            }
            ballot |= (g->cval != 0 ? 1u : 0u) << l;
        }
    for (int l = 0; l < 32; l++)
        if (need >> l & 1u) {
            fiber *g = lanes[l];
            if (kind == K_SHFL) {
                const int j = shfl_source(l, g->cb, g->cc, g->cmode);
                if (!(need >> j & 1u)) {
                    record_fail("warp %d: lane %d shuffles from lane %d, which is %s (mask 0x%08x)", w, l, j,
                                (m >> j & 1u) ? "not running (exited or beyond blockDim)" : "not in the mask", m);
                    return true;
                }
                g->cres = lanes[j]->cval;
            } else {
                g->cres = ballot;
            }
        }
    for (int l = 0; l < 32; l++)
        if (need >> l & 1u) {
            fiber *g = lanes[l];
            g->ckind = K_NONE;
            if (g->state == F_WAIT)
                g->state = F_RUN;
        }
    R->warp_arrived[w] &= ~need;
    R->warp_gen[w]++;
    return true;
}

uint64_t warp_collective(coll_kind kind, unsigned mask, uint64_t val, int b, int c, int mode) {
    fiber *f = self();
    if (!f) {
        fprintf(stderr, "simt: a warp intrinsic was called outside a kernel\n");
        abort();
    }
    block_run *R = g_run;
    const int  w = f->warp;
    if (!(mask >> f->lane & 1u)) {
        record_fail("warp %d lane %d: calls a warp collective with mask 0x%08x that leaves it out", w, f->lane, mask);
        leave_failed(f);
    }
    f->ckind = kind, f->cmask = mask, f->cval = val, f->cb = b, f->cc = c, f->cmode = mode;
    f->cgen = R->warp_gen[w];
    R->warp_arrived[w] |= 1u << f->lane;
    tsan_release(&R->tsan_warp[w][f->cgen & 1]);
    if (!try_open_warp(R, w, mask, f))
        wait_here(f);
    if (R->failed)
        leave_failed(f);
    tsan_acquire(&R->tsan_warp[w][f->cgen & 1]);
    return f->cres;
}

// A thread returned from the kernel: it no longer counts for barriers and warp collectives.
void thread_exit(block_run *R, fiber *f) {
    R->live--;
    R->warp_live[f->warp] &= ~(1u << f->lane);
    if (R->bar_arrived > 0 && R->bar_arrived == R->live)
        open_block_barrier(R);
    for (int l = 0; l < 32 && R->warp_arrived[f->warp]; l++) // a pending collective may now be complete
        if (R->warp_arrived[f->warp] >> l & 1u) {
            fiber *g = R->f[f->warp * 32 + l];
            try_open_warp(R, f->warp, g->cmask, g);
        }
}

void fiber_body(fiber *f) {
    block_run *R = g_run;
#ifdef SIMT_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &R->host_bottom, &R->host_size);
#endif
    tsan_acquire(&R->tsan_start);
    (*R->body)();
    f->state = F_DONE;
    thread_exit(R, f);
    tsan_release(&R->tsan_done);
    to_sched(f, true);
    abort(); // a finished fiber is never resumed
}

#ifdef SIMT_ASM_SWITCH
// Arms f to start in fiber_body at its next resume: the frame simt_switch pops, from the stack
// top down: [pad][simt_fiber_start][rbp = 0: the end of the frame chain][rbx][r12 = f][r13]
// [r14][r15][MXCSR 0x1F80, x87 control word 0x037F: the defaults], so that simt_fiber_start runs
// with %rsp 16-byte aligned, as a call needs.
void arm_stack(fiber *f) {
    uint64_t *top = reinterpret_cast<uint64_t *>(f->stack + kStackBytes);
    top[-1]       = 0;
    top[-2]       = 0;
    top[-3]       = (uint64_t)(uintptr_t)&simt_fiber_start;
    top[-4]       = 0;                     // rbp
    top[-5]       = 0;                     // rbx
    top[-6]       = (uint64_t)(uintptr_t)f; // r12
    top[-7] = top[-8] = top[-9] = 0;        // r13, r14, r15
    top[-10]      = 0x1F80ull | 0x037Full << 32;
    f->sp         = &top[-10];
}
#else
void fiber_main_uc(unsigned hi, unsigned lo) {
    fiber_body(reinterpret_cast<fiber *>(((uintptr_t)hi << 32) | (uintptr_t)lo));
}
void arm_stack(fiber *f) {
    f->uc.uc_stack.ss_sp   = f->stack;
    f->uc.uc_stack.ss_size = kStackBytes;
    f->uc.uc_link          = nullptr;
    const uintptr_t p      = (uintptr_t)f;
    makecontext(&f->uc, (void (*)())fiber_main_uc, 2, (unsigned)(p >> 32), (unsigned)(p & 0xffffffffu));
}
#endif

// Runs one block to completion (or failure). Returns false on failure (R->msg says why).
bool run_block(block_run *R) {
    const dim3 bd = R->block;
    R->live = R->nthreads, R->bar_arrived = 0, R->bar_sum = 0, R->failed = false;
    for (int w = 0; w < R->nwarps; w++) {
        const int n       = R->nthreads - w * 32 < 32 ? R->nthreads - w * 32 : 32;
        R->warp_live[w]   = n == 32 ? 0xffffffffu : (1u << n) - 1u;
        R->warp_arrived[w] = 0;
    }
    for (int i = 0; i < R->nthreads; i++) {
        fiber *f           = R->f[i];
        f->regs.thread_idx = uint3{(unsigned)i % bd.x, ((unsigned)i / bd.x) % bd.y, (unsigned)i / (bd.x * bd.y)};
        f->regs.block_idx  = R->bidx;
        f->regs.block_dim  = R->block;
        f->regs.grid_dim   = R->grid;
        f->regs.dyn_smem   = R->smem;
        f->linear = i, f->lane = i % 32, f->warp = i / 32;
        f->state = F_RUN, f->ckind = K_NONE;
        arm_stack(f);
    }
    for (;;) {
        bool resumed = false, all_done = true;
        for (int i = 0; i < R->nthreads && !R->failed; i++) {
            fiber *f = R->f[i];
            if (f->state == F_RUN) {
                resumed = true;
                to_fiber(R, f);
            }
            all_done = all_done && f->state == F_DONE;
        }
        if (R->failed)
            break;
        if (all_done)
            return true;
        if (!resumed) {
            int at_bar = 0, at_warp = 0;
            for (int i = 0; i < R->nthreads; i++)
                if (R->f[i]->state == F_WAIT)
                    (R->f[i]->ckind == K_BAR ? at_bar : at_warp)++;
            snprintf(R->msg, sizeof R->msg,
                     "deadlock: %d of %d threads wait at __syncthreads, %d at a warp collective, %d have returned",
                     at_bar, R->nthreads, at_warp, R->nthreads - R->live);
            R->failed = true;
            break;
        }
    }
    // Abandoned mid-kernel: the stuck fibers still hand their accesses to the host (as a finished
    // thread does; only TSan's notion of the current fiber switches, not the stack), then get a
    // fresh TSan context (their shadow stacks hold frames that will never return).
    for (int i = 0; i < R->nthreads; i++) {
        fiber *f = R->f[i];
        if (f->state != F_DONE) {
#ifdef SIMT_TSAN
            __tsan_switch_to_fiber(f->tsan, __tsan_switch_to_fiber_no_sync);
            __tsan_release(&R->tsan_done);
            __tsan_switch_to_fiber(R->sched_tsan, __tsan_switch_to_fiber_no_sync);
            __tsan_destroy_fiber(f->tsan);
            f->tsan = __tsan_create_fiber(0);
#endif
            f->state = F_DONE;
        }
    }
    return false;
}

void run_grid(const char *name, dim3 grid, dim3 block, size_t smem, const std::function<void()> &body) {
    g_launches_run++;
    block_run R;
    R.body = &body, R.name = name, R.grid = grid, R.block = block;
    R.nthreads = (int)(block.x * block.y * block.z);
    R.nwarps   = (R.nthreads + 31) / 32;
    while ((int)g_pool.v.size() < R.nthreads) {
        fiber *f = new_fiber();
        if (!f) {
            fprintf(stderr, "simt: %s: cannot map fiber stacks\n", name);
            g_async_error = cudaErrorLaunchFailure;
            return;
        }
        g_pool.v.push_back(f);
    }
    R.f = g_pool.v.data();
#ifdef SIMT_TSAN
    R.sched_tsan = __tsan_get_current_fiber();
#endif
    block_run *outer = g_run;
    g_run            = &R;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                R.bidx = uint3{x, y, z};
                R.smem = malloc(smem ? smem : 1);
                if (!R.smem) {
                    fprintf(stderr, "simt: %s: out of host memory for %zu B of shared memory\n", name, smem);
                    g_async_error = cudaErrorLaunchFailure;
                    g_run         = outer;
                    return;
                }
                memset(R.smem, 0xff, smem); // uninitialized shared memory reads as NaN / -1
                // host -> this block's threads (the arguments, memory written before the launch, the
                // shared-memory fill), and back before the host frees the shared memory
                tsan_release(&R.tsan_start);
                const bool ok = run_block(&R);
                tsan_acquire(&R.tsan_done);
                free(R.smem);
                if (!ok) {
                    fprintf(stderr, "simt: %s block (%u,%u,%u) of (%u,%u,%u) x (%u,%u,%u): %s\n", name, x, y, z,
                            grid.x, grid.y, grid.z, block.x, block.y, block.z, R.msg);
                    g_async_error = cudaErrorLaunchFailure;
                    g_run         = outer;
                    return;
                }
            }
    g_run = outer;
}

// ---- streams, events, graphs ------------------------------------------------------------------
typedef std::function<void()> stream_op;
} // namespace

#ifdef SIMT_ASM_SWITCH
extern "C" void simt_fiber_main(void *f) {
    fiber_body(static_cast<fiber *>(f));
}
#endif

struct simt_stream {
    unsigned               flags     = 0;
    bool                   capturing = false, invalidated = false;
    std::vector<stream_op> captured;
};
struct simt_event {
    unsigned flags    = 0;
    bool     recorded = false;
    double   t_ms     = 0.0;
};
struct simt_graph {
    std::vector<stream_op> ops;
};
struct simt_graph_exec {
    std::vector<stream_op> ops;
};

namespace {
std::set<simt_stream *>     g_streams;
std::set<simt_event *>      g_events;
std::set<simt_graph *>      g_graphs;
std::set<simt_graph_exec *> g_execs;

bool stream_ok(cudaStream_t s) {
    return !s || g_streams.count(s);
}

// Runs op now, or records it when s is capturing.
cudaError_t enqueue(cudaStream_t s, stream_op op) {
    if (!stream_ok(s))
        return cudaErrorInvalidResourceHandle;
    if (s && s->capturing) {
        s->captured.push_back(std::move(op));
        return cudaSuccess;
    }
    op();
    return cudaSuccess;
}

// A synchronous call while s is capturing: not allowed, and it invalidates the capture.
bool capture_breaks(cudaStream_t s) {
    if (s && g_streams.count(s) && s->capturing) {
        s->invalidated = true;
        return true;
    }
    return false;
}
bool any_capturing() {
    for (simt_stream *s : g_streams)
        if (s->capturing)
            return true;
    return false;
}

// Handles (streams, events, graphs) live in a registry, so a stale or foreign one is an error.
template <class T> cudaError_t handle_new(std::set<T *> &reg, T **out, unsigned flags) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!out)
        return cudaErrorInvalidValue;
    *out          = new T();
    (*out)->flags = flags;
    reg.insert(*out);
    return cudaSuccess;
}
template <class T> cudaError_t handle_delete(std::set<T *> &reg, T *h, cudaError_t unknown) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!h || !reg.erase(h))
        return unknown;
    delete h;
    return cudaSuccess;
}

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The device allocation holding [p, p + n), or false.
bool device_range(const void *p, size_t n) {
    const uintptr_t a  = (uintptr_t)p;
    auto            it = g_allocs.upper_bound(a);
    if (it == g_allocs.begin())
        return false;
    --it;
    return a >= it->first && a - it->first <= it->second && n <= it->second - (a - it->first);
}

cudaError_t take_async_error() {
    const cudaError_t e = g_async_error;
    g_async_error       = cudaSuccess;
    return e;
}

// cudaMemcpy's checks: the device side(s) of the copy must lie inside device allocations. dbytes,
// sbytes: the extent of the copy at dst and at src (they differ for a 2-D copy).
cudaError_t check_copy2(void *dst, size_t dbytes, const void *src, size_t sbytes, cudaMemcpyKind kind) {
    if ((dbytes || sbytes) && (!dst || !src))
        return cudaErrorInvalidValue;
    switch (kind) {
    case cudaMemcpyHostToHost: return cudaSuccess;
    case cudaMemcpyHostToDevice: return device_range(dst, dbytes) ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToHost: return device_range(src, sbytes) ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToDevice:
        return device_range(dst, dbytes) && device_range(src, sbytes) ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDefault: return cudaSuccess;
    }
    return cudaErrorInvalidMemcpyDirection;
}
cudaError_t check_copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    return check_copy2(dst, bytes, src, bytes, kind);
}
} // namespace

// ---- simt:: entry points (the fiber side of the intrinsics, launches) -------------------------
namespace simt {
int block_barrier(int pred, int kind) {
    fiber *f = self();
    if (!f) {
        fprintf(stderr, "simt: __syncthreads called outside a kernel\n");
        abort();
    }
    block_run     *R   = g_run;
    const unsigned gen = R->bar_gen;
    f->ckind           = K_BAR;
    R->bar_arrived++;
    R->bar_sum += pred != 0;
    tsan_release(&R->tsan_bar[gen & 1]);
    if (R->bar_arrived == R->live)
        open_block_barrier(R);
    else
        wait_here(f);
    tsan_acquire(&R->tsan_bar[gen & 1]);
    switch (kind) {
    case 1: return (int)f->cres;
    case 2: return f->cres == f->ccount;
    case 3: return f->cres != 0;
    default: return 0;
    }
}

uint64_t warp_shfl(unsigned mask, uint64_t bits, int b, int c, int mode) {
    return warp_collective(K_SHFL, mask, bits, b, c, mode);
}
unsigned warp_ballot(unsigned mask, int pred) {
    return (unsigned)warp_collective(K_BALLOT, mask, pred != 0, 0, 0, 0);
}
void warp_sync(unsigned mask) {
    warp_collective(K_SYNCWARP, mask, 0, 0, 0, 0);
}
void *dynamic_shared(void) {
    return tls_regs ? tls_regs->dyn_smem : nullptr;
}
unsigned long long launches_run(void) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    return g_launches_run;
}
} // namespace simt
// The same for C tests (tests/test_cuda.c built with -DTFT_SIMT): a launcher that must not launch
// (empty work, a refused argument) leaves it unchanged.
extern "C" unsigned long long simt_launches_run(void) {
    return simt::launches_run();
}
namespace simt {

void launch(const void *kernel, const char *name, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
            std::function<void()> body) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    const unsigned long long nthreads = (unsigned long long)block.x * block.y * block.z;
    cudaError_t              e        = cudaSuccess;
    if (tls_regs) { // no dynamic parallelism
        fprintf(stderr, "simt: %s launched from inside a kernel (not supported)\n", name);
        e = cudaErrorLaunchFailure;
    } else if (nthreads == 0 || nthreads > kMaxThreads || block.x > 1024 || block.y > 1024 || block.z > 64 ||
               grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 ||
               grid.z > 65535) {
        e = cudaErrorInvalidConfiguration;
    } else if (smem > (size_t)kDefaultSmem) { // above 48 KiB only after cudaFuncSetAttribute
        auto it = g_max_dyn_smem.find(kernel);
        if (it == g_max_dyn_smem.end() || smem > (size_t)it->second)
            e = cudaErrorInvalidValue;
    }
    if (e == cudaSuccess)
        e = enqueue(stream, [name, grid, block, smem, body]() { run_grid(name, grid, block, smem, body); });
    if (e != cudaSuccess)
        tls_last_error = e;
}
} // namespace simt

// ---- runtime API ------------------------------------------------------------------------------
const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidPitchValue: return "cudaErrorInvalidPitchValue";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
    }
    return "cudaErrorUnknown";
}
const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidPitchValue: return "invalid pitch argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureWrongThread:
        return "attempt to terminate a thread-local capture sequence from another thread";
    }
    return "unknown error";
}

cudaError_t cudaGetLastError(void) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    cudaError_t e  = tls_last_error;
    tls_last_error = cudaSuccess;
    const cudaError_t a = take_async_error();
    return e != cudaSuccess ? e : a;
}
cudaError_t cudaPeekAtLastError(void) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    return tls_last_error != cudaSuccess ? tls_last_error : g_async_error;
}
cudaError_t cudaGetDeviceCount(int *n) {
    if (!n)
        return cudaErrorInvalidValue;
    *n = 1;
    return cudaSuccess;
}
cudaError_t cudaGetDevice(int *dev) {
    if (!dev)
        return cudaErrorInvalidValue;
    *dev = 0;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int dev) {
    return dev == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int dev) {
    if (!value)
        return cudaErrorInvalidValue;
    if (dev != 0)
        return cudaErrorInvalidDevice;
    switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = kMaxThreads; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = kDefaultSmem; return cudaSuccess;
    case cudaDevAttrWarpSize: *value = 32; return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = kSMs; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = kOptinSmem; return cudaSuccess;
    }
    return cudaErrorInvalidValue;
}
cudaError_t cudaDeviceSynchronize(void) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (any_capturing())
        return cudaErrorStreamCaptureUnsupported;
    return take_async_error();
}
cudaError_t cudaFuncSetAttributeImpl(const void *kernel, cudaFuncAttribute attr, int value) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!kernel || attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || value > kOptinSmem)
        return cudaErrorInvalidValue;
    g_max_dyn_smem[kernel] = value;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!p)
        return cudaErrorInvalidValue;
    *p = nullptr;
    if (bytes == 0)
        return cudaSuccess;
    void *m = nullptr;
    if (posix_memalign(&m, kAllocAlign, bytes) != 0)
        return cudaErrorMemoryAllocation;
    memset(m, 0xff, bytes); // device memory is not zeroed: unwritten floats read as NaN
    g_allocs[(uintptr_t)m] = bytes;
    *p                     = m;
    return cudaSuccess;
}
cudaError_t cudaFree(void *p) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!p)
        return cudaSuccess;
    auto it = g_allocs.find((uintptr_t)p);
    if (it == g_allocs.end())
        return cudaErrorInvalidValue;
    g_allocs.erase(it);
    free(p);
    return cudaSuccess;
}
cudaError_t cudaMallocHost(void **p, size_t bytes) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!p)
        return cudaErrorInvalidValue;
    *p = malloc(bytes ? bytes : 1);
    if (!*p)
        return cudaErrorMemoryAllocation;
    g_pinned.insert(*p);
    return cudaSuccess;
}
cudaError_t cudaFreeHost(void *p) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!p)
        return cudaSuccess;
    if (!g_pinned.erase(p))
        return cudaErrorInvalidValue;
    free(p);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (any_capturing()) // a synchronous copy is not allowed while a (global-mode) capture runs
        return cudaErrorStreamCaptureUnsupported;
    const cudaError_t e = check_copy(dst, src, bytes, kind);
    if (e != cudaSuccess)
        return e;
    if (bytes)
        memmove(dst, src, bytes);
    return take_async_error(); // synchronous: reports an earlier kernel's fault
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    const cudaError_t e = check_copy(dst, src, bytes, kind);
    if (e != cudaSuccess)
        return e;
    return bytes ? enqueue(s, [dst, src, bytes]() { memmove(dst, src, bytes); }) : cudaSuccess;
}
cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t s) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (width > dpitch || width > spitch)
        return cudaErrorInvalidPitchValue;
    if (width == 0 || height == 0)
        return cudaSuccess;
    const cudaError_t e = check_copy2(dst, (height - 1) * dpitch + width, src, (height - 1) * spitch + width, kind);
    if (e != cudaSuccess)
        return e;
    return enqueue(s, [dst, dpitch, src, spitch, width, height]() {
        for (size_t r = 0; r < height; r++)
            memmove((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    });
}
cudaError_t cudaMemset(void *p, int value, size_t bytes) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (any_capturing())
        return cudaErrorStreamCaptureUnsupported;
    if (bytes && !device_range(p, bytes))
        return cudaErrorInvalidValue;
    if (bytes)
        memset(p, value, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (bytes && !device_range(p, bytes))
        return cudaErrorInvalidValue;
    return bytes ? enqueue(s, [p, value, bytes]() { memset(p, value, bytes); }) : cudaSuccess;
}
cudaError_t cudaMemset2DAsync(void *p, size_t pitch, int value, size_t width, size_t height, cudaStream_t s) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (width > pitch && height > 1)
        return cudaErrorInvalidValue;
    if (width == 0 || height == 0)
        return cudaSuccess;
    if (!device_range(p, (height - 1) * pitch + width))
        return cudaErrorInvalidValue;
    return enqueue(s, [p, pitch, value, width, height]() {
        for (size_t r = 0; r < height; r++)
            memset((char *)p + r * pitch, value, width);
    });
}

cudaError_t cudaStreamCreate(cudaStream_t *s) {
    return cudaStreamCreateWithFlags(s, cudaStreamDefault);
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
    return handle_new(g_streams, s, flags);
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
    return handle_delete(g_streams, s, cudaErrorInvalidResourceHandle);
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!stream_ok(s))
        return cudaErrorInvalidResourceHandle;
    if (capture_breaks(s))
        return cudaErrorStreamCaptureUnsupported;
    return take_async_error(); // every op already ran when it was enqueued
}
cudaError_t cudaStreamQuery(cudaStream_t s) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    return stream_ok(s) ? cudaSuccess : cudaErrorInvalidResourceHandle;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    return stream_ok(s) && g_events.count(e) ? cudaSuccess : cudaErrorInvalidResourceHandle;
}
cudaError_t cudaEventCreate(cudaEvent_t *e) {
    return cudaEventCreateWithFlags(e, cudaEventDefault);
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags) {
    return handle_new(g_events, e, flags);
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
    return handle_delete(g_events, e, cudaErrorInvalidResourceHandle);
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!g_events.count(e))
        return cudaErrorInvalidResourceHandle;
    return enqueue(s, [e]() {
        e->recorded = true;
        e->t_ms     = now_ms();
    });
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!g_events.count(e))
        return cudaErrorInvalidResourceHandle;
    return take_async_error();
}
cudaError_t cudaEventQuery(cudaEvent_t e) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    return g_events.count(e) ? cudaSuccess : cudaErrorInvalidResourceHandle;
}
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!ms || !g_events.count(a) || !g_events.count(b))
        return cudaErrorInvalidResourceHandle;
    if ((a->flags | b->flags) & cudaEventDisableTiming)
        return cudaErrorInvalidResourceHandle;
    if (!a->recorded || !b->recorded)
        return cudaErrorInvalidResourceHandle;
    *ms = (float)(b->t_ms - a->t_ms);
    return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!s) // the legacy default stream cannot be captured
        return cudaErrorStreamCaptureUnsupported;
    if (!g_streams.count(s))
        return cudaErrorInvalidResourceHandle;
    if (s->capturing)
        return cudaErrorIllegalState;
    s->capturing = true, s->invalidated = false;
    s->captured.clear();
    return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!s || !g_streams.count(s))
        return cudaErrorInvalidResourceHandle;
    if (!g || !s->capturing)
        return cudaErrorIllegalState;
    s->capturing = false;
    *g           = nullptr;
    if (s->invalidated) {
        s->captured.clear();
        return cudaErrorStreamCaptureInvalidated;
    }
    simt_graph *graph = new simt_graph();
    graph->ops.swap(s->captured);
    g_graphs.insert(graph);
    *g = graph;
    return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus *status) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!status || !stream_ok(s))
        return cudaErrorInvalidValue;
    *status = s && s->capturing ? (s->invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive)
                                : cudaStreamCaptureStatusNone;
    return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t g, unsigned long long flags) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!exec || !g_graphs.count(g))
        return cudaErrorInvalidValue;
    *exec        = new simt_graph_exec();
    (*exec)->ops = g->ops;
    g_execs.insert(*exec);
    return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!g_execs.count(exec) || !stream_ok(s))
        return cudaErrorInvalidResourceHandle;
    const std::vector<stream_op> *ops = &exec->ops;
    return enqueue(s, [ops]() {
        for (const stream_op &op : *ops)
            op();
    });
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    return handle_delete(g_execs, exec, cudaErrorInvalidValue);
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
    return handle_delete(g_graphs, g, cudaErrorInvalidValue);
}

// ---- cuBLAS -----------------------------------------------------------------------------------
struct cublasContext {
    cudaStream_t stream = nullptr;
    cublasMath_t math   = CUBLAS_DEFAULT_MATH;
};

namespace {
std::set<cublasContext *> g_blas;

// C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C, column-major; a float fmaf chain over p
// ascending per element. beta == 0: C is not read (BLAS: NaN in C does not propagate).
void sgemm_cpu(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            float acc = 0.0f;
            for (int p = 0; p < k; p++) {
                const float a = ta == CUBLAS_OP_N ? A[i + (size_t)p * lda] : A[p + (size_t)i * lda];
                const float b = tb == CUBLAS_OP_N ? B[p + (size_t)j * ldb] : B[j + (size_t)p * ldb];
                acc           = fmaf(a, b, acc);
            }
            float *c = C + i + (size_t)j * ldc;
            *c       = beta == 0.0f ? alpha * acc : alpha * acc + beta * *c;
        }
}

cublasStatus_t gemm_args_ok(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const float *alpha, int lda, int ldb, const float *beta, int ldc) {
    if (!g_blas.count(h))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    const int rows_a = ta == CUBLAS_OP_N ? m : k, rows_b = tb == CUBLAS_OP_N ? k : n;
    if (m < 0 || n < 0 || k < 0 || !alpha || !beta || (ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) ||
        (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T) || lda < (rows_a > 1 ? rows_a : 1) ||
        ldb < (rows_b > 1 ? rows_b : 1) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;
}
} // namespace

cublasStatus_t cublasCreate(cublasHandle_t *h) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!h)
        return CUBLAS_STATUS_INVALID_VALUE;
    *h = new cublasContext();
    g_blas.insert(*h);
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!g_blas.erase(h))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!g_blas.count(h))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetStream(cublasHandle_t h, cudaStream_t *s) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!g_blas.count(h))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!s)
        return CUBLAS_STATUS_INVALID_VALUE;
    *s = h->stream;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!g_blas.count(h))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    h->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetMathMode(cublasHandle_t h, cublasMath_t *mode) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    if (!g_blas.count(h))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!mode)
        return CUBLAS_STATUS_INVALID_VALUE;
    *mode = h->math;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc) {
    return cublasSgemmStridedBatched(h, ta, tb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float *alpha, const float *A, int lda, long long sa,
                                         const float *B, int ldb, long long sb, const float *beta, float *C, int ldc,
                                         long long sc, int batch) {
    std::lock_guard<std::recursive_mutex> lk(g_lock);
    const cublasStatus_t st = gemm_args_ok(h, ta, tb, m, n, k, alpha, lda, ldb, beta, ldc);
    if (st != CUBLAS_STATUS_SUCCESS)
        return st;
    if (batch < 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0 || batch == 0)
        return CUBLAS_STATUS_SUCCESS;
    if (!C || (k > 0 && (!A || !B)))
        return CUBLAS_STATUS_INVALID_VALUE;
    const float    al = *alpha, be = *beta; // host pointer mode: read at the call
    const cudaError_t e = enqueue(h->stream, [=]() {
        for (int i = 0; i < batch; i++)
            sgemm_cpu(ta, tb, m, n, k, al, A + i * sa, lda, B + i * sb, ldb, be, C + i * sc, ldc);
    });
    return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

const char *cublasGetStatusName(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}
const char *cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    }
    return "unknown error";
}
