#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* PTHREAD_MUTEX_ADAPTIVE_NP */
#endif
#include "cspate.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/time.h>
#include <time.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sys/mman.h>

const uint32_t cspate_EPOLLIN = EPOLLIN;
const uint32_t cspate_EPOLLOUT = EPOLLOUT;
const uint32_t cspate_EPOLLERR = EPOLLERR;
const uint32_t cspate_EPOLLHUP = EPOLLHUP;
const uint32_t cspate_EPOLLRDHUP = EPOLLRDHUP;

int cspate_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cspate_set_thread_name(const char *name) {
    char short_name[16];
    snprintf(short_name, sizeof short_name, "%s", name);
    return pthread_setname_np(pthread_self(), short_name);
}

int cspate_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cspate_epoll_wait(int epfd, uint32_t *events, uint64_t *datas, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n;
    do {
        n = epoll_wait(epfd, evs, max, timeout_ms);
    } while (n < 0 && errno == EINTR);
    for (int i = 0; i < n; i++) {
        events[i] = evs[i].events;
        datas[i] = evs[i].data.u64;
    }
    return n;
}

int cspate_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int cspate_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t r;
    do { r = write(fd, &one, sizeof one); } while (r < 0 && errno == EINTR);
    return r == sizeof one ? 0 : -1;
}

int cspate_eventfd_drain(int fd) {
    uint64_t v;
    ssize_t r;
    do { r = read(fd, &v, sizeof v); } while (r < 0 && errno == EINTR);
    return r == sizeof v ? 0 : -1;
}

int cspate_timerfd_create(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }

int cspate_timerfd_arm_ms(int fd, int64_t ms) {
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (ms > 0) {
        its.it_value.tv_sec = ms / 1000;
        its.it_value.tv_nsec = (ms % 1000) * 1000000L;
    }
    return timerfd_settime(fd, 0, &its, NULL);
}

int cspate_ares_init(ares_channel *channel, int flags, int timeout_ms, int tries,
                     int rcvbuf, const char *resolvconf_path,
                     ares_sock_state_cb sock_state_cb, void *sock_state_data) {
    struct ares_options o;
    memset(&o, 0, sizeof o);
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS
             | ARES_OPT_SOCK_STATE_CB;
    o.flags = flags;
    o.timeout = timeout_ms;
    o.tries = tries;
    o.lookups = (char *)"b";
    o.sock_state_cb = sock_state_cb;
    o.sock_state_cb_data = sock_state_data;
    if (rcvbuf > 0) { mask |= ARES_OPT_SOCK_RCVBUF; o.socket_receive_buffer_size = rcvbuf; }
    if (resolvconf_path) { mask |= ARES_OPT_RESOLVCONF; o.resolvconf_path = (char *)resolvconf_path; }
    return ares_init_options(channel, &o, mask);
}

int cspate_ares_servers_csv(ares_channel channel, char *buf, int buflen) {
    struct ares_addr_port_node *servers = NULL;
    int rc = ares_get_servers_ports(channel, &servers);
    if (rc != ARES_SUCCESS) return rc;
    int off = 0;
    buf[0] = 0;
    for (struct ares_addr_port_node *s = servers; s; s = s->next) {
        char ip[INET6_ADDRSTRLEN];
        int port = s->udp_port ? s->udp_port : 53;
        const char *sep = off ? "," : "";
        if (s->family == AF_INET) {
            inet_ntop(AF_INET, &s->addr.addr4, ip, sizeof ip);
            off += snprintf(buf + off, buflen - off, "%s%s:%d", sep, ip, port);
        } else {
            inet_ntop(AF_INET6, &s->addr.addr6, ip, sizeof ip);
            off += snprintf(buf + off, buflen - off, "%s[%s]:%d", sep, ip, port);
        }
        if (off >= buflen) { off = buflen - 1; break; }
    }
    ares_free_data(servers);
    return ARES_SUCCESS;
}

