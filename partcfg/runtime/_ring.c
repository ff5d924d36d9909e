/*
 * partcfg runtime, compiled core: the single-producer/single-consumer rings that carry
 * messages through a link's output sections, plus the few memory primitives Python's
 * standard library lacks (fixed-address shared mappings, a fault-catching probe, atomic
 * loads and stores, the parent-death signal).
 *
 * Place in the flow: used only by partcfg.runtime (the bundled runtime), which reads
 * built artifacts (.cell blobs and .cspace images); nothing here knows about YAML.
 *
 * Ring format (shared with partcfg/runtime/transport.py, which computes the addresses):
 *   - the ring's data area lives in the SENDER's output section (writable only there);
 *   - head (producer index, u64) lives in the sender's section, tail (consumer index,
 *     u64) in the RECEIVER's own output section: each side writes only its own memory
 *     and reads the other's through a read-only mapping;
 *   - indices are free-running byte counts, 8-byte aligned, each on its own cache line,
 *     written with single aligned 8-byte stores and only ever increasing;
 *   - a record is an 8-byte header {u32 length, u32 tag} followed by the payload,
 *     padded to 8 bytes; records never wrap: when one does not fit before the end of
 *     the data area the sender writes a PAD record covering the rest and starts at 0;
 *   - wake-ups: each side publishes a "sleep generation" (odd = asleep) in its own
 *     section; Dekker-style sequentially consistent store/load pairs on both sides make
 *     a lost wake-up impossible: either the sleeper sees the new index or the other side
 *     sees the odd generation and rings the doorbell.
 * The receiver trusts nothing the sender wrote: the head is checked to be monotonic and
 * within one ring of the tail, every header is copied once into a local and checked
 * against the data area before a byte is copied, so a hostile sender cannot make the
 * receiver read outside the ring.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/membarrier.h>

#define HDR 8u
#define TAG_DATA 0u
#define TAG_PAD 1u
#define ALIGN8(x) (((uint64_t)(x) + 7u) & ~(uint64_t)7u)

static PyObject *RingCorrupt;   /* the peer broke the ring protocol (hostile or buggy) */

/* Asymmetric fences. The hot path (publishing an index, then checking whether the peer
 * sleeps) must order a store before a load, which on its own needs a full fence per
 * message: a locked instruction that waits for the index's cache line to come back from
 * the other core. Instead the rare side (a process about to sleep) issues
 * membarrier(GLOBAL_EXPEDITED), which runs a full barrier on every CPU currently running
 * a registered process; the hot path then needs only a compiler barrier. Every cell
 * process registers (register_fast_wakeups()); when the kernel refuses, both sides fall
 * back to sequentially consistent fences, still without lost wake-ups. */
static int asymmetric_fences = 0;

