/* crawl_floor: the least work a libcurl-multi crawler can do per page on this machine.
 *
 * One thread, one epoll loop driving curl_multi_socket_action (as curl_floor.c, with the
 * options spate sets), easy handles reused from a pool. It fetches /robots.txt first and
 * honours its `Disallow:` prefixes, then crawls from the start URL: each body is kept in
 * the handle's buffer and scanned for `href="..."` with memmem; a link is resolved with
 * the forms the benchmark site uses (absolute URL, absolute path, a path relative to the
 * page's directory with leading `../`; no `.`, query or fragment handling), checked against one
 * 64-bit hash per URL in an open-addressing table, and queued (FIFO) if new and allowed.
 * For a record only "STATUS URL BYTES" goes to stdout (robots.txt's too, as check_crawl.py reads
 * it); "pages ok, pages, seconds" goes to stderr.
 *
 * It does no HTML tokenizing, no URL canonicalisation, no per-host politeness, no JSON:
 * its CPU time per page is a floor under any crawler built on libcurl 7.88 here, not a
 * crawler (BENCHMARKS.md, "Where the time goes").
 *
 *   cc -O2 -o crawl_floor crawl_floor.c -lcurl
 *   crawl_floor http://127.0.0.1:8080/p/000001.html 100
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>

#include "floor_loop.h"

static volatile sig_atomic_t interrupted;   /* SIGINT (the benchmark's time limit): stop, keep what was printed */
static void on_sigint(int sig) { (void)sig; interrupted = 1; }

/* The frontier: a FIFO of owned URL strings. */
static char **queue;
static size_t qhead, qtail, qcap;
static void push(char *u) {
    if (qtail == qcap) {
        if (qhead > 0) { memmove(queue, queue + qhead, (qtail - qhead) * sizeof *queue); qtail -= qhead; qhead = 0; }
        if (qtail == qcap) queue = realloc(queue, (qcap = qcap ? qcap * 2 : 4096) * sizeof *queue);
    }
    queue[qtail++] = u;
}

/* The seen-set: FNV-1a 64 of the URL, open addressing, 0 = empty. */
static uint64_t *seen;
static size_t seen_mask, seen_count;
static uint64_t hash(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 0x100000001b3ULL; }
    return h ? h : 1;
}
static int insert_new(uint64_t h) {
    if ((seen_count + 1) * 2 > seen_mask + 1) {
        size_t ncap = (seen_mask + 1) * 2;
        uint64_t *n = calloc(ncap, sizeof *n);
        for (size_t i = 0; i <= seen_mask; i++) if (seen[i]) {
            size_t j = seen[i] & (ncap - 1);
            while (n[j]) j = (j + 1) & (ncap - 1);
            n[j] = seen[i];
        }
        free(seen); seen = n; seen_mask = ncap - 1;
    }
    size_t j = h & seen_mask;
    while (seen[j]) { if (seen[j] == h) return 0; j = (j + 1) & seen_mask; }
    seen[j] = h; seen_count++;
    return 1;
}

/* robots.txt: Disallow prefixes for every agent (enough for the benchmark site's file). */
static char *disallow[64];
static int ndisallow;

static int allowed(const char *path) {
    for (int i = 0; i < ndisallow; i++) if (strncmp(path, disallow[i], strlen(disallow[i])) == 0) return 0;
    return 1;
}

struct xfer { char *url; char *body; size_t len, cap; int robots; };

static size_t collect(char *p, size_t s, size_t n, void *u) {
    struct xfer *x = u; size_t k = s * n;
    if (x->len + k > x->cap) { while (x->len + k > x->cap) x->cap = x->cap ? x->cap * 2 : 8192; x->body = realloc(x->body, x->cap); }
    memcpy(x->body + x->len, p, k); x->len += k;
    return k;
}

