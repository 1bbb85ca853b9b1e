/* floor_loop.h: what curl_floor.c and crawl_floor.c share — one thread, one epoll loop
 * driving curl_multi_socket_action with the event flags spate's hubs use, and spate's
 * per-handle options. Included by both (each builds with `cc -O2 -o X X.c -lcurl`). */
#ifndef FLOOR_LOOP_H
#define FLOOR_LOOP_H
#include <curl/curl.h>
#include <sys/epoll.h>

static int floor_ep;
static long floor_timeout_ms = -1;

static int floor_on_socket(CURL *e, curl_socket_t s, int what, void *up, void *sp) {
    (void)e; (void)up; (void)sp;
    struct epoll_event ev = {0};
    ev.data.fd = s;
    if (what == CURL_POLL_REMOVE) { epoll_ctl(floor_ep, EPOLL_CTL_DEL, s, NULL); return 0; }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (epoll_ctl(floor_ep, EPOLL_CTL_MOD, s, &ev) != 0) epoll_ctl(floor_ep, EPOLL_CTL_ADD, s, &ev);
    return 0;
}

static int floor_on_timer(CURLM *m, long ms, void *up) { (void)m; (void)up; floor_timeout_ms = ms; return 0; }

static size_t floor_discard(char *p, size_t s, size_t n, void *u) { (void)p; (void)u; return s * n; }

/* The multi handle, on a new epoll set, keeping up to `conc` connections. */
static CURLM *floor_multi(long conc) {
    floor_ep = epoll_create1(0);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, floor_on_socket);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, floor_on_timer);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, conc);
    return m;
}

/* The options spate sets on every handle (besides its callbacks' data). */
static void floor_spate_options(CURL *e) {
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, floor_discard);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "spate/0.1 (+https://example.invalid/spate)");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)10485760);
}

/* One loop turn: wait for socket events (or curl's timeout) and hand them to curl. */
static void floor_turn(CURLM *m) {
    struct epoll_event evs[256];
    int running = 0;
    int n = epoll_wait(floor_ep, evs, 256, floor_timeout_ms < 0 ? 1000 : (int)floor_timeout_ms);
    if (n == 0) { floor_timeout_ms = -1; curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running); }
    for (int i = 0; i < n; i++) {
        int fl = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) | (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0)
               | (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(m, evs[i].data.fd, fl, &running);
    }
    if (floor_timeout_ms == 0) { floor_timeout_ms = -1; curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running); }
}
#endif