int cspate_ares_timeout_ms(ares_channel channel) {
    struct timeval tv;
    struct timeval *r = ares_timeout(channel, NULL, &tv);
    if (!r) return -1;
    long long us = (long long)r->tv_sec * 1000000LL + r->tv_usec;
    return (int)((us + 999) / 1000);
}

CURLcode cspate_easy_setopt_long(CURL *h, CURLoption opt, long v) { return curl_easy_setopt(h, opt, v); }
CURLcode cspate_easy_setopt_ptr(CURL *h, CURLoption opt, void *v) { return curl_easy_setopt(h, opt, v); }
CURLcode cspate_easy_setopt_str(CURL *h, CURLoption opt, const char *v) { return curl_easy_setopt(h, opt, v); }
CURLcode cspate_easy_setopt_off(CURL *h, CURLoption opt, curl_off_t v) { return curl_easy_setopt(h, opt, v); }
CURLcode cspate_easy_getinfo_long(CURL *h, CURLINFO info, long *v) { return curl_easy_getinfo(h, info, v); }
CURLcode cspate_easy_getinfo_off(CURL *h, CURLINFO info, curl_off_t *v) { return curl_easy_getinfo(h, info, v); }
CURLcode cspate_easy_getinfo_double(CURL *h, CURLINFO info, double *v) { return curl_easy_getinfo(h, info, v); }
CURLcode cspate_easy_getinfo_str(CURL *h, CURLINFO info, char **v) { return curl_easy_getinfo(h, info, v); }
CURLcode cspate_easy_getinfo_ptr(CURL *h, CURLINFO info, void **v) { return curl_easy_getinfo(h, info, v); }
CURLMcode cspate_multi_setopt_long(CURLM *m, CURLMoption opt, long v) { return curl_multi_setopt(m, opt, v); }
CURLMcode cspate_multi_setopt_ptr(CURLM *m, CURLMoption opt, void *v) { return curl_multi_setopt(m, opt, v); }

CURLcode cspate_easy_set_write(CURL *h, cspate_data_cb cb, void *userdata) {
    CURLcode rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cb);
    return rc ? rc : curl_easy_setopt(h, CURLOPT_WRITEDATA, userdata);
}
CURLcode cspate_easy_set_closesocket(CURL *h, cspate_closesocket_cb cb, void *clientp) {
    CURLcode rc = curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, cb);
    return rc ? rc : curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, clientp);
}
CURLcode cspate_easy_set_header(CURL *h, cspate_data_cb cb, void *userdata) {
    CURLcode rc = curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, cb);
    return rc ? rc : curl_easy_setopt(h, CURLOPT_HEADERDATA, userdata);
}
CURLMcode cspate_multi_set_socket(CURLM *m, curl_socket_callback cb, void *userp) {
    CURLMcode rc = curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, cb);
    return rc ? rc : curl_multi_setopt(m, CURLMOPT_SOCKETDATA, userp);
}
CURLMcode cspate_multi_set_timer(CURLM *m, curl_multi_timer_callback cb, void *userp) {
    CURLMcode rc = curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, cb);
    return rc ? rc : curl_multi_setopt(m, CURLMOPT_TIMERDATA, userp);
}
int cspate_multi_next_done(CURLM *m, CURL **easy, CURLcode *result) {
    int left;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(m, &left))) {
        if (msg->msg == CURLMSG_DONE) {
            *easy = msg->easy_handle;
            *result = msg->data.result;
            return 1;
        }
    }
    return 0;
}
CURLMcode cspate_multi_timeout_action(CURLM *m, int *running) {
    return curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, running);
}
const int cspate_CURL_POLL_IN = CURL_POLL_IN;
const int cspate_CURL_POLL_OUT = CURL_POLL_OUT;
const int cspate_CURL_POLL_INOUT = CURL_POLL_INOUT;
const int cspate_CURL_POLL_REMOVE = CURL_POLL_REMOVE;
const int cspate_CURL_CSELECT_IN = CURL_CSELECT_IN;
const int cspate_CURL_CSELECT_OUT = CURL_CSELECT_OUT;
const int cspate_CURL_CSELECT_ERR = CURL_CSELECT_ERR;

