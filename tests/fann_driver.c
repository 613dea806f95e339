/* A test driver for tests/test_fann.py: builds a FANN net, saves it, runs it.
 *
 *   fann_driver OUT.net standard|shortcut|sparse ACT_HIDDEN ACT_OUTPUT STEEP_HIDDEN STEEP_OUTPUT SEED L0 L1 ...
 *
 * creates a net with layers L0 (inputs) ... Lk (outputs) (sparse: a layered
 * net with half the connections, chosen by FANN from srand(SEED)), the activation
 * functions (FANN's enum numbers) and steepnesses given for the hidden and
 * output layers, and weights drawn uniformly from [-1, 1] (srand(SEED)),
 * saves it to OUT.net with fann_save, then reads input rows (L0 floats each,
 * whitespace separated) from stdin until EOF and prints fann_run's outputs,
 * one line per row, with 9 significant digits (exact for a float).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fann.h>

int main(int argc, char **argv)
{
    if (argc < 10) {
        fprintf(stderr, "usage: %s OUT.net standard|shortcut|sparse ACT_H ACT_O STEEP_H STEEP_O SEED L0 L1 ...\n", argv[0]);
        return 2;
    }
    unsigned int n_layers = (unsigned int)(argc - 8);
    unsigned int *layers = malloc(n_layers * sizeof *layers);
    for (unsigned int k = 0; k < n_layers; k++)
        layers[k] = (unsigned int)strtoul(argv[8 + k], NULL, 10);
    srand((unsigned int)strtoul(argv[7], NULL, 10));
    struct fann *ann = strcmp(argv[2], "shortcut") == 0 ? fann_create_shortcut_array(n_layers, layers)
        : strcmp(argv[2], "sparse") == 0 ? fann_create_sparse_array(0.5f, n_layers, layers)
        : fann_create_standard_array(n_layers, layers);
    if (ann == NULL)
        return 1;
    fann_set_activation_function_hidden(ann, (enum fann_activationfunc_enum)atoi(argv[3]));
    fann_set_activation_function_output(ann, (enum fann_activationfunc_enum)atoi(argv[4]));
    fann_set_activation_steepness_hidden(ann, (fann_type)atof(argv[5]));
    fann_set_activation_steepness_output(ann, (fann_type)atof(argv[6]));
    srand((unsigned int)strtoul(argv[7], NULL, 10));
    fann_randomize_weights(ann, -1, 1);
    if (fann_save(ann, argv[1]) != 0)
        return 1;

    unsigned int n_in = fann_get_num_input(ann), n_out = fann_get_num_output(ann);
    fann_type *x = malloc(n_in * sizeof *x);
    for (;;) {
        for (unsigned int k = 0; k < n_in; k++) {
            if (scanf("%f", &x[k]) != 1)
                goto done;
        }
        fann_type *y = fann_run(ann, x);
        for (unsigned int k = 0; k < n_out; k++)
            printf(k ? " %.9g" : "%.9g", (double)y[k]);
        printf("\n");
    }
done:
    fann_destroy(ann);
    free(x);
    free(layers);
    return 0;
}