static inline void light_fence(void) {
    if (asymmetric_fences)
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    else
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline void heavy_fence(void) {
    if (asymmetric_fences && syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0)
        return;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

typedef struct { uint32_t len; uint32_t tag; } rec_hdr;

/* Large copies into or out of a ring: the lines are in the other core's cache (written
 * there, or read there on the previous lap), so each one is a cross-core transfer. The
 * hardware prefetchers stop at page boundaries; asking for the next chunk while copying
 * this one keeps more transfers in flight. */
#define COPY_CHUNK 4096u
#define COPY_PREFETCH_MIN 8192u

static inline void prefetch_range(const uint8_t *p, size_t n, int write) {
    for (size_t i = 0; i < n; i += 64) {
        if (write)
            __builtin_prefetch(p + i, 1, 3);
        else
            __builtin_prefetch(p + i, 0, 3);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

/* Streaming (non-temporal) copies for large messages into the ring: the receiver, not
 * this core, reads the data next, so writing it around this core's caches saves reading
 * each destination line first (it is usually in the receiver's cache from the previous
 * lap) and evicting it again. The stores are weakly ordered: the closing sfence makes
 * them visible before the caller publishes the producer index. */
__attribute__((target("avx2")))
static void stream_copy_avx2(uint8_t *dst, const uint8_t *src, size_t n) {
    size_t lead = (size_t)(-(uintptr_t)dst & 31u);
    if (lead) {
        memcpy(dst, src, lead);
        dst += lead; src += lead; n -= lead;
    }
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(src + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(src + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(src + i + 96));
        _mm256_stream_si256((__m256i *)(dst + i), a);
        _mm256_stream_si256((__m256i *)(dst + i + 32), b);
        _mm256_stream_si256((__m256i *)(dst + i + 64), c);
        _mm256_stream_si256((__m256i *)(dst + i + 96), d);
    }
    for (; i + 32 <= n; i += 32)
        _mm256_stream_si256((__m256i *)(dst + i), _mm256_loadu_si256((const __m256i *)(src + i)));
    if (i < n)
        memcpy(dst + i, src + i, n - i);
    _mm_sfence();
}

static void stream_copy_sse2(uint8_t *dst, const uint8_t *src, size_t n) {
    size_t lead = (size_t)(-(uintptr_t)dst & 15u);
    if (lead) {
        memcpy(dst, src, lead);
        dst += lead; src += lead; n -= lead;
    }
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
        _mm_stream_si128((__m128i *)(dst + i), a);
        _mm_stream_si128((__m128i *)(dst + i + 16), b);
        _mm_stream_si128((__m128i *)(dst + i + 32), c);
        _mm_stream_si128((__m128i *)(dst + i + 48), d);
    }
    for (; i + 16 <= n; i += 16)
        _mm_stream_si128((__m128i *)(dst + i), _mm_loadu_si128((const __m128i *)(src + i)));
    if (i < n)
        memcpy(dst + i, src + i, n - i);
    _mm_sfence();
}

static int cpu_avx2 = -1;
#endif

/* Large copies into the ring pick, per sender, between plain stores and streaming
 * stores by the end-to-end rate each achieved: the time-stamp counter cycles per KiB
 * from the end of one large copy to the end of the next (which includes waiting for the
 * receiver to make room), a moving average counted only once a method has run for a
 * whole ring's worth of messages. Which wins depends on where the two cores sit: sharing
 * a cache, plain stores hand the lines over through it (the fastest); across core
 * complexes every line costs a slow cross-complex transfer, and streaming through memory
 * is about three times faster. A virtual machine's CPUs can be moved at any time, so the
 * other method is tried again for a burst every COPY_RETRY messages.
 *
 * A burst must outlast one lap of the ring before it is measured: after streaming, the
 * ring's lines are in no cache, so plain stores on the first lap pay a read from memory
 * for every line, a cost they do not have once the lines go back and forth between the
 * two caches. Counting from a fixed 8 messages measured that first lap on any ring
 * holding more than 8 messages, and the sender stayed on streaming stores after its
 * CPUs had moved back together. So the settling run is a ring's worth of messages of
 * the size being sent (at least COPY_SETTLE), and the burst twice that. */
#define COPY_STREAM_MIN 32768u
#define COPY_RETRY 1024u
#define COPY_BURST 16u
#define COPY_SETTLE 8u
#define COPY_SETTLE_MAX 128u

typedef struct {
    uint64_t cost[2];      /* [plain, streaming] cycles per KiB; 0 = not measured yet */
    uint64_t last;         /* time stamp at the end of the previous large copy */
    uint32_t count, run, burst;
    int prev;              /* method of the previous large copy */
} copy_tuner;

/* A chunked copy that asks for the next chunk of the side in the other core's cache: the
 * destination when copying into the ring (to_ring), the source when copying out. */
static inline void copy_prefetched(uint8_t *dst, const uint8_t *src, size_t n, int to_ring) {
    if (n < COPY_PREFETCH_MIN) {
        memcpy(dst, src, n);
        return;
    }
    for (size_t at = 0; at < n; at += COPY_CHUNK) {
        size_t len = n - at < COPY_CHUNK ? n - at : COPY_CHUNK;
        size_t next = at + COPY_CHUNK;
        if (next < n)
            prefetch_range((to_ring ? dst : src) + next,
                           n - next < COPY_CHUNK ? n - next : COPY_CHUNK, to_ring);
        memcpy(dst + at, src + at, len);
    }
}

static inline void copy_cached(uint8_t *dst, const uint8_t *src, size_t n) {
    copy_prefetched(dst, src, n, 1);
}

/* Small messages (the batch call's usual case): fixed-size 16-byte moves the compiler
 * inlines, instead of a call into the C library's memcpy per message, whose size
 * dispatch costs about as much as the copy at 64 bytes. Driven from C between two
 * pinned processes, 64-byte batches went from 0.38 to about 0.5 of the reference's
 * rate with this. Overlapping moves cover the tail; never reads past src + n. */
#define COPY_SMALL_MAX 256u

static inline void copy16(uint8_t *dst, const uint8_t *src) { memcpy(dst, src, 16); }

static inline void copy_small(uint8_t *dst, const uint8_t *src, size_t n) {
    if (n >= 64) {     /* whole 64-byte blocks, then the last 64 bytes (overlapping) */
        size_t i = 0;
        for (; i + 64 <= n; i += 64) {
            copy16(dst + i, src + i);
            copy16(dst + i + 16, src + i + 16);
            copy16(dst + i + 32, src + i + 32);
            copy16(dst + i + 48, src + i + 48);
        }
        if (i < n) {
            size_t e = n - 64;
            copy16(dst + e, src + e);
            copy16(dst + e + 16, src + e + 16);
            copy16(dst + e + 32, src + e + 32);
            copy16(dst + e + 48, src + e + 48);
        }
    } else if (n >= 16) {
        for (size_t i = 0; i + 16 <= n; i += 16)
            copy16(dst + i, src + i);
        copy16(dst + n - 16, src + n - 16);
    } else if (n >= 8) {
        memcpy(dst, src, 8);
        memcpy(dst + n - 8, src + n - 8, 8);
    } else {
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i];
    }
}

static inline void copy_into_ring(copy_tuner *t, uint8_t *dst, const uint8_t *src, size_t n,
                                  uint64_t ring_size) {
    if (n <= COPY_SMALL_MAX) {
        copy_small(dst, src, n);
        return;
    }
#if defined(__x86_64__)
    if (n >= COPY_STREAM_MIN) {
        if (cpu_avx2 < 0) {
            __builtin_cpu_init();
            cpu_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
        }
        uint64_t lap = ring_size / (n + HDR) + 1;     /* messages of this size per lap */
        uint32_t settle = lap < COPY_SETTLE ? COPY_SETTLE : lap > COPY_SETTLE_MAX ? COPY_SETTLE_MAX
                                                                                 : (uint32_t)lap;
        int best = t->cost[0] && t->cost[1] && t->cost[1] < t->cost[0];
        if (!t->burst && (++t->count % COPY_RETRY == 0 || (!t->cost[1] && t->count == 32)))
            t->burst = 2 * settle > COPY_BURST ? 2 * settle : COPY_BURST;
        int use = best;
        if (t->burst) {
            t->burst--;
            use = !best;
        }
        if (!use)
            copy_cached(dst, src, n);
        else if (cpu_avx2)
            stream_copy_avx2(dst, src, n);
        else
            stream_copy_sse2(dst, src, n);
        uint64_t now = __rdtsc();
        t->run = use == t->prev ? t->run + 1 : 0;
        t->prev = use;
        if (t->run >= settle && now > t->last) {
            uint64_t c = (now - t->last) * 1024u / n + 1u;
            t->cost[use] = t->cost[use] ? (t->cost[use] * 3u + c) / 4u : c;
        }
        t->last = now;
        return;
    }
#endif
    (void)ring_size;
    copy_cached(dst, src, n);
}

static inline void copy_out_of_ring(uint8_t *dst, const uint8_t *src, size_t n) {
    copy_prefetched(dst, src, n, 0);
}

static inline uint64_t load_acquire(const volatile uint64_t *p) {
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
}
static inline uint64_t load_seq(const volatile uint64_t *p) {
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_SEQ_CST);
}
static inline void store_release(volatile uint64_t *p, uint64_t v) {
    __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE);
}
static inline void store_seq(volatile uint64_t *p, uint64_t v) {
    __atomic_store_n((uint64_t *)p, v, __ATOMIC_SEQ_CST);
}

static int parse_addr(PyObject *obj, uintptr_t *out) {
    unsigned long long v = PyLong_AsUnsignedLongLong(obj);
    if (v == (unsigned long long)-1 && PyErr_Occurred())
        return 0;
    *out = (uintptr_t)v;
    return 1;
}