// The algorithms are fetched from OpenSSL's provider once: EVP_sha256() with
// EVP_DigestInit_ex made OpenSSL 3 look the implementation up again for every body
// (a lock and a table search per transfer, visible in profiles).
static EVP_MD *cspate_md_sha256, *cspate_md_sha1;
static pthread_once_t cspate_md_once = PTHREAD_ONCE_INIT;
static void cspate_md_init(void) {
    cspate_md_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    cspate_md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
}

void *cspate_digest_new(int algorithm) {
    pthread_once(&cspate_md_once, cspate_md_init);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const EVP_MD *md = algorithm == 1 ? cspate_md_sha1 : cspate_md_sha256;
    if (!md) md = algorithm == 1 ? EVP_sha1() : EVP_sha256();
    if (ctx && EVP_DigestInit_ex2(ctx, md, NULL) != 1) { EVP_MD_CTX_free(ctx); return NULL; }
    return ctx;
}
void cspate_digest_update(void *ctx, const void *data, size_t len) {
    if (ctx) EVP_DigestUpdate((EVP_MD_CTX *)ctx, data, len);
}
unsigned int cspate_digest_final(void *ctx, unsigned char out[64]) {
    unsigned int n = 0;
    if (!ctx) return 0;
    EVP_DigestFinal_ex((EVP_MD_CTX *)ctx, out, &n);
    EVP_MD_CTX_free((EVP_MD_CTX *)ctx);
    return n;
}
void cspate_digest_free(void *ctx) { if (ctx) EVP_MD_CTX_free((EVP_MD_CTX *)ctx); }

// ---- Public Suffix List ----------------------------------------------------------
#include <libpsl.h>
#include <pthread.h>

static const psl_ctx_t *cspate_psl;
static char cspate_psl_desc[512];
static pthread_once_t cspate_psl_once = PTHREAD_ONCE_INIT;

static void cspate_psl_init(void) {
    // psl_latest(NULL) loads the distribution's list (Debian: the publicsuffix package's
    // /usr/share/publicsuffix/public_suffix_list.dafsa) when it is newer than the list
    // compiled into libpsl, else the built-in one.
    cspate_psl = psl_latest(NULL);
    const char *dist = psl_dist_filename();
    if (cspate_psl && dist && *dist && access(dist, R_OK) == 0) {
        snprintf(cspate_psl_desc, sizeof cspate_psl_desc, "%s", dist);
    } else if (cspate_psl) {
        snprintf(cspate_psl_desc, sizeof cspate_psl_desc, "libpsl built-in (%s)", psl_builtin_filename());
    } else {
        cspate_psl = psl_builtin();
        snprintf(cspate_psl_desc, sizeof cspate_psl_desc, "libpsl built-in");
    }
}

const char *cspate_psl_registrable_domain(const char *host) {
    pthread_once(&cspate_psl_once, cspate_psl_init);
    if (!cspate_psl) return NULL;
    return psl_registrable_domain(cspate_psl, host);
}

const char *cspate_psl_source(void) {
    pthread_once(&cspate_psl_once, cspate_psl_init);
    return cspate_psl_desc;
}

// ---- zlib -------------------------------------------------------------------------
#include <zlib.h>
#include <stdlib.h>

void *cspate_inflate_new(int raw_deflate) {
    z_stream *z = calloc(1, sizeof *z);
    if (!z) return NULL;
    if (inflateInit2(z, raw_deflate ? -15 : 15 + 32) != Z_OK) { free(z); return NULL; }
    return z;
}
int cspate_inflate(void *p, const void *in, size_t in_len, size_t *consumed,
                   void *out, size_t out_len, size_t *produced) {
    z_stream *z = p;
    z->next_in = (Bytef *)in; z->avail_in = (uInt)in_len;
    z->next_out = out; z->avail_out = (uInt)out_len;
    int rc = inflate(z, Z_NO_FLUSH);
    *consumed = in_len - z->avail_in;
    *produced = out_len - z->avail_out;
    return rc;
}
int cspate_inflate_reset(void *p) { return inflateReset((z_stream *)p); }
void cspate_inflate_free(void *p) { if (p) { inflateEnd((z_stream *)p); free(p); } }

