#ifndef CSPATE_H
#define CSPATE_H

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ares.h>
#include <ares_dns.h>
#include <curl/curl.h>

// ---- epoll / eventfd / timerfd -------------------------------------------------
// Swift imports these, but the epoll_event struct is packed on x86_64 and the flag
// macros are enums of mixed types; these wrappers keep the Swift side simple.

int cspate_epoll_create(void);
/// Registers (op = EPOLL_CTL_ADD/MOD/DEL) `fd` with `events`, storing `data` (fd and
/// registration generation packed by the caller) in the event's user data.
int cspate_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// Waits and copies up to `max` events into parallel arrays.
int cspate_epoll_wait(int epfd, uint32_t *events, uint64_t *datas, int max, int timeout_ms);

/// Names the calling thread for the kernel (top -H, /proc/PID/task/TID/comm); at most 15
/// bytes are kept. Returns 0 or an errno value.
int cspate_set_thread_name(const char *name);
int cspate_eventfd(void);
int cspate_eventfd_signal(int fd);
int cspate_eventfd_drain(int fd);

int cspate_timerfd_create(void);
int cspate_timerfd_arm_ms(int fd, int64_t ms);

extern const uint32_t cspate_EPOLLIN;
extern const uint32_t cspate_EPOLLOUT;
extern const uint32_t cspate_EPOLLERR;
extern const uint32_t cspate_EPOLLHUP;
extern const uint32_t cspate_EPOLLRDHUP;

// ---- c-ares ----------------------------------------------------------------------

/// Initialises a channel with explicit options (see DESIGN.md §4):
/// flags (ARES_FLAG_STAYOPEN, ...), per-try timeout in ms, tries, socket receive buffer,
/// lookups string ("b" = DNS only: spate answers from the hosts file itself), an optional
/// resolv.conf path (NULL = system), and the socket-state callback that feeds epoll.
int cspate_ares_init(ares_channel *channel, int flags, int timeout_ms, int tries,
                     int rcvbuf, const char *resolvconf_path,
                     ares_sock_state_cb sock_state_cb, void *sock_state_data);

/// Returns the channel's servers as "ip:port,ip:port" (IPv6 in brackets) into buf.
int cspate_ares_servers_csv(ares_channel channel, char *buf, int buflen);

/// ares_timeout() in whole milliseconds, rounded *up*; -1 when nothing is pending.
int cspate_ares_timeout_ms(ares_channel channel);

// ---- libcurl (variadic calls, typed) ---------------------------------------------
CURLcode cspate_easy_setopt_long(CURL *h, CURLoption opt, long v);
CURLcode cspate_easy_setopt_ptr(CURL *h, CURLoption opt, void *v);
CURLcode cspate_easy_setopt_str(CURL *h, CURLoption opt, const char *v);
CURLcode cspate_easy_setopt_off(CURL *h, CURLoption opt, curl_off_t v);
CURLcode cspate_easy_getinfo_long(CURL *h, CURLINFO info, long *v);
CURLcode cspate_easy_getinfo_off(CURL *h, CURLINFO info, curl_off_t *v);
CURLcode cspate_easy_getinfo_double(CURL *h, CURLINFO info, double *v);
CURLcode cspate_easy_getinfo_str(CURL *h, CURLINFO info, char **v);
CURLcode cspate_easy_getinfo_ptr(CURL *h, CURLINFO info, void **v);
CURLMcode cspate_multi_setopt_long(CURLM *m, CURLMoption opt, long v);
CURLMcode cspate_multi_setopt_ptr(CURLM *m, CURLMoption opt, void *v);


