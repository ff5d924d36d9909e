/*
 * partcfg runtime, reference ring for bench/runtime.py: the simplest single-producer/
 * single-consumer ring between two processes over shared memory, in C alone, to measure
 * the machine in the same run as partcfg's rings (a virtual machine's figures swing
 * several times from one minute to the next; a ratio to this does not).
 *
 * Place in the flow: none; nothing in partcfg uses it. It is built with the runtime's
 * core (setup.py) so that the benchmark's reference is compiled like the thing measured.
 *
 * Same record format as partcfg/runtime/_ring.c (8-byte header {u32 length, u32 tag},
 * payload padded to 8 bytes, a PAD record at the end of the data area, free-running
 * indices on their own cache lines, acquire/release ordering), same message sizes, same
 * ring size (given by the caller), the two processes pinned to two CPUs as the partcfg
 * bench pins its cells. Left out on purpose: permissions (one read-write anonymous
 * mapping), checks against a hostile peer, wake-ups (both sides poll), Python.
 *
 * The send and receive functions are kept out of interprocedural optimisation (noipa),
 * not merely out of line: with every call site passing 64, GCC otherwise clones them
 * for that constant (send_batch.constprop) and turns each message's copy into four
 * inlined 16-byte moves, work partcfg's send_batch cannot skip (it learns the size at
 * run time, from its caller). That clone put the reference's batch rate well above
 * what a reference taking the size at run time reaches (README "Speed").
 *
 * run(kind, seconds, ring_size) forks the two sides, waits for both and returns the
 * figure in the partcfg bench's unit: "msg64" and "batch64" messages/s (one call per
 * message; 256 messages per call), "block64k" GB/s, "rtt" microseconds per round trip.
 * The children run C only and leave with _exit().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HDR 8u
#define TAG_DATA 0u
#define TAG_PAD 1u
#define TAG_END 2u
#define ALIGN8(x) (((uint64_t)(x) + 7u) & ~(uint64_t)7u)
#define CONTROL 4096u
#define BATCH 256u

typedef struct {
    _Alignas(64) uint64_t head;          /* producer index (bytes, free-running) */
    _Alignas(64) uint64_t tail;          /* consumer index */
    _Alignas(64) uint64_t count;         /* results: messages (or round trips) ... */
    double elapsed;                      /* ... over this many seconds */
    int ready;
} ring_ctl;

typedef struct {
    ring_ctl *ctl;
    uint8_t *data;
    uint64_t size;
    uint64_t h, t_cache;                 /* producer's view */
    uint64_t t, h_cache;                 /* consumer's view */
} ring;