size_t cspate_gzip_bound(size_t len) { return len + len / 1000 + 64 + 18; }
size_t cspate_gzip(const void *in, size_t in_len, void *out, size_t out_cap, int level) {
    z_stream z; memset(&z, 0, sizeof z);
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
    z.next_in = (Bytef *)in; z.avail_in = (uInt)in_len;
    z.next_out = out; z.avail_out = (uInt)out_cap;
    int rc = deflate(&z, Z_FINISH);
    size_t n = out_cap - z.avail_out;
    deflateEnd(&z);
    return rc == Z_STREAM_END ? n : 0;
}
void *cspate_gzip_new(int level) {
    z_stream *z = calloc(1, sizeof *z);
    if (!z) return NULL;
    if (deflateInit2(z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) { free(z); return NULL; }
    return z;
}
int cspate_gzip_write(void *p, const void *in, size_t in_len, size_t *consumed,
                      void *out, size_t out_len, size_t *produced, int finish) {
    z_stream *z = p;
    z->next_in = (Bytef *)in; z->avail_in = (uInt)in_len;
    z->next_out = out; z->avail_out = (uInt)out_len;
    int rc = deflate(z, finish ? Z_FINISH : Z_NO_FLUSH);
    *consumed = in_len - z->avail_in;
    *produced = out_len - z->avail_out;
    return rc;
}
void cspate_gzip_free(void *p) { if (p) { deflateEnd((z_stream *)p); free(p); } }

// ---- curl debug callback ------------------------------------------------------------
CURLcode cspate_easy_set_debug(CURL *h, cspate_debug_cb cb, void *userdata) {
    CURLcode rc = curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, cb);
    return rc ? rc : curl_easy_setopt(h, CURLOPT_DEBUGDATA, userdata);
}

// ---- gate: adaptive mutex + monotonic condition ---------------------------------------

struct cspate_gate { pthread_mutex_t m; pthread_cond_t c; };

void *cspate_gate_new(void) {
    struct cspate_gate *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&g->m, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->c, &ca);
    pthread_condattr_destroy(&ca);
    return g;
}

void cspate_gate_free(void *p) {
    struct cspate_gate *g = p;
    if (!g) return;
    pthread_cond_destroy(&g->c);
    pthread_mutex_destroy(&g->m);
    free(g);
}

void cspate_gate_lock(void *g) { pthread_mutex_lock(&((struct cspate_gate *)g)->m); }
void cspate_gate_unlock(void *g) { pthread_mutex_unlock(&((struct cspate_gate *)g)->m); }
void cspate_gate_wait(void *p) { struct cspate_gate *g = p; pthread_cond_wait(&g->c, &g->m); }

int cspate_gate_wait_ms(void *p, int64_t ms) {
    struct cspate_gate *g = p;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ms < 0) ms = 0;
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec += 1; ts.tv_nsec -= 1000000000L; }
    return pthread_cond_timedwait(&g->c, &g->m, &ts) == 0;
}

void cspate_gate_signal(void *g) { pthread_cond_signal(&((struct cspate_gate *)g)->c); }
void cspate_gate_broadcast(void *g) { pthread_cond_broadcast(&((struct cspate_gate *)g)->c); }

// ---- libcurl's memory functions -----------------------------------------------------
#include <malloc.h>

/* glibc's thread cache (tcache) serves requests up to 1032 bytes, and never calloc. A
   larger request takes the arena's path, and when fast-bin chunks exist it first
   consolidates them all (malloc_consolidate: ~2.5 times per fetched URL, counted with a
   uprobe). curl 7.88 makes two such requests per transfer (its download buffer, 16 KiB + 1,
   and a ~1.5 KiB calloc) and ~12 callocs. So: requests over the tcache's limit, up to
   CSPATE_CLASS_MAX, are rounded up to a multiple of CSPATE_CLASS_STEP and kept per thread
   when freed, to be handed out again; small callocs are malloc + memset. Every block is a
   glibc block (made by malloc(3) with the class size as its request), so a block curl
   allocated before these functions were set, or one that reaches free(3), is fine. */
