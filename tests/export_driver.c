/* Drives an exported net (named `net`, dtype T) for tests/test_export.py.
 * usage: driver DIR BATCH MODE THREADS
 *   reads DIR/x.bin (and w.bin, b.bin, dy.bin), writes DIR/y.bin (and dx.bin, dw.bin, db.bin).
 *   MODE: "own" (net_forward), "with" (net_forward_with), "nullb" (b = NULL), "grad" (net_backward).
 *   Scratch: THREADS > 0 runs that many threads at once, each with its own scratch, each checking
 *   that it gets the first thread's bits; THREADS = 0 passes scratch = NULL. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "net.h"

static T *x, *w, *b, *dy, *y, *dx, *dw, *db;
static int64_t batch;
static const char *mode;

static T *load(const char *dir, const char *name, size_t count) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    T *data = calloc(count ? count : 1, sizeof(T));
    FILE *f = fopen(path, "rb");
    if (f) { if (fread(data, sizeof(T), count, f) != count) { fprintf(stderr, "short %s\n", path); exit(3); } fclose(f); }
    return data;
}

static void save(const char *dir, const char *name, const T *data, size_t count) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    fwrite(data, sizeof(T), count, f);
    fclose(f);
}

static int run(void *scratch, T *yo, T *dxo, T *dwo, T *dbo) {
    if (!strcmp(mode, "own")) {
#ifdef NET_HAS_FORWARD
        return net_forward(x, yo, batch, scratch);
#else
        return 9;
#endif
    }
    if (!strcmp(mode, "with")) return net_forward_with(x, w, b, yo, batch, scratch);
    if (!strcmp(mode, "nullb")) return net_forward_with(x, w, NULL, yo, batch, scratch);
#ifdef NET_GRAD
    return net_backward(x, w, b, dy, dxo, dwo, dbo, batch, scratch);
#else
    (void)dxo; (void)dwo; (void)dbo;
    return 9;
#endif
}

static void *worker(void *arg) {
    (void)arg;
    void *scratch = malloc(net_scratch_bytes(batch) + 3);
    T *yo = malloc(sizeof(T) * (batch * NET_N_OUTPUTS + 1)), *dxo = malloc(sizeof(T) * (batch * NET_N_INPUTS + 1));
    T *dwo = malloc(sizeof(T) * (NET_N_WEIGHTS + 1)), *dbo = malloc(sizeof(T) * (NET_N_BIASES + 1));
    int bad = 0;
    for (int k = 0; k < 20 && !bad; k++) {
        /* an odd offset: the call aligns inside the scratch it is given */
        if (run((char *)scratch + 3, yo, dxo, dwo, dbo)) bad = 1;
        if (strcmp(mode, "grad") && memcmp(yo, y, sizeof(T) * batch * NET_N_OUTPUTS)) bad = 1;
        if (!strcmp(mode, "grad") && (memcmp(dxo, dx, sizeof(T) * batch * NET_N_INPUTS)
                                      || memcmp(dwo, dw, sizeof(T) * NET_N_WEIGHTS)
                                      || memcmp(dbo, db, sizeof(T) * NET_N_BIASES)))
            bad = 1;
    }
    free(scratch); free(yo); free(dxo); free(dwo); free(dbo);
    return (void *)(intptr_t)bad;
}

int main(int argc, char **argv) {
    const char *dir = argv[1];
    batch = atoll(argv[2]);
    mode = argv[3];
    int threads = atoi(argv[4]);
    int64_t rows = batch > 0 ? batch : 0;
    x = load(dir, "x.bin", rows * NET_N_INPUTS);
    w = load(dir, "w.bin", NET_N_WEIGHTS);
    b = load(dir, "b.bin", NET_N_BIASES);
    dy = load(dir, "dy.bin", rows * NET_N_OUTPUTS);
    y = calloc(rows * NET_N_OUTPUTS + 1, sizeof(T));
    dx = calloc(rows * NET_N_INPUTS + 1, sizeof(T));
    dw = calloc(NET_N_WEIGHTS + 1, sizeof(T));
    db = calloc(NET_N_BIASES + 1, sizeof(T));
    for (int k = 0; k < NET_N_WEIGHTS; k++) dw[k] = 7;
    int status = run(NULL, y, dx, dw, db);
    printf("%d\n", status);
    if (status) return 0;
    save(dir, "y.bin", y, rows * NET_N_OUTPUTS);
    save(dir, "dx.bin", dx, rows * NET_N_INPUTS);
    save(dir, "dw.bin", dw, NET_N_WEIGHTS);
    save(dir, "db.bin", db, NET_N_BIASES);
    pthread_t ids[8];
    for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, worker, NULL);
    int bad = 0;
    for (int t = 0; t < threads; t++) { void *r; pthread_join(ids[t], &r); bad |= (int)(intptr_t)r; }
    printf("%s\n", bad ? "threads differ" : "threads agree");
    return 0;
}