static inline uint64_t load_acquire(uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void store_release(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One record into the ring without publishing it; 0 when there is no room. */
static inline int put(ring *r, const uint8_t *msg, uint32_t len, uint32_t tag) {
    uint64_t rec = HDR + ALIGN8(len);
    uint64_t pos = r->h % r->size;
    uint64_t pad = pos + rec > r->size ? r->size - pos : 0;
    if (r->h + pad + rec - r->t_cache > r->size) {
        r->t_cache = load_acquire(&r->ctl->tail);
        if (r->h + pad + rec - r->t_cache > r->size)
            return 0;
    }
    if (pad) {
        uint32_t hdr[2] = {(uint32_t)(pad - HDR), TAG_PAD};
        memcpy(r->data + pos, hdr, HDR);
        r->h += pad;
        pos = 0;
    }
    uint32_t hdr[2] = {len, tag};
    memcpy(r->data + pos, hdr, HDR);
    memcpy(r->data + pos + HDR, msg, len);
    r->h += rec;
    return 1;
}

/* The reference "one message per call": a real call, as partcfg's send() is one. */
__attribute__((noipa)) static int send_one(ring *r, const uint8_t *msg, uint32_t len, uint32_t tag) {
    if (!put(r, msg, len, tag))
        return 0;
    store_release(&r->ctl->head, r->h);
    return 1;
}

/* ``count`` messages of ``len`` bytes from ``msgs`` in one call and one publication;
 * returns how many fitted. */
__attribute__((noipa)) static uint32_t send_batch(ring *r, const uint8_t *msgs, uint32_t len,
                                                     uint32_t count) {
    uint32_t i = 0;
    while (i < count && put(r, msgs + (size_t)i * len, len, TAG_DATA))
        i++;
    if (i)
        store_release(&r->ctl->head, r->h);
    return i;
}

/* The record at the consumer index: its header into hdr, its ring offset returned and
 * its whole size (header and padded payload) in *rec. */
static inline uint64_t record_at(const ring *r, uint32_t hdr[2], uint64_t *rec) {
    uint64_t pos = r->t % r->size;
    memcpy(hdr, r->data + pos, HDR);
    *rec = HDR + ALIGN8(hdr[0]);
    return pos;
}

/* One message into ``buf``: its length, -1 when the ring is empty, -2 at the END record. */
__attribute__((noipa)) static long recv_one(ring *r, uint8_t *buf, uint32_t cap) {
    for (;;) {
        if (r->t == r->h_cache) {
            r->h_cache = load_acquire(&r->ctl->head);
            if (r->t == r->h_cache)
                return -1;
        }
        uint32_t hdr[2];
        uint64_t rec, pos = record_at(r, hdr, &rec);
        if (hdr[1] == TAG_PAD) {
            r->t += rec;
            continue;
        }
        if (hdr[1] == TAG_END)
            return -2;
        uint32_t n = hdr[0] < cap ? hdr[0] : cap;
        memcpy(buf, r->data + pos + HDR, n);
        r->t += rec;
        store_release(&r->ctl->tail, r->t);
        return (long)n;
    }
}

/* Every message there is into ``buf`` (records back to back, as partcfg's
 * recv_batch_into), one tail publication; the count, -1 empty, -2 at END. */
__attribute__((noipa)) static long recv_batch(ring *r, uint8_t *buf, size_t cap) {
    uint64_t head = load_acquire(&r->ctl->head);
    size_t used = 0;
    long count = 0;
    int end = 0;
    while (r->t != head) {
        uint32_t hdr[2];
        uint64_t rec, pos = record_at(r, hdr, &rec);
        if (hdr[1] == TAG_PAD) {
            r->t += rec;
            continue;
        }
        if (hdr[1] == TAG_END) {
            end = 1;
            break;
        }
        if (used + rec > cap)
            break;
        memcpy(buf + used, r->data + pos, rec);
        used += rec;
        r->t += rec;
        count++;
    }
    if (count)
        store_release(&r->ctl->tail, r->t);
    return count ? count : end ? -2 : -1;
}

static void pin(int which) {
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2)
        return;
    int seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed))
            continue;
        if (seen++ == which % CPU_COUNT(&allowed)) {
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            sched_setaffinity(0, sizeof one, &one);
            return;
        }
    }
}

static void send_end(ring *r) {
    uint8_t none[8] = {0};
    while (!send_one(r, none, 8, TAG_END))
        relax();
}

static void producer(ring *r, const char *kind, double seconds) {
    static uint8_t msgs[65536];
    for (size_t i = 0; i < sizeof msgs; i++)
        msgs[i] = (uint8_t)(i * 2654435761u >> 24);
    uint64_t sent = 0;
    double start = now(), stop = start + seconds;
    if (!strcmp(kind, "msg64")) {
        while (now() < stop)
            for (int k = 0; k < 2000; k++)
                while (!send_one(r, msgs, 64, TAG_DATA))
                    relax();
    } else if (!strcmp(kind, "batch64")) {
        while (now() < stop)
            for (int k = 0; k < 50; k++)
                for (uint32_t done = 0; done < BATCH;) {
                    uint32_t n = send_batch(r, msgs, 64, BATCH - done);
                    if (!n)
                        relax();
                    done += n;
                }
    } else {
        while (now() < stop)
            for (int k = 0; k < 20; k++)
                while (!send_one(r, msgs, 65536, TAG_DATA))
                    relax();
    }
    (void)sent;
    send_end(r);
}