#define CSPATE_TCACHE_MAX 1032
#define CSPATE_CLASS_STEP 512
#define CSPATE_CLASS_MAX (CURL_MAX_WRITE_SIZE + CSPATE_CLASS_STEP)   /* curl's buffer, 16 KiB + 1, fits */
#define CSPATE_CLASSES (CSPATE_CLASS_MAX / CSPATE_CLASS_STEP + 1)
/* Blocks kept per class and thread: a hub finishing a burst of transfers frees that many,
   then starts the next transfers; and at most CSPATE_CACHE_BYTES in all per thread. */
#define CSPATE_CLASS_KEEP 64
#define CSPATE_CACHE_BYTES (2u << 20)

struct cspate_class_cache {
    void *blocks[CSPATE_CLASSES][CSPATE_CLASS_KEEP];
    int count[CSPATE_CLASSES];
    size_t bytes;
};
static __thread struct cspate_class_cache *cspate_cache;
static __thread unsigned long cspate_cache_reused[CSPATE_CLASSES];
static pthread_key_t cspate_cache_key;
static pthread_once_t cspate_cache_key_once = PTHREAD_ONCE_INIT;

/* At thread exit (the key's destructor runs while the thread's TLS is still there). */
static void cspate_cache_release(void *p) {
    struct cspate_class_cache *c = p;
    for (int k = 0; k < CSPATE_CLASSES; k++)
        while (c->count[k] > 0) free(c->blocks[k][--c->count[k]]);
    free(c);
    cspate_cache = NULL;
}

/* Set once the key exists: without it (the process's keys used up) nothing is cached, and
   no other library's key is touched. */
static int cspate_cache_key_made;

static void cspate_cache_key_make(void) {
    cspate_cache_key_made = pthread_key_create(&cspate_cache_key, cspate_cache_release) == 0;
}

static struct cspate_class_cache *cspate_cache_get(void) {
    if (!cspate_cache) {
        struct cspate_class_cache *c = calloc(1, sizeof *c);
        if (!c) return NULL;
        pthread_once(&cspate_cache_key_once, cspate_cache_key_make);
        if (!cspate_cache_key_made || pthread_setspecific(cspate_cache_key, c) != 0) { free(c); return NULL; }
        cspate_cache = c;
    }
    return cspate_cache;
}

/* The class of a request that is kept, or -1. */
static inline int cspate_class_of_request(size_t n) {
    if (n <= CSPATE_TCACHE_MAX || n > CSPATE_CLASS_MAX) return -1;
    return (int)((n + CSPATE_CLASS_STEP - 1) / CSPATE_CLASS_STEP);
}

/* Whether glibc's allocator is the process's. Under an allocator loaded in its place
   (LD_PRELOAD of jemalloc, tcmalloc, mimalloc) the word before a block means nothing, and
   its own malloc_usable_size must be asked. glibc's malloc and free are its __libc_malloc
   and __libc_free; looked up once, at run time (a compiler may take two named functions
   for two addresses). */
#include <dlfcn.h>
static int cspate_heap_state;   /* 0: not looked up yet; 1: glibc's; 2: another allocator's */
static inline int cspate_heap_glibcs(void) {
    int state = __atomic_load_n(&cspate_heap_state, __ATOMIC_RELAXED);
    if (state == 0) {   /* the same answer whichever thread looks first */
        void *m = dlsym(RTLD_DEFAULT, "malloc"), *lm = dlsym(RTLD_DEFAULT, "__libc_malloc");
        void *f = dlsym(RTLD_DEFAULT, "free"), *lf = dlsym(RTLD_DEFAULT, "__libc_free");
        state = m && lm && f && lf && m == lm && f == lf ? 1 : 2;
        __atomic_store_n(&cspate_heap_state, state, __ATOMIC_RELAXED);
    }
    return state == 1;
}