static int check_index_addr(uintptr_t a, const char *what) {
    if (a == 0 || (a & 7u)) {
        PyErr_Format(PyExc_ValueError, "%s address must be non-zero and 8-byte aligned", what);
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ Sender */

typedef struct {
    PyObject_HEAD
    uint8_t *data;
    uint64_t size;
    volatile uint64_t *head;               /* own section: producer index */
    const volatile uint64_t *tail;         /* receiver's section: consumer index (RO) */
    volatile uint64_t *sleep_gen;          /* own section: odd while waiting for space */
    const volatile uint64_t *peer_sleep;   /* receiver's sleep generation (RO) */
    uint64_t h, pos, t_cache, my_gen, rung_gen;
    uint64_t res_rec;                      /* reserve(): record size held, 0 if none */
    int res_pad;                           /* reserve(): a PAD record precedes it */
    int broken;
    PyObject *doorbell;                    /* called when the receiver sleeps */
    unsigned long long sent, doorbells;
    copy_tuner tuner;                      /* large copies: plain or streaming stores */
} Sender;

static void Sender_dealloc(Sender *s) {
    Py_XDECREF(s->doorbell);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

/* The constructor arguments Sender and Receiver share: where the ring's data area and the
 * four indices live (addresses in this process), checked for size and alignment. */
typedef struct {
    uintptr_t data, head, tail, sleep, peer;
    unsigned long long size;
    PyObject *doorbell;          /* borrowed */
} RingArgs;

static int ring_args_of(PyObject *args, PyObject *kw, RingArgs *a) {
    static char *kwlist[] = {"data", "size", "head", "tail", "sleep_gen", "peer_sleep",
                             "doorbell", NULL};
    PyObject *o_data, *o_head, *o_tail, *o_sleep, *o_peer;
    a->doorbell = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OKOOOO|O", kwlist, &o_data, &a->size, &o_head,
                                     &o_tail, &o_sleep, &o_peer, &a->doorbell))
        return -1;
    if (!parse_addr(o_data, &a->data) || !parse_addr(o_head, &a->head)
        || !parse_addr(o_tail, &a->tail) || !parse_addr(o_sleep, &a->sleep)
        || !parse_addr(o_peer, &a->peer))
        return -1;
    if (!check_index_addr(a->head, "head") || !check_index_addr(a->tail, "tail")
        || !check_index_addr(a->sleep, "sleep_gen") || !check_index_addr(a->peer, "peer_sleep"))
        return -1;
    if (a->data == 0 || (a->data & 7u) || a->size < 64 || (a->size & 7u)) {
        PyErr_SetString(PyExc_ValueError, "ring data area must be 8-byte aligned, a multiple "
                        "of 8 bytes and at least 64 bytes");
        return -1;
    }
    return 0;
}

static int Sender_init(Sender *s, PyObject *args, PyObject *kw) {
    RingArgs a;
    if (ring_args_of(args, kw, &a) < 0)
        return -1;
    s->data = (uint8_t *)a.data;
    s->size = a.size;
    s->head = (volatile uint64_t *)a.head;
    s->tail = (const volatile uint64_t *)a.tail;
    s->sleep_gen = (volatile uint64_t *)a.sleep;
    s->peer_sleep = (const volatile uint64_t *)a.peer;
    /* attach: continue from whatever the section already says (it is our own memory) */
    s->h = load_acquire(s->head);
    if (s->h & 7u) {
        PyErr_SetString(RingCorrupt, "own producer index is not 8-byte aligned");
        return -1;
    }
    s->pos = s->h % s->size;
    s->t_cache = s->h;          /* assume full until the receiver's tail is read */
    s->my_gen = load_acquire(s->sleep_gen) & ~(uint64_t)1;
    s->rung_gen = 0;
    s->res_rec = 0;
    s->broken = 0;
    Py_XSETREF(s->doorbell, Py_NewRef(a.doorbell));
    s->sent = s->doorbells = 0;
    memset(&s->tuner, 0, sizeof s->tuner);
    {
        uint64_t t = load_acquire(s->tail);
        if (t <= s->h && s->h - t <= s->size)
            s->t_cache = t;
    }
    return 0;
}

static int sender_fail(Sender *s, const char *msg, uint64_t a, uint64_t b) {
    s->broken = 1;
    PyErr_Format(RingCorrupt, msg, (unsigned long long)a, (unsigned long long)b);
    return -1;
}

/* Refresh the cached tail; -1 (exception set) when the receiver's index is impossible. */
static int sender_refresh(Sender *s) {
    uint64_t t = load_acquire(s->tail);
    if (t < s->t_cache || t > s->h || s->h - t > s->size)
        return sender_fail(s, "receiver's consumer index %#llx is impossible (producer index "
                           "%#llx)", t, s->h);
    s->t_cache = t;
    return 0;
}

/* Make room for a record of rec bytes: 1 ok (pad decided in *pad), 0 full, -1 error. */
static int sender_room(Sender *s, uint64_t rec, int *pad) {
    uint64_t cont = s->size - s->pos;
    uint64_t total = rec <= cont ? rec : cont + rec;
    *pad = rec > cont;
    if (s->size - (s->h - s->t_cache) >= total)
        return 1;
    if (sender_refresh(s) < 0)
        return -1;
    return s->size - (s->h - s->t_cache) >= total;
}

static inline void sender_write_pad(Sender *s) {
    rec_hdr hd = {(uint32_t)(s->size - s->pos - HDR), TAG_PAD};
    memcpy(s->data + s->pos, &hd, HDR);
}

static inline void sender_skip_pad(Sender *s) {
    s->h += s->size - s->pos;
    s->pos = 0;
}

/* Close the record at pos (its payload already in place): header, then the index. */
static inline void sender_close(Sender *s, uint32_t len, uint64_t rec) {
    rec_hdr hd = {len, TAG_DATA};
    memcpy(s->data + s->pos, &hd, HDR);
    s->h += rec;
    s->pos += rec;
    if (s->pos == s->size)
        s->pos = 0;
}

static inline void sender_put(Sender *s, const void *p, uint32_t len, uint64_t rec) {
    copy_into_ring(&s->tuner, s->data + s->pos + HDR, p, len, s->size);
    sender_close(s, len, rec);
}

/* Write one message of len bytes (at most sender_max) when it fits: 1 written, 0 the ring
 * is full, -1 error. Padding to the ring's end comes first when the record does not fit
 * before it. Not yet published. */
static inline int sender_write(Sender *s, const void *p, uint32_t len) {
    int pad;
    uint64_t rec = ALIGN8(HDR + (uint64_t)len);
    int room = sender_room(s, rec, &pad);
    if (room <= 0)
        return room;
    if (pad) {
        sender_write_pad(s);
        sender_skip_pad(s);
    }
    sender_put(s, p, len, rec);
    return 1;
}

/* Ring the peer's doorbell once per sleep: when its sleep generation is odd (asleep) and
 * not the one already rung. Sender and receiver share it; -1 when the callback raised. */
static int ring_doorbell_if_asleep(const volatile uint64_t *peer_sleep, uint64_t *rung_gen,
                                   unsigned long long *doorbells, PyObject *doorbell) {
    uint64_t g = load_acquire(peer_sleep);
    if ((g & 1u) && g != *rung_gen) {
        *rung_gen = g;
        (*doorbells)++;
        if (doorbell != Py_None) {
            PyObject *r = PyObject_CallNoArgs(doorbell);
            if (!r)
                return -1;
            Py_DECREF(r);
        }
    }
    return 0;
}

/* Publish the head; ring the doorbell when the receiver announced it sleeps. */
static int sender_publish(Sender *s) {
    store_release(s->head, s->h);
    light_fence();
    return ring_doorbell_if_asleep(s->peer_sleep, &s->rung_gen, &s->doorbells, s->doorbell);
}

static int sender_usable(Sender *s) {
    if (s->broken) {
        PyErr_SetString(RingCorrupt, "ring is broken (the receiver violated the protocol)");
        return 0;
    }
    if (s->res_rec) {
        PyErr_SetString(PyExc_RuntimeError, "a reserved block is pending: commit() it first");
        return 0;
    }
    return 1;
}

static uint64_t sender_max(Sender *s) { return s->size / 2 - HDR; }

/* The end of a send(): count and publish what sender_write() said (1 written, 0 full). */
static PyObject *sender_sent(Sender *s, int written) {
    if (written < 0)
        return NULL;
    if (!written)
        Py_RETURN_FALSE;
    s->sent++;
    if (sender_publish(s) < 0)
        return NULL;
    Py_RETURN_TRUE;
}

static PyObject *Sender_send(Sender *s, PyObject *arg) {
    Py_buffer b;
    if (PyBytes_CheckExact(arg) && !s->broken && !s->res_rec) {
        /* the common case without the buffer protocol's cost */
        Py_ssize_t len = PyBytes_GET_SIZE(arg);
        if ((uint64_t)len <= sender_max(s))
            return sender_sent(s, sender_write(s, PyBytes_AS_STRING(arg), (uint32_t)len));
    }
    if (!sender_usable(s) || PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    if ((uint64_t)b.len > sender_max(s)) {
        PyErr_Format(PyExc_ValueError, "message of %zd bytes exceeds the ring's maximum of %llu",
                     b.len, (unsigned long long)sender_max(s));
        PyBuffer_Release(&b);
        return NULL;
    }
    int written = sender_write(s, b.buf, (uint32_t)b.len);
    PyBuffer_Release(&b);
    return sender_sent(s, written);
}

/* send_batch(buffer, size): messages of `size` bytes back to back; returns how many fit. */
static PyObject *Sender_send_batch(Sender *s, PyObject *args) {
    Py_buffer b;
    Py_ssize_t size;
    if (!sender_usable(s) || !PyArg_ParseTuple(args, "y*n", &b, &size))
        return NULL;
    if (size < 0 || (uint64_t)size > sender_max(s)) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "message size out of range for this ring");
        return NULL;
    }
    Py_ssize_t count = size ? b.len / size : 0, n = 0;
    const uint8_t *p = b.buf;
    for (; n < count; n++) {
        int written = sender_write(s, p + n * size, (uint32_t)size);
        if (written < 0) {
            PyBuffer_Release(&b);
            return NULL;
        }
        if (!written)
            break;
    }
    PyBuffer_Release(&b);
    s->sent += n;
    if (n && sender_publish(s) < 0)
        return NULL;
    return PyLong_FromSsize_t(n);
}