static void consider(const char *base, const char *h, size_t n) {
    /* base: "http://host:port/dir/page.html"; origin ends at the first '/' after "//". */
    const char *o = strstr(base, "//"); o = o ? strchr(o + 2, '/') : NULL;
    size_t olen = o ? (size_t)(o - base) : strlen(base);
    char buf[4096];
    size_t len;
    if (n >= 7 && (strncmp(h, "http://", 7) == 0 || (n >= 8 && strncmp(h, "https://", 8) == 0))) {
        if (n >= sizeof buf) return;
        memcpy(buf, h, n); len = n;
    } else if (n >= 2 && h[0] == '/' && h[1] == '/') {   /* scheme-relative: the page's scheme */
        size_t slen = (size_t)(strstr(base, "//") - base);
        if (slen + n >= sizeof buf) return;
        memcpy(buf, base, slen); memcpy(buf + slen, h, n); len = slen + n;
    } else if (n > 0 && h[0] == '/') {
        if (olen + n >= sizeof buf) return;
        memcpy(buf, base, olen); memcpy(buf + olen, h, n); len = olen + n;
    } else {
        const char *slash = strrchr(base, '/');
        size_t dlen = (size_t)(slash - base) + 1;
        while (n >= 3 && memcmp(h, "../", 3) == 0) {            /* one directory up */
            h += 3; n -= 3;
            if (dlen > olen + 1) { dlen--; while (dlen > olen + 1 && base[dlen - 1] != '/') dlen--; }
        }
        if (dlen + n >= sizeof buf) return;
        memcpy(buf, base, dlen); memcpy(buf + dlen, h, n); len = dlen + n;
    }
    buf[len] = 0;
    if (strncmp(buf, base, olen) != 0 || (buf[olen] != '/' && buf[olen] != 0)) return;   /* same origin only */
    if (!insert_new(hash(buf, len))) return;
    if (!allowed(buf + olen)) return;
    push(strdup(buf));
}

static void links(struct xfer *x) {
    const char *p = x->body, *end = x->body + x->len;
    while (p < end) {
        const char *a = memmem(p, (size_t)(end - p), "href=\"", 6);
        if (!a) break;
        a += 6;
        const char *b = memchr(a, '"', (size_t)(end - a));
        if (!b) break;
        consider(x->url, a, (size_t)(b - a));
        p = b + 1;
    }
}

static void robots(struct xfer *x) {
    char *s = x->body, *end = x->body + x->len;
    while (s < end) {
        char *nl = memchr(s, '\n', (size_t)(end - s)); if (!nl) nl = end;
        if ((size_t)(nl - s) > 9 && strncasecmp(s, "Disallow:", 9) == 0 && ndisallow < 64) {
            char *v = s + 9; while (v < nl && *v == ' ') v++;
            char *e = nl; while (e > v && (e[-1] == '\r' || e[-1] == ' ')) e--;
            if (e > v) disallow[ndisallow++] = strndup(v, (size_t)(e - v));
        }
        s = nl + 1;
    }
}

static CURL **idle;
static size_t nidle, active, pages_ok, pages;

static CURL *new_handle(void) {
    CURL *e = curl_easy_init();
    struct xfer *x = calloc(1, sizeof *x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    floor_spate_options(e);
    return e;
}

static void start(CURLM *m, char *url, int is_robots) {
    CURL *e = nidle ? idle[--nidle] : new_handle();
    struct xfer *x; curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
    free(x->url); x->url = url; x->len = 0; x->robots = is_robots;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_multi_add_handle(m, e);
    active++;
}

static void drain(CURLM *m) {
    CURLMsg *msg; int left;
    while ((msg = curl_multi_info_read(m, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *e = msg->easy_handle;
        struct xfer *x; curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        int ok = msg->data.result == CURLE_OK && code == 200;
        if (x->robots) {
            printf("%ld %s %zu\n", msg->data.result == CURLE_OK ? code : 0L, x->url, x->len);
            if (ok) robots(x);
        } else {
            pages++; if (ok) pages_ok++;
            printf("%ld %s %zu\n", msg->data.result == CURLE_OK ? code : 0L, x->url, x->len);
            if (ok) links(x);
        }
        curl_multi_remove_handle(m, e);
        idle[nidle++] = e;
        active--;
    }
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: crawl_floor START_URL CONCURRENCY\n"); return 2; }
    int conc = atoi(argv[2]);
    if (conc < 1) conc = 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    seen_mask = (1u << 16) - 1; seen = calloc(seen_mask + 1, sizeof *seen);
    idle = calloc((size_t)conc + 1, sizeof *idle);
    CURLM *m = floor_multi(conc);

    const char *start_url = argv[1];
    const char *o = strstr(start_url, "//"); o = o ? strchr(o + 2, '/') : NULL;
    size_t olen = o ? (size_t)(o - start_url) : strlen(start_url);
    char *robots_url = malloc(olen + 12);
    memcpy(robots_url, start_url, olen); strcpy(robots_url + olen, "/robots.txt");
    insert_new(hash(start_url, strlen(start_url)));
    push(strdup(start_url));

    signal(SIGINT, on_sigint);
    int robots_done = 0;
    start(m, robots_url, 1);
    for (;;) {
        if (robots_done) while (active < (size_t)conc && qhead < qtail) start(m, queue[qhead++], 0);
        if (active == 0 || interrupted) break;
        floor_turn(m);
        drain(m);
        if (!robots_done && active == 0) robots_done = 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "%zu %zu %.3f\n", pages_ok, pages, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    curl_multi_cleanup(m);
    fflush(stdout);
    if (interrupted) return 130;
    return pages_ok == pages && pages > 0 ? 0 : 1;
}