/* A block's usable size from its own chunk header: the word before it holds the chunk's
   size with three flag bits (2: mmapped), and an in-use chunk's usable size is that size
   less one word (glibc's memsize). malloc_usable_size(3) gives the same, but first reads
   the next chunk's header to check that this one is in use: a cache miss, often, on every
   free curl makes. Mmapped blocks go to glibc. Checked against glibc's for many sizes. */
size_t cspate_chunk_usable_size(void *p) {
    if (!cspate_heap_glibcs()) return malloc_usable_size(p);
    size_t head = ((const size_t *)p)[-1];
    if (head & 2) return malloc_usable_size(p);
    return (head & ~(size_t)7) - sizeof(size_t);
}

int cspate_heap_is_glibc(void) { return cspate_heap_glibcs(); }

static void *cspate_cm_malloc(size_t n) {
    int k = cspate_class_of_request(n);
    if (k < 0) return malloc(n);
    struct cspate_class_cache *c = cspate_cache;
    if (c && c->count[k] > 0) {
        cspate_cache_reused[k]++;
        c->bytes -= (size_t)k * CSPATE_CLASS_STEP;
        return c->blocks[k][--c->count[k]];
    }
    return malloc((size_t)k * CSPATE_CLASS_STEP);
}

static void cspate_cm_free(void *p) {
    if (!p) return;
    /* A block of class k has a usable size of k × STEP, rounded up by glibc to its chunk
       (at most 15 more). Any block whose usable size is that close to a class size can
       hold the class's requests, wherever it came from. */
    size_t u = cspate_chunk_usable_size(p);
    if (u > CSPATE_TCACHE_MAX && u < CSPATE_CLASS_MAX + 16 && u % CSPATE_CLASS_STEP < 16) {
        int k = (int)(u / CSPATE_CLASS_STEP);
        struct cspate_class_cache *c = cspate_cache_get();
        size_t bytes = (size_t)k * CSPATE_CLASS_STEP;
        if (c && k < CSPATE_CLASSES && c->count[k] < CSPATE_CLASS_KEEP && c->bytes + bytes <= CSPATE_CACHE_BYTES) {
            c->blocks[k][c->count[k]++] = p;
            c->bytes += bytes;
            return;
        }
    }
    free(p);
}

static void *cspate_cm_calloc(size_t count, size_t size) {
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) return NULL;
    if (n > CSPATE_CLASS_MAX) return calloc(count, size);
    /* glibc's calloc skips its thread cache; malloc + memset does not. */
    void *p = cspate_cm_malloc(n);
    if (p) memset(p, 0, n);
    return p;
}

/* glibc's realloc never takes its thread cache: a block that must move is found by the
   arena, under its lock (_int_realloc, _int_malloc). curl grows its small strings (aprintf,
   dynbufs, URL parts) by reallocs: ~5 a transfer in that path. A small block that must grow
   is moved here through malloc and free, which do take the cache. */
void *cspate_curl_realloc(void *p, size_t n) {
    if (!p) return cspate_cm_malloc(n);
    size_t u = cspate_chunk_usable_size(p);
    if (n == 0 || n > CSPATE_TCACHE_MAX || u > CSPATE_TCACHE_MAX) return realloc(p, n);
    if (n <= u) return p;
    void *q = malloc(n);
    if (!q) return NULL;
    memcpy(q, p, u);
    free(p);
    return q;
}
static char *cspate_cm_strdup(const char *s) { return strdup(s); }

size_t cspate_usable_size(void *p) { return malloc_usable_size(p); }

CURLcode cspate_curl_global_init(long flags) {
    return curl_global_init_mem(flags, cspate_cm_malloc, cspate_cm_free, cspate_curl_realloc, cspate_cm_strdup,
                                cspate_cm_calloc);
}

// ---- glibc's per-thread cache, for the whole process -----------------------------------
#include <sys/auxv.h>

/* glibc reads GLIBC_TUNABLES once, in the dynamic loader, before any of our code runs; the
   only way to set a tunable for this process is to run it again with the variable set. */
#define CSPATE_RAN_AGAIN "SPATE_RAN_AGAIN"

