// Dequantize every tensor of a GGUF file with ggml's own to_float (llama.cpp's libggml-base) and
// write the float32 values, tensor after tensor in file order, to OUT. Used only to make golden
// digests (test/quant-golden.test.ts); build:
//   cc -O2 -I$LLAMA/ggml/include bench/ptq/ggml-dequant.c -L$LLAMA/build/bin -lggml-base -Wl,-rpath,$LLAMA/build/bin -o ggml-dequant
#include <stdio.h>
#include <stdlib.h>
#include "ggml.h"
#include "gguf.h"

int main(int argc, char ** argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s IN.gguf OUT.f32\n", argv[0]); return 1; }
    struct ggml_context * meta = NULL;
    struct gguf_init_params p = { /*no_alloc*/ false, &meta };
    struct gguf_context * g = gguf_init_from_file(argv[1], p);
    if (!g) { fprintf(stderr, "cannot read %s\n", argv[1]); return 1; }
    FILE * out = fopen(argv[2], "wb");
    for (int64_t i = 0; i < gguf_get_n_tensors(g); i++) {
        struct ggml_tensor * t = ggml_get_tensor(meta, gguf_get_tensor_name(g, i));
        const int64_t n = ggml_nelements(t);
        float * y = malloc(n * sizeof(float));
        if (t->type == GGML_TYPE_F32) {
            for (int64_t j = 0; j < n; j++) y[j] = ((float *) t->data)[j];
        } else {
            ggml_get_type_traits(t->type)->to_float(t->data, y, n);
        }
        fwrite(y, sizeof(float), n, out);
        free(y);
    }
    fclose(out);
    gguf_free(g);
    return 0;
}