static void consumer(ring *r, const char *kind) {
    static uint8_t buf[72 * 2048 + 65536];
    uint64_t n = 0;
    double first = 0;
    if (!strcmp(kind, "batch64")) {
        for (;;) {
            long c = recv_batch(r, buf, 72 * 2048);
            if (c == -2)
                break;
            if (c < 0) {
                relax();
                continue;
            }
            if (!first)
                first = now();
            n += (uint64_t)c;
        }
    } else {
        uint32_t size = !strcmp(kind, "block64k") ? 65536 : 64;
        for (;;) {
            long k = recv_one(r, buf, size);
            if (k == -2)
                break;
            if (k < 0) {
                relax();
                continue;
            }
            if (!first)
                first = now();
            n++;
        }
    }
    r->ctl->count = n;
    r->ctl->elapsed = now() - first;
}

static void pinger(ring *out, ring *in, double seconds) {
    uint8_t m[64] = {0}, buf[64];
    uint64_t n = 0;
    double start = now(), stop = start + seconds;
    while (now() < stop) {
        for (int k = 0; k < 200; k++) {
            while (!send_one(out, m, 64, TAG_DATA))
                relax();
            while (recv_one(in, buf, 64) < 0)
                ;
        }
        n += 200;
    }
    double elapsed = now() - start;
    send_end(out);
    out->ctl->count = n;
    out->ctl->elapsed = elapsed;
}

static void echoer(ring *in, ring *out) {
    uint8_t buf[64];
    for (;;) {
        long k = recv_one(in, buf, 64);
        if (k == -2)
            return;
        if (k == 64)
            while (!send_one(out, buf, 64, TAG_DATA))
                relax();
    }
}

static PyObject *ref_run(PyObject *self, PyObject *args) {
    const char *kind;
    double seconds;
    unsigned long long ring_size;
    if (!PyArg_ParseTuple(args, "sdK", &kind, &seconds, &ring_size))
        return NULL;
    if (strcmp(kind, "msg64") && strcmp(kind, "batch64") && strcmp(kind, "block64k") && strcmp(kind, "rtt")) {
        PyErr_Format(PyExc_ValueError, "unknown kind %s", kind);
        return NULL;
    }
    if (ring_size < 2 * (65536 + 64) || ring_size % 64) {
        PyErr_SetString(PyExc_ValueError, "ring_size: a multiple of 64 of at least two 64 KiB records");
        return NULL;
    }
    size_t one = CONTROL + ring_size;
    uint8_t *mem = mmap(NULL, 2 * one, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return PyErr_SetFromErrno(PyExc_OSError);
    ring a = {(ring_ctl *)mem, mem + CONTROL, ring_size, 0, 0, 0, 0};
    ring b = {(ring_ctl *)(mem + one), mem + one + CONTROL, ring_size, 0, 0, 0, 0};
    int rtt = !strcmp(kind, "rtt");
    pid_t pids[2];
    for (int side = 0; side < 2; side++) {
        pids[side] = fork();
        if (pids[side] < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            if (side)
                kill(pids[0], SIGKILL), waitpid(pids[0], NULL, 0);
            munmap(mem, 2 * one);
            return NULL;
        }
        if (pids[side] == 0) {   /* child: C only from here on */
            pin(side);
            if (rtt && side == 0)
                pinger(&a, &b, seconds);
            else if (rtt)
                echoer(&a, &b);
            else if (side == 0)
                producer(&a, kind, seconds);
            else
                consumer(&a, kind);
            _exit(0);
        }
    }
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (int side = 0; side < 2; side++) {
        int status = 0;
        if (waitpid(pids[side], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
            failed = 1;
    }
    Py_END_ALLOW_THREADS
    double count = (double)a.ctl->count, elapsed = a.ctl->elapsed;
    munmap(mem, 2 * one);
    if (failed || count <= 0 || elapsed <= 0) {
        PyErr_SetString(PyExc_RuntimeError, "the reference ring's processes failed");
        return NULL;
    }
    if (rtt)
        return PyFloat_FromDouble(elapsed / count * 1e6);
    if (!strcmp(kind, "block64k"))
        return PyFloat_FromDouble(count * 65536.0 / elapsed / 1e9);
    return PyFloat_FromDouble(count / elapsed);
}

static PyMethodDef methods[] = {
    {"run", ref_run, METH_VARARGS,
     "run(kind, seconds, ring_size) -> the reference figure (msg/s, GB/s or us per round trip)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ringref",
                                    "Reference SPSC ring in C for bench/runtime.py.", -1, methods};

PyMODINIT_FUNC PyInit__ringref(void) { return PyModule_Create(&module); }