int cspate_reexec_with_tunable(char *const argv[], const char *name, const char *value) {
    /* This is the run again: once, whatever the loader made of GLIBC_TUNABLES (glibc 2.36
       keeps a whole copy for getenv, but its loader has rewritten the variable before). */
    if (getenv(CSPATE_RAN_AGAIN)) { unsetenv(CSPATE_RAN_AGAIN); return 0; }
    if (getauxval(AT_SECURE)) return -1;          /* the loader would drop the variable */
    const char *old = getenv("GLIBC_TUNABLES");
    if (old && strstr(old, name)) return 0;        /* the user's own value */
    size_t n = (old ? strlen(old) + 1 : 0) + strlen(name) + 1 + strlen(value) + 1;
    char *joined = malloc(n);
    char *saved = old ? strdup(old) : NULL;
    if (!joined || (old && !saved)) { free(joined); free(saved); return -1; }
    snprintf(joined, n, "%s%s%s=%s", old ? old : "", old && *old ? ":" : "", name, value);
    if (setenv("GLIBC_TUNABLES", joined, 1) == 0 && setenv(CSPATE_RAN_AGAIN, "1", 1) == 0)
        execv("/proc/self/exe", argv);
    /* Still here: the variables go back to what they were, and the program goes on untuned. */
    int err = errno;
    unsetenv(CSPATE_RAN_AGAIN);
    if (saved) setenv("GLIBC_TUNABLES", saved, 1); else unsetenv("GLIBC_TUNABLES");
    free(joined); free(saved);
    errno = err;
    return -1;
}

unsigned long cspate_curl_cache_hits(size_t request) {
    int k = cspate_class_of_request(request);
    return k < 0 ? 0 : cspate_cache_reused[k];
}

// ---- An anonymous in-memory file (memfd): literal input without a file in /tmp ----------
int cspate_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

// ---- A spare scratch buffer per thread (JSONWriter's) -----------------------------------
/* The spare sits in a per-thread slot, found through a __thread pointer (no call on the hot
   path); the slot is also registered under a pthread key, whose destructor frees the spare
   when the thread ends (a dispatch worker thread may end while the run goes on). */
struct cspate_scratch { void *p; size_t capacity; };
static __thread struct cspate_scratch *cspate_scratch_slot;
static pthread_key_t cspate_scratch_key;
static pthread_once_t cspate_scratch_key_once = PTHREAD_ONCE_INIT;
static int cspate_scratch_key_made;

static long cspate_scratch_released;   /* spares freed at a thread's end (for the tests) */
static void cspate_scratch_release(void *v) {
    struct cspate_scratch *s = v;
    cspate_scratch_slot = NULL;   /* runs on the ending thread: a later give makes a new slot */
    if (s->p) __atomic_add_fetch(&cspate_scratch_released, 1, __ATOMIC_RELAXED);
    free(s->p);
    free(s);
}
long cspate_scratch_released_count(void) { return __atomic_load_n(&cspate_scratch_released, __ATOMIC_RELAXED); }
static void cspate_scratch_key_make(void) {
    cspate_scratch_key_made = pthread_key_create(&cspate_scratch_key, cspate_scratch_release) == 0;
}

void *cspate_scratch_take(size_t *capacity) {
    struct cspate_scratch *s = cspate_scratch_slot;
    if (!s || !s->p) { *capacity = 0; return NULL; }
    void *p = s->p;
    *capacity = s->capacity;
    s->p = NULL;
    s->capacity = 0;
    return p;
}
_Bool cspate_scratch_give(void *p, size_t capacity) {
    if (capacity > 64 * 1024) return 0;
    struct cspate_scratch *s = cspate_scratch_slot;
    if (!s) {
        pthread_once(&cspate_scratch_key_once, cspate_scratch_key_make);
        if (!cspate_scratch_key_made) return 0;
        s = calloc(1, sizeof *s);
        if (!s) return 0;
        if (pthread_setspecific(cspate_scratch_key, s) != 0) { free(s); return 0; }
        cspate_scratch_slot = s;
    }
    if (s->p) return 0;
    s->p = p;
    s->capacity = capacity;
    return 1;
}
