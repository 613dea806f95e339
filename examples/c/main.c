/* Run an exported jitnet net from C: read samples from stdin, print the outputs.
 *
 *   jitnet export ../xor_trained.nel -o xor --dtype float64
 *   cc -O2 main.c xor.o -lm -o xor_demo
 *   printf '0 0\n0 1\n1 0\n1 1\n' | ./xor_demo
 *
 * Each line of stdin holds XOR_N_INPUTS numbers; each line printed holds the
 * XOR_N_OUTPUTS outputs of that sample. No Python is needed at run time. */
#include <stdio.h>
#include <stdlib.h>
#include "xor.h"

int main(void) {
    double x[XOR_N_INPUTS], y[XOR_N_OUTPUTS];
    /* one scratch buffer for every call (NULL would make each call allocate its own) */
    void *scratch = malloc(xor_scratch_bytes(1));
    for (;;) {
        for (int i = 0; i < XOR_N_INPUTS; i++)
            if (scanf("%lf", &x[i]) != 1) { free(scratch); return 0; }
        if (xor_forward(x, y, 1, scratch) != 0) { fprintf(stderr, "xor_forward failed\n"); return 1; }
        for (int k = 0; k < XOR_N_OUTPUTS; k++) printf(k ? " %.17g" : "%.17g", y[k]);
        printf("\n");
    }
}