/* send_many(sequence of buffers): variable sizes; returns how many fit. */
static PyObject *Sender_send_many(Sender *s, PyObject *seq) {
    if (!sender_usable(s))
        return NULL;
    PyObject *fast = PySequence_Fast(seq, "send_many() takes a sequence of buffers");
    if (!fast)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast), n = 0;
    PyObject **items = PySequence_Fast_ITEMS(fast);
    for (; n < count; n++) {
        Py_buffer b;
        if (PyObject_GetBuffer(items[n], &b, PyBUF_SIMPLE) < 0)
            goto fail;
        if ((uint64_t)b.len > sender_max(s)) {
            PyBuffer_Release(&b);
            PyErr_SetString(PyExc_ValueError, "message exceeds the ring's maximum");
            goto fail;
        }
        int written = sender_write(s, b.buf, (uint32_t)b.len);
        PyBuffer_Release(&b);
        if (written < 0)
            goto fail;
        if (!written)
            break;
    }
    Py_DECREF(fast);
    s->sent += n;
    if (n && sender_publish(s) < 0)
        return NULL;
    return PyLong_FromSsize_t(n);
fail:
    Py_DECREF(fast);
    if (n) {   /* what was written before the failure is still delivered */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        s->sent += n;
        sender_publish(s);
        PyErr_Restore(type, value, tb);
    }
    return NULL;
}

/* Zero-copy: reserve(n) -> writable memoryview of n payload bytes in the ring, or None. */
static PyObject *Sender_reserve(Sender *s, PyObject *arg) {
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    int pad, room;
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (!sender_usable(s))
        return NULL;
    if (n < 0 || (uint64_t)n > sender_max(s)) {
        PyErr_SetString(PyExc_ValueError, "block size out of range for this ring");
        return NULL;
    }
    uint64_t rec = ALIGN8(HDR + (uint64_t)n);
    room = sender_room(s, rec, &pad);
    if (room < 0)
        return NULL;
    if (!room)
        Py_RETURN_NONE;
    s->res_rec = rec;
    s->res_pad = pad;
    uint64_t at = pad ? 0 : s->pos;
    if (pad)
        sender_write_pad(s);     /* not visible until commit() publishes the head */
    return PyMemoryView_FromMemory((char *)s->data + at + HDR, n, PyBUF_WRITE);
}

