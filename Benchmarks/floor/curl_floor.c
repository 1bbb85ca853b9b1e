/* curl_floor: the least work a libcurl-multi fetcher can do per URL on this machine.
 *
 * One thread, one epoll loop driving curl_multi_socket_action (the same API and the same
 * event flags spate's hubs use), easy handles reused from a pool, bodies discarded, no
 * DNS (the URLs name 127.0.0.1), and for a record only "STATUS URL BYTES" on stdout (as
 * curl -w prints; Benchmarks/check_http.py checks it). It reads a URL list (one per line),
 * keeps `concurrency` transfers in flight and prints "ok total seconds" on stderr. With
 * FLOOR_FULL=1 it also sets the options spate sets (header callback, CONNECT_TO per
 * transfer, Accept-Encoding, timeouts, the info spate reads). Its CPU time per URL is the
 * floor under any fetcher built on libcurl 7.88 here; what spate uses above it is spate's
 * own (BENCHMARKS.md, "Where the time goes").
 *
 *   cc -O2 -o curl_floor curl_floor.c -lcurl
 *   curl_floor urls.txt 100
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "floor_loop.h"

static char **urls;
static size_t nurls, next_url, done_ok, done_total;

static int full;   /* FLOOR_FULL=1: spate's options, CONNECT_TO and getinfo calls too */
static struct curl_slist *connect_to;

static int start_next(CURLM *m, CURL *e) {
    if (next_url >= nurls) return 0;
    curl_easy_setopt(e, CURLOPT_URL, urls[next_url++]);
    if (full) {
        if (connect_to) curl_slist_free_all(connect_to);   /* one list per transfer, as spate */
        connect_to = curl_slist_append(NULL, "127.0.0.1:8080:127.0.0.1:8080");
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, connect_to);
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    curl_multi_add_handle(m, e);
    return 1;
}

static void drain(CURLM *m) {
    CURLMsg *msg; int left;
    while ((msg = curl_multi_info_read(m, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *e = msg->easy_handle;
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        done_total++;
        if (msg->data.result == CURLE_OK && code == 200) done_ok++;
        curl_off_t size = 0; char *url = NULL;
        curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &size);
        curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &url);
        printf("%ld %s %lld\n", msg->data.result == CURLE_OK ? code : 0L, url ? url : "-", (long long)size);
        if (full) {
            long v; char *ip; curl_off_t t;
            curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &v);
            curl_easy_getinfo(e, CURLINFO_PRIMARY_IP, &ip);
            curl_easy_getinfo(e, CURLINFO_PRIMARY_PORT, &v);
            curl_easy_getinfo(e, CURLINFO_NAMELOOKUP_TIME_T, &t);
            curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &t);
            curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &t);
            curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &t);
            curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &t);
        }
        curl_multi_remove_handle(m, e);
        if (!start_next(m, e)) curl_easy_cleanup(e);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: curl_floor URLS CONCURRENCY\n"); return 2; }
    FILE *f = fopen(argv[1], "r");
    if (!f) { perror(argv[1]); return 2; }
    size_t cap = 1024; urls = malloc(cap * sizeof *urls);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        if (nurls == cap) urls = realloc(urls, (cap *= 2) * sizeof *urls);
        urls[nurls++] = strdup(line);
    }
    fclose(f);
    int conc = atoi(argv[2]);
    full = getenv("FLOOR_FULL") && atoi(getenv("FLOOR_FULL"));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = floor_multi(conc);
    for (int i = 0; i < conc; i++) {
        CURL *e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, floor_discard);
        curl_easy_setopt(e, CURLOPT_PROXY, "");
        if (full) floor_spate_options(e);
        if (!start_next(m, e)) { curl_easy_cleanup(e); break; }
    }
    while (done_total < nurls) {
        floor_turn(m);
        drain(m);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "%zu %zu %.3f\n", done_ok, done_total, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    curl_multi_cleanup(m);
    fflush(stdout);
    return done_ok == nurls ? 0 : 1;
}