// Callback setters (function pointers through curl's varargs, typed here).
typedef size_t (*cspate_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
CURLcode cspate_easy_set_write(CURL *h, cspate_data_cb cb, void *userdata);
CURLcode cspate_easy_set_header(CURL *h, cspate_data_cb cb, void *userdata);
CURLMcode cspate_multi_set_socket(CURLM *m, curl_socket_callback cb, void *userp);
CURLMcode cspate_multi_set_timer(CURLM *m, curl_multi_timer_callback cb, void *userp);
/// Reads one completion: returns 1 and fills easy/result for a CURLMSG_DONE message
/// (copied before curl_multi_remove_handle invalidates it), 0 when the queue is empty.
int cspate_multi_next_done(CURLM *m, CURL **easy, CURLcode *result);
/// curl_multi_socket_action with CURL_SOCKET_TIMEOUT.
CURLMcode cspate_multi_timeout_action(CURLM *m, int *running);

// ---- Message digests through OpenSSL's EVP (SHA-NI where the CPU has it) ----------
/// algorithm: 0 = SHA-256 (body_sha256), 1 = SHA-1 (WARC digests). NULL on failure.
void *cspate_digest_new(int algorithm);
void cspate_digest_update(void *ctx, const void *data, size_t len);
/// Writes the digest to out, frees ctx, and returns the digest's length (0 for a NULL ctx).
unsigned int cspate_digest_final(void *ctx, unsigned char out[64]);
void cspate_digest_free(void *ctx);

extern const int cspate_CURL_POLL_IN;
extern const int cspate_CURL_POLL_OUT;
extern const int cspate_CURL_POLL_INOUT;
extern const int cspate_CURL_POLL_REMOVE;
extern const int cspate_CURL_CSELECT_IN;
extern const int cspate_CURL_CSELECT_OUT;
extern const int cspate_CURL_CSELECT_ERR;

// ---- Public Suffix List (libpsl) ------------------------------------------------
/// The registrable domain (eTLD+1) of a lowercase ASCII host, per the newest PSL available
/// (Debian's /usr/share/publicsuffix list, or libpsl's built-in one); NULL for a public
/// suffix itself or an IP address. The pointer points into `host`.
const char *cspate_psl_registrable_domain(const char *host);
/// Which list is in use: "file:<path>" or "builtin", and its date; for the record.
const char *cspate_psl_source(void);

// ---- zlib (gzip'd sitemaps, raw bodies for WARC, gzip'd WARC records) --------------
/// A streaming inflater that accepts gzip and zlib streams (windowBits 15+32); NULL on
/// failure. `raw_deflate` = 1 for a bare deflate stream (some servers' "deflate").
void *cspate_inflate_new(int raw_deflate);
/// Inflates `in` into `out`: returns zlib's code (Z_OK, Z_STREAM_END, Z_BUF_ERROR, or an
/// error < 0) and sets how much input was consumed and output produced. Call again with
/// the rest of the input while `*produced == out_len`.
int cspate_inflate(void *z, const void *in, size_t in_len, size_t *consumed,
                   void *out, size_t out_len, size_t *produced);
/// Resets for a next gzip member (concatenated members are one gzip file).
int cspate_inflate_reset(void *z);
void cspate_inflate_free(void *z);
/// Compresses one whole buffer as a single gzip member into `out` (capacity from
/// cspate_gzip_bound); returns the size, or 0 on failure.
size_t cspate_gzip_bound(size_t len);
size_t cspate_gzip(const void *in, size_t in_len, void *out, size_t out_cap, int level);
/// Streaming gzip member writer (for records too large to compress in one call).
void *cspate_gzip_new(int level);
/// finish = 1 on the last call. Same contract as cspate_inflate.
int cspate_gzip_write(void *z, const void *in, size_t in_len, size_t *consumed,
                      void *out, size_t out_len, size_t *produced, int finish);
void cspate_gzip_free(void *z);

// ---- curl debug callback (the request headers exactly as sent, for WARC) -----------
typedef int (*cspate_closesocket_cb)(void *clientp, curl_socket_t fd);
/* CURLOPT_CLOSESOCKETFUNCTION + CURLOPT_CLOSESOCKETDATA. */
CURLcode cspate_easy_set_closesocket(CURL *h, cspate_closesocket_cb cb, void *clientp);
typedef int (*cspate_debug_cb)(CURL *h, curl_infotype type, char *data, size_t size, void *userdata);
CURLcode cspate_easy_set_debug(CURL *h, cspate_debug_cb cb, void *userdata);

// ---- a lock with a condition whose mutex spins briefly before sleeping ------------
// (PTHREAD_MUTEX_ADAPTIVE_NP: the runner's admission lock is held for a few hundred
// nanoseconds at a time by the reader and the hubs; a plain mutex put the loser to sleep
// in futex(2) on most collisions.) The condition waits on CLOCK_MONOTONIC.
void *cspate_gate_new(void);
void cspate_gate_free(void *g);
void cspate_gate_lock(void *g);
void cspate_gate_unlock(void *g);
void cspate_gate_wait(void *g);
/// Waits at most `ms` milliseconds; 1 when signalled (or spuriously woken), 0 on timeout.
int cspate_gate_wait_ms(void *g, int64_t ms);
void cspate_gate_signal(void *g);
void cspate_gate_broadcast(void *g);

// ---- libcurl's memory functions -----------------------------------------------------
// curl_global_init_mem with glibc's malloc, except that requests past glibc's per-thread
// cache (over 1032 bytes, up to 16.5 KiB: curl 7.88's download buffer, allocated and freed
// on every transfer, and a ~1.5 KiB calloc) are served from a per-thread cache of blocks
// by size class, and small callocs are malloc + memset (glibc's calloc skips its cache).
// Every block is a glibc block: one curl allocated before this was set, or one that
// reaches free(3), is fine either way.
CURLcode cspate_curl_global_init(long flags);
/// curl's realloc: a block of glibc's thread-cache sizes (up to 1032 bytes) that must grow
/// moves through malloc and free, which take the cache (glibc's realloc does not); others
/// are glibc's realloc. Exposed for the tests.
void *cspate_curl_realloc(void *p, size_t n);
/// malloc_usable_size(3), for the tests.
size_t cspate_usable_size(void *p);
/// The same from the block's own chunk header (what curl's free and realloc use), when
/// glibc's allocator is the process's (else malloc_usable_size).
size_t cspate_chunk_usable_size(void *p);
/// 1 if malloc and free are glibc's own (no allocator loaded in their place).
int cspate_heap_is_glibc(void);
/// How many of this thread's curl allocations of `request` bytes' size class were served
/// from its cache (0 for sizes it does not keep; for tests).
unsigned long cspate_curl_cache_hits(size_t request);

// ---- glibc's per-thread cache, for the whole process -----------------------------------
/// Runs the program again (execv of /proc/self/exe, the same argv and process) with
/// `name=value` added to GLIBC_TUNABLES and SPATE_RAN_AGAIN=1 set, unless this is the run
/// again (SPATE_RAN_AGAIN, removed here: at most one run again), GLIBC_TUNABLES names `name`
/// already (the user's choice) or the process is set-id (the loader ignores the variable).
/// Returns 0 if the tunable was set already; -1 with errno if it did not run the program
/// again (the environment as it was); it does not return if it did.
int cspate_reexec_with_tunable(char *const argv[], const char *name, const char *value);

// ---- Cache hints ---------------------------------------------------------------------
/// Asks the CPU to start loading `p`'s cache line (the seen-set's slots: one miss a link).
static inline void cspate_prefetch(const void *p) { __builtin_prefetch(p); }

/// memfd_create(name, MFD_CLOEXEC): an anonymous file in memory (Linux 3.17+); -1 with errno.
int cspate_memfd(const char *name);

/* One spare scratch buffer per thread (JSONWriter's): take leaves the thread without one
   (NULL when it has none); give keeps a buffer of at most 64 KiB if the thread has none,
   and says whether it was kept (if not, the caller frees it). A thread's spare is freed
   when the thread ends. */
void *cspate_scratch_take(size_t *capacity);
_Bool cspate_scratch_give(void *p, size_t capacity);
/* How many threads ended holding a spare (each was freed then). */
long cspate_scratch_released_count(void);

#endif