/* commit(n): publish the reserved block with its final length n (<= reserved). */
static PyObject *Sender_commit(Sender *s, PyObject *arg) {
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (!s->res_rec) {
        PyErr_SetString(PyExc_RuntimeError, "commit() without reserve()");
        return NULL;
    }
    if (n < 0 || ALIGN8(HDR + (uint64_t)n) > s->res_rec) {
        PyErr_SetString(PyExc_ValueError, "commit() of more bytes than were reserved");
        return NULL;
    }
    if (s->res_pad)
        sender_skip_pad(s);
    sender_close(s, (uint32_t)n, ALIGN8(HDR + (uint64_t)n));
    s->res_rec = 0;
    s->sent++;
    if (sender_publish(s) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* arm(n): announce "waiting for space for an n-byte message"; True if it is there now. */
static PyObject *Sender_arm(Sender *s, PyObject *arg) {
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    int pad, room;
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (s->broken) {
        PyErr_SetString(RingCorrupt, "ring is broken (the receiver violated the protocol)");
        return NULL;
    }
    s->my_gen |= 1u;
    store_release(s->sleep_gen, s->my_gen);
    heavy_fence();
    room = sender_room(s, ALIGN8(HDR + (uint64_t)(n < 0 ? 0 : n)), &pad);
    if (room < 0)
        return NULL;
    return PyBool_FromLong(room);
}

static PyObject *Sender_disarm(Sender *s, PyObject *unused) {
    if (s->my_gen & 1u) {
        s->my_gen += 1;
        store_release(s->sleep_gen, s->my_gen);
    }
    Py_RETURN_NONE;
}

static PyObject *Sender_free_bytes(Sender *s, PyObject *unused) {
    if (!s->broken && sender_refresh(s) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(s->size - (s->h - s->t_cache));
}

static PyMethodDef Sender_methods[] = {
    {"send", (PyCFunction)Sender_send, METH_O,
     "send(buffer) -> bool: copy one message into the ring; False when it is full"},
    {"send_batch", (PyCFunction)Sender_send_batch, METH_VARARGS,
     "send_batch(buffer, size) -> int: send len(buffer)//size messages of size bytes; "
     "returns how many fit (one index update and one wake-up check for all)"},
    {"send_many", (PyCFunction)Sender_send_many, METH_O,
     "send_many(sequence) -> int: send buffers of any size; returns how many fit"},
    {"reserve", (PyCFunction)Sender_reserve, METH_O,
     "reserve(n) -> memoryview | None: zero-copy: n writable bytes inside the ring"},
    {"commit", (PyCFunction)Sender_commit, METH_O,
     "commit(n): publish the reserved block with length n"},
    {"arm", (PyCFunction)Sender_arm, METH_O,
     "arm(n) -> bool: announce waiting for space; True when there is room already"},
    {"disarm", (PyCFunction)Sender_disarm, METH_NOARGS, "stop waiting for space"},
    {"free_bytes", (PyCFunction)Sender_free_bytes, METH_NOARGS, "free bytes in the ring"},
    {NULL}
};

static PyObject *Sender_get_max(Sender *s, void *c) { return PyLong_FromUnsignedLongLong(sender_max(s)); }
static PyObject *Sender_get_head(Sender *s, void *c) { return PyLong_FromUnsignedLongLong(s->h); }
static PyObject *Sender_get_sent(Sender *s, void *c) { return PyLong_FromUnsignedLongLong(s->sent); }
static PyObject *Sender_get_doorbells(Sender *s, void *c) { return PyLong_FromUnsignedLongLong(s->doorbells); }
static PyObject *Sender_get_size(Sender *s, void *c) { return PyLong_FromUnsignedLongLong(s->size); }

static PyGetSetDef Sender_getset[] = {
    {"max_message", (getter)Sender_get_max, NULL, "largest payload that always fits", NULL},
    {"head", (getter)Sender_get_head, NULL, "producer index (bytes ever written)", NULL},
    {"sent", (getter)Sender_get_sent, NULL, "messages sent through this object", NULL},
    {"doorbells", (getter)Sender_get_doorbells, NULL, "doorbells rung", NULL},
    {"size", (getter)Sender_get_size, NULL, "bytes in the data area", NULL},
    {NULL}
};

static PyTypeObject SenderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "partcfg.runtime._ring.Sender",
    .tp_basicsize = sizeof(Sender),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Producer end of a ring whose data area is in the caller's own output section.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Sender_init,
    .tp_dealloc = (destructor)Sender_dealloc,
    .tp_methods = Sender_methods,
    .tp_getset = Sender_getset,
};

/* ---------------------------------------------------------------- Receiver */

typedef struct {
    PyObject_HEAD
    const uint8_t *data;
    uint64_t size;
    const volatile uint64_t *head;         /* sender's section (RO) */
    volatile uint64_t *tail;               /* own section */
    volatile uint64_t *sleep_gen;          /* own section: odd while waiting for data */
    const volatile uint64_t *peer_sleep;   /* sender's "waiting for space" generation (RO) */
    uint64_t t, pos, h_cache, my_gen, rung_gen;
    uint64_t published, lazy;              /* last published tail; publish at least every lazy bytes */
    uint64_t held;                         /* peek(): record size held, 0 if none */
    int broken;
    PyObject *doorbell;
    uint64_t batch_bytes;
    unsigned long long received, doorbells;
} Receiver;

static void Receiver_dealloc(Receiver *r) {
    Py_XDECREF(r->doorbell);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static int Receiver_init(Receiver *r, PyObject *args, PyObject *kw) {
    RingArgs a;
    if (ring_args_of(args, kw, &a) < 0)
        return -1;
    r->data = (const uint8_t *)a.data;
    r->size = a.size;
    r->head = (const volatile uint64_t *)a.head;
    r->tail = (volatile uint64_t *)a.tail;
    r->sleep_gen = (volatile uint64_t *)a.sleep;
    r->peer_sleep = (const volatile uint64_t *)a.peer;
    r->t = load_acquire(r->tail);
    if (r->t & 7u) {
        PyErr_SetString(RingCorrupt, "own consumer index is not 8-byte aligned");
        return -1;
    }
    r->pos = r->t % r->size;
    r->h_cache = r->t;
    r->published = r->t;
    r->lazy = r->size / 4;
    r->my_gen = load_acquire(r->sleep_gen) & ~(uint64_t)1;
    r->rung_gen = 0;
    r->held = 0;
    r->broken = 0;
    r->batch_bytes = 0;
    Py_XSETREF(r->doorbell, Py_NewRef(a.doorbell));
    r->received = r->doorbells = 0;
    return 0;
}

static int receiver_fail(Receiver *r, const char *msg, uint64_t a, uint64_t b) {
    r->broken = 1;
    PyErr_Format(RingCorrupt, msg, (unsigned long long)a, (unsigned long long)b);
    return -1;
}

/* Find the next data record: 1 (payload offset and length out), 0 empty, -1 corrupt. */
static int receiver_next(Receiver *r, uint64_t *off, uint32_t *len, uint64_t *rec_out) {
    for (;;) {
        if (r->h_cache == r->t) {
            uint64_t h = load_acquire(r->head);
            if (h < r->h_cache || h - r->t > r->size || (h & 7u))
                return receiver_fail(r, "sender's producer index %#llx is impossible "
                                     "(consumer index %#llx)", h, r->t);
            r->h_cache = h;
            if (h == r->t)
                return 0;
        }
        uint64_t avail = r->h_cache - r->t;
        uint64_t cont = r->size - r->pos;
        rec_hdr hd;
        memcpy(&hd, r->data + r->pos, HDR);        /* read the header exactly once */
        if (hd.tag == TAG_PAD) {
            if ((uint64_t)hd.len + HDR != cont || cont > avail)
                return receiver_fail(r, "bad padding record (length %#llx) at ring offset %#llx",
                                     hd.len, r->pos);
            r->t += cont;
            r->pos = 0;
            continue;
        }
        if (hd.tag != TAG_DATA)
            return receiver_fail(r, "unknown record tag %#llx at ring offset %#llx", hd.tag, r->pos);
        uint64_t rec = ALIGN8(HDR + (uint64_t)hd.len);
        if (rec > cont || rec > avail)
            return receiver_fail(r, "record length %#llx at ring offset %#llx runs past the "
                                 "published data or the ring", hd.len, r->pos);
        *off = r->pos + HDR;
        *len = hd.len;
        *rec_out = rec;
        return 1;
    }
}

static inline void receiver_advance(Receiver *r, uint64_t rec) {
    r->t += rec;
    r->pos += rec;
    if (r->pos == r->size)
        r->pos = 0;
}

/* Publish the tail, lazily: the sender reads it only when the ring looks full, so while
 * the receiver is behind, publishing every quarter ring (instead of every message) keeps
 * the cache line from bouncing. It is published at once when the receiver has caught up
 * with the data it knows of, when forced, and when the sender announced waiting for
 * room; the last case then also rings the sender's doorbell. */
static int receiver_publish_if(Receiver *r, int force) {
    uint64_t g = load_acquire(r->peer_sleep);
    if (!force && !((g & 1u) && g != r->rung_gen) && r->t - r->published < r->lazy
        && r->t != r->h_cache)
        return 0;
    if (r->published == r->t && !((g & 1u) && g != r->rung_gen))
        return 0;
    store_release(r->tail, r->t);
    r->published = r->t;
    light_fence();
    return ring_doorbell_if_asleep(r->peer_sleep, &r->rung_gen, &r->doorbells, r->doorbell);
}

/* The end of a receive that found the ring empty: publish what padding consumed (the
 * sender may wait for it); -1 when the doorbell callback raised. */
static int receiver_idle(Receiver *r) {
    return r->published != r->t ? receiver_publish_if(r, 1) : 0;
}

static int receiver_usable(Receiver *r) {
    if (r->broken) {
        PyErr_SetString(RingCorrupt, "ring is broken (the sender violated the protocol)");
        return 0;
    }
    if (r->held) {
        PyErr_SetString(PyExc_RuntimeError, "a peeked message is pending: release() it first");
        return 0;
    }
    return 1;
}

/* Common ending of a failed receive: publish what was consumed (padding) and raise. */
static PyObject *receiver_error(Receiver *r, uint64_t t_before) {
    if (r->t != t_before) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        store_release(r->tail, r->t);
        r->published = r->t;
        PyErr_Restore(type, value, tb);
    }
    return NULL;
}

/* The next message for recv() and peek(): 1 (offset, length and record size out), 0 the
 * ring is empty (what padding consumed is published), -1 with an exception set. */
static int receiver_take(Receiver *r, uint64_t *off, uint32_t *len, uint64_t *rec) {
    uint64_t t0 = r->t;
    if (!receiver_usable(r))
        return -1;
    int got = receiver_next(r, off, len, rec);
    if (got < 0) {
        receiver_error(r, t0);
        return -1;
    }
    if (!got && receiver_idle(r) < 0)
        return -1;
    return got;
}

static PyObject *Receiver_recv(Receiver *r, PyObject *unused) {
    uint64_t off, rec;
    uint32_t len;
    int got = receiver_take(r, &off, &len, &rec);
    if (got < 0)
        return NULL;
    if (!got)
        Py_RETURN_NONE;
    PyObject *out = PyBytes_FromStringAndSize((const char *)r->data + off, len);
    if (!out)
        return NULL;
    receiver_advance(r, rec);
    r->received++;
    if (receiver_publish_if(r, 0) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/* recv_into(buffer) -> length, or -1 when the ring is empty. */
static PyObject *Receiver_recv_into(Receiver *r, PyObject *arg) {
    Py_buffer b;
    uint64_t off, rec, t0 = r->t;
    uint32_t len;
    if (!receiver_usable(r) || PyObject_GetBuffer(arg, &b, PyBUF_WRITABLE) < 0)
        return NULL;
    int got = receiver_next(r, &off, &len, &rec);
    if (got <= 0) {
        PyBuffer_Release(&b);
        if (got < 0)
            return receiver_error(r, t0);
        if (receiver_idle(r) < 0)
            return NULL;
        return PyLong_FromLong(-1);
    }
    if ((uint64_t)b.len < len) {
        PyBuffer_Release(&b);
        PyErr_Format(PyExc_ValueError, "buffer of %zd bytes is too small for a %u-byte message",
                     b.len, len);
        return receiver_error(r, t0);
    }
    copy_out_of_ring(b.buf, r->data + off, len);
    PyBuffer_Release(&b);
    receiver_advance(r, rec);
    r->received++;
    if (receiver_publish_if(r, 0) < 0)
        return NULL;
    return PyLong_FromUnsignedLong(len);
}

/* recv_batch_into(buffer) -> count: copy as many whole messages as fit, each as an
 * 8-byte header {u32 length, u32 0} + payload padded to 8 (the ring's record format,
 * with the header re-written from the validated local copy). */
static PyObject *Receiver_recv_batch_into(Receiver *r, PyObject *arg) {
    Py_buffer b;
    uint64_t t0 = r->t, used = 0;
    Py_ssize_t n = 0;
    if (!receiver_usable(r) || PyObject_GetBuffer(arg, &b, PyBUF_WRITABLE) < 0)
        return NULL;
    uint8_t *out = b.buf;
    for (;;) {
        uint64_t off, rec;
        uint32_t len;
        int got = receiver_next(r, &off, &len, &rec);
        if (got < 0) {
            if (!n) {
                PyBuffer_Release(&b);
                return receiver_error(r, t0);
            }
            PyErr_Clear();   /* deliver what was copied; the ring stays broken for next call */
            break;
        }
        if (!got || used + rec > (uint64_t)b.len)
            break;
        rec_hdr hd = {len, TAG_DATA};
        memcpy(out + used, &hd, HDR);
        memcpy(out + used + HDR, r->data + off, len);
        used += rec;
        receiver_advance(r, rec);
        n++;
    }
    PyBuffer_Release(&b);
    r->batch_bytes = used;
    r->received += n;
    if (r->t != r->published && receiver_publish_if(r, n == 0) < 0)
        return NULL;
    return PyLong_FromSsize_t(n);
}

/* Zero-copy: peek() -> read-only memoryview of the next message in the ring, or None. */
static PyObject *Receiver_peek(Receiver *r, PyObject *unused) {
    uint64_t off, rec;
    uint32_t len;
    int got = receiver_take(r, &off, &len, &rec);
    if (got < 0)
        return NULL;
    if (!got)
        Py_RETURN_NONE;
    r->held = rec;
    return PyMemoryView_FromMemory((char *)r->data + off, len, PyBUF_READ);
}

static PyObject *Receiver_release(Receiver *r, PyObject *unused) {
    if (!r->held) {
        PyErr_SetString(PyExc_RuntimeError, "release() without peek()");
        return NULL;
    }
    receiver_advance(r, r->held);
    r->held = 0;
    r->received++;
    if (receiver_publish_if(r, 0) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* arm(): announce "waiting for data"; True if data is already there (do not sleep). */
static PyObject *Receiver_arm(Receiver *r, PyObject *unused) {
    if (r->published != r->t && receiver_publish_if(r, 1) < 0)
        return NULL;
    r->my_gen |= 1u;
    store_release(r->sleep_gen, r->my_gen);
    heavy_fence();
    uint64_t h = load_acquire(r->head);
    return PyBool_FromLong(h != r->t);
}

static PyObject *Receiver_disarm(Receiver *r, PyObject *unused) {
    if (r->my_gen & 1u) {
        r->my_gen += 1;
        store_release(r->sleep_gen, r->my_gen);
    }
    Py_RETURN_NONE;
}

static PyObject *Receiver_pending(Receiver *r, PyObject *unused) {
    if (r->broken) {
        PyErr_SetString(RingCorrupt, "ring is broken (the sender violated the protocol)");
        return NULL;
    }
    uint64_t h = load_acquire(r->head);
    return PyBool_FromLong(h != r->t);
}

static PyMethodDef Receiver_methods[] = {
    {"recv", (PyCFunction)Receiver_recv, METH_NOARGS,
     "recv() -> bytes | None: the next message, copied out of the ring"},
    {"recv_into", (PyCFunction)Receiver_recv_into, METH_O,
     "recv_into(buffer) -> int: copy the next message into buffer; -1 when empty"},
    {"recv_batch_into", (PyCFunction)Receiver_recv_batch_into, METH_O,
     "recv_batch_into(buffer) -> int: copy as many messages as fit (8-byte length header "
     "each, padded to 8); batch_bytes says how many bytes were used"},
    {"peek", (PyCFunction)Receiver_peek, METH_NOARGS,
     "peek() -> memoryview | None: zero-copy read-only view of the next message"},
    {"release", (PyCFunction)Receiver_release, METH_NOARGS, "consume the peeked message"},
    {"arm", (PyCFunction)Receiver_arm, METH_NOARGS,
     "arm() -> bool: announce waiting for data; True when data is there already"},
    {"disarm", (PyCFunction)Receiver_disarm, METH_NOARGS, "stop waiting for data"},
    {"pending", (PyCFunction)Receiver_pending, METH_NOARGS, "True when data is waiting"},
    {NULL}
};

static PyObject *Receiver_get_tail(Receiver *r, void *c) { return PyLong_FromUnsignedLongLong(r->t); }
static PyObject *Receiver_get_batch(Receiver *r, void *c) { return PyLong_FromUnsignedLongLong(r->batch_bytes); }
static PyObject *Receiver_get_received(Receiver *r, void *c) { return PyLong_FromUnsignedLongLong(r->received); }
static PyObject *Receiver_get_doorbells(Receiver *r, void *c) { return PyLong_FromUnsignedLongLong(r->doorbells); }
static PyObject *Receiver_get_broken(Receiver *r, void *c) { return PyBool_FromLong(r->broken); }
static PyObject *Receiver_get_max(Receiver *r, void *c) { return PyLong_FromUnsignedLongLong(r->size / 2 - HDR); }

static PyGetSetDef Receiver_getset[] = {
    {"tail", (getter)Receiver_get_tail, NULL, "consumer index (bytes ever consumed)", NULL},
    {"batch_bytes", (getter)Receiver_get_batch, NULL, "bytes used by the last batch", NULL},
    {"received", (getter)Receiver_get_received, NULL, "messages received", NULL},
    {"doorbells", (getter)Receiver_get_doorbells, NULL, "doorbells rung", NULL},
    {"broken", (getter)Receiver_get_broken, NULL, "the sender violated the protocol", NULL},
    {"max_message", (getter)Receiver_get_max, NULL, "largest payload the sender may send", NULL},
    {NULL}
};

static PyTypeObject ReceiverType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "partcfg.runtime._ring.Receiver",
    .tp_basicsize = sizeof(Receiver),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Consumer end of a ring whose data area is in the sender's output section "
              "(read-only here).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Receiver_init,
    .tp_dealloc = (destructor)Receiver_dealloc,
    .tp_methods = Receiver_methods,
    .tp_getset = Receiver_getset,
};

/* ------------------------------------------------------- memory primitives */

static PyObject *m_reserve(PyObject *self, PyObject *args) {
    unsigned long long size;
    if (!PyArg_ParseTuple(args, "K", &size))
        return NULL;
    void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromVoidPtr(p);
}

static PyObject *m_map_shared(PyObject *self, PyObject *args) {
    PyObject *o_addr;
    unsigned long long size, offset = 0;
    int prot, fd;
    uintptr_t addr;
    if (!PyArg_ParseTuple(args, "OKii|K", &o_addr, &size, &prot, &fd, &offset)
        || !parse_addr(o_addr, &addr))
        return NULL;
    void *p = mmap((void *)addr, size, prot, MAP_SHARED | MAP_FIXED, fd, (off_t)offset);
    if (p == MAP_FAILED)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromVoidPtr(p);
}

static PyObject *m_map_private(PyObject *self, PyObject *args) {
    PyObject *o_addr;
    unsigned long long size;
    int prot;
    uintptr_t addr;
    if (!PyArg_ParseTuple(args, "OKi", &o_addr, &size, &prot) || !parse_addr(o_addr, &addr))
        return NULL;
    void *p = mmap((void *)addr, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromVoidPtr(p);
}

static PyObject *m_unmap(PyObject *self, PyObject *args) {
    PyObject *o_addr;
    unsigned long long size;
    uintptr_t addr;
    if (!PyArg_ParseTuple(args, "OK", &o_addr, &size) || !parse_addr(o_addr, &addr))
        return NULL;
    if (munmap((void *)addr, size) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* try_protect(addr, size, prot) -> 0 or errno (the mprotect upgrade attempt). */
static PyObject *m_try_protect(PyObject *self, PyObject *args) {
    PyObject *o_addr;
    unsigned long long size;
    int prot;
    uintptr_t addr;
    if (!PyArg_ParseTuple(args, "OKi", &o_addr, &size, &prot) || !parse_addr(o_addr, &addr))
        return NULL;
    return PyLong_FromLong(mprotect((void *)addr, size, prot) < 0 ? errno : 0);
}

/* try_map(fd, size, prot) -> 0 or errno: a fresh shared mapping, unmapped at once. */
static PyObject *m_try_map(PyObject *self, PyObject *args) {
    unsigned long long size;
    int fd, prot;
    if (!PyArg_ParseTuple(args, "iKi", &fd, &size, &prot))
        return NULL;
    void *p = mmap(NULL, size, prot, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return PyLong_FromLong(errno);
    munmap(p, size);
    return PyLong_FromLong(0);
}

static PyObject *m_view(PyObject *self, PyObject *args) {
    PyObject *o_addr;
    Py_ssize_t size;
    int writable;
    uintptr_t addr;
    if (!PyArg_ParseTuple(args, "Onp", &o_addr, &size, &writable) || !parse_addr(o_addr, &addr))
        return NULL;
    return PyMemoryView_FromMemory((char *)addr, size, writable ? PyBUF_WRITE : PyBUF_READ);
}

static PyObject *m_address_of(PyObject *self, PyObject *arg) {
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *r = PyLong_FromVoidPtr(b.buf);
    PyBuffer_Release(&b);
    return r;
}

static PyObject *m_load_u32(PyObject *self, PyObject *arg) {
    uintptr_t a;
    if (!parse_addr(arg, &a))
        return NULL;
    return PyLong_FromUnsignedLong(__atomic_load_n((const uint32_t *)a, __ATOMIC_ACQUIRE));
}

static PyObject *m_store_u32(PyObject *self, PyObject *args) {
    PyObject *o_addr;
    unsigned int v;
    uintptr_t a;
    if (!PyArg_ParseTuple(args, "OI", &o_addr, &v) || !parse_addr(o_addr, &a))
        return NULL;
    __atomic_store_n((uint32_t *)a, v, __ATOMIC_SEQ_CST);
    Py_RETURN_NONE;
}

static PyObject *m_load_u64(PyObject *self, PyObject *arg) {
    uintptr_t a;
    if (!parse_addr(arg, &a))
        return NULL;
    return PyLong_FromUnsignedLongLong(__atomic_load_n((const uint64_t *)a, __ATOMIC_ACQUIRE));
}

static PyObject *m_store_u64(PyObject *self, PyObject *args) {
    PyObject *o_addr;
    unsigned long long v;
    uintptr_t a;
    if (!PyArg_ParseTuple(args, "OK", &o_addr, &v) || !parse_addr(o_addr, &a))
        return NULL;
    __atomic_store_n((uint64_t *)a, (uint64_t)v, __ATOMIC_SEQ_CST);
    Py_RETURN_NONE;
}

/* probe(addr, write) -> (fault signal, si_code, fault address): 0s when the access worked.
 * A write stores back the byte just read, so probing never changes memory. Meant to run
 * in a throw-away child process: the SIGSEGV/SIGBUS handler jumps back here. */
static sigjmp_buf probe_env;
static volatile sig_atomic_t probe_signal, probe_code;
static volatile uintptr_t probe_fault_addr;

static void probe_handler(int sig, siginfo_t *info, void *ctx) {
    probe_signal = sig;
    probe_code = info->si_code;
    probe_fault_addr = (uintptr_t)info->si_addr;
    siglongjmp(probe_env, 1);
}

static PyObject *m_probe(PyObject *self, PyObject *args) {
    PyObject *o_addr;
    int write;
    uintptr_t addr;
    struct sigaction sa, old_segv, old_bus;
    if (!PyArg_ParseTuple(args, "Op", &o_addr, &write) || !parse_addr(o_addr, &addr))
        return NULL;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = probe_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    probe_signal = probe_code = 0;
    probe_fault_addr = 0;
    if (sigsetjmp(probe_env, 1) == 0) {
        volatile uint8_t *p = (volatile uint8_t *)addr;
        uint8_t v = *p;
        if (write)
            *p = v;
    }
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    return Py_BuildValue("(iiK)", (int)probe_signal, (int)probe_code,
                         (unsigned long long)probe_fault_addr);
}

/* poke(addr, byte): a raw store with no safety net (the hostile receiver's weapon). */
static PyObject *m_poke(PyObject *self, PyObject *args) {
    PyObject *o_addr;
    unsigned char v;
    uintptr_t addr;
    if (!PyArg_ParseTuple(args, "Ob", &o_addr, &v) || !parse_addr(o_addr, &addr))
        return NULL;
    *(volatile uint8_t *)addr = v;
    Py_RETURN_NONE;
}

static PyObject *m_set_parent_death_signal(PyObject *self, PyObject *arg) {
    long sig = PyLong_AsLong(arg);
    if (sig == -1 && PyErr_Occurred())
        return NULL;
    if (prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyObject *m_set_child_subreaper(PyObject *self, PyObject *arg) {
    int on = PyObject_IsTrue(arg);
    if (on < 0)
        return NULL;
    if (prctl(PR_SET_CHILD_SUBREAPER, (unsigned long)on, 0, 0, 0) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* register_fast_wakeups() -> bool: enable asymmetric fences for this process (all
 * processes sharing rings must call it before they start). */
static PyObject *m_register_fast_wakeups(PyObject *self, PyObject *unused) {
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    asymmetric_fences = cmds >= 0 && (cmds & MEMBARRIER_CMD_GLOBAL_EXPEDITED)
        && (cmds & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED)
        && syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0;
    return PyBool_FromLong(asymmetric_fences);
}

static PyMethodDef module_methods[] = {
    {"register_fast_wakeups", m_register_fast_wakeups, METH_NOARGS,
     "register_fast_wakeups() -> bool: use membarrier-based asymmetric fences"},
    {"reserve", m_reserve, METH_VARARGS, "reserve(size) -> addr: inaccessible address space"},
    {"map_shared", m_map_shared, METH_VARARGS,
     "map_shared(addr, size, prot, fd[, offset]): MAP_SHARED|MAP_FIXED mapping of fd"},
    {"map_private", m_map_private, METH_VARARGS,
     "map_private(addr, size, prot): fresh anonymous private memory at addr"},
    {"unmap", m_unmap, METH_VARARGS, "unmap(addr, size)"},
    {"try_protect", m_try_protect, METH_VARARGS, "try_protect(addr, size, prot) -> errno or 0"},
    {"try_map", m_try_map, METH_VARARGS, "try_map(fd, size, prot) -> errno or 0"},
    {"view", m_view, METH_VARARGS, "view(addr, size, writable) -> memoryview"},
    {"address_of", m_address_of, METH_O, "address_of(buffer) -> int"},
    {"load_u32", m_load_u32, METH_O, "atomic acquire load of a u32"},
    {"store_u32", m_store_u32, METH_VARARGS, "atomic sequentially consistent store of a u32"},
    {"load_u64", m_load_u64, METH_O, "atomic acquire load of a u64"},
    {"store_u64", m_store_u64, METH_VARARGS, "atomic sequentially consistent store of a u64"},
    {"probe", m_probe, METH_VARARGS,
     "probe(addr, write) -> (signal, si_code, fault_addr); run it in a child process"},
    {"poke", m_poke, METH_VARARGS, "poke(addr, byte): raw store"},
    {"set_parent_death_signal", m_set_parent_death_signal, METH_O,
     "prctl(PR_SET_PDEATHSIG, sig)"},
    {"set_child_subreaper", m_set_child_subreaper, METH_O, "prctl(PR_SET_CHILD_SUBREAPER)"},
    {NULL}
};

static struct PyModuleDef ring_module = {
    PyModuleDef_HEAD_INIT, "partcfg.runtime._ring",
    "Compiled core of the partcfg runtime: SPSC rings and memory primitives.", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__ring(void) {
    if (PyType_Ready(&SenderType) < 0 || PyType_Ready(&ReceiverType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&ring_module);
    if (!m)
        return NULL;
    RingCorrupt = PyErr_NewExceptionWithDoc(
        "partcfg.runtime._ring.RingCorrupt",
        "The peer broke the ring protocol: an impossible index or record length.",
        PyExc_ValueError, NULL);
    if (!RingCorrupt || PyModule_AddObjectRef(m, "RingCorrupt", RingCorrupt) < 0
        || PyModule_AddObjectRef(m, "Sender", (PyObject *)&SenderType) < 0
        || PyModule_AddObjectRef(m, "Receiver", (PyObject *)&ReceiverType) < 0
        || PyModule_AddIntConstant(m, "RECORD_HEADER", HDR) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
