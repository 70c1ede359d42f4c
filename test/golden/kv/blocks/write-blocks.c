// Writes ggml's CPU cache-write quantization (type_traits_cpu[type].from_float) of a fixed input.
#include "ggml.h"
#include "ggml-cpu.h"
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
int main(int argc, char ** argv) {
    const int n = 64 * 64;
    float * x = malloc(n * sizeof(float));
    uint32_t s = 12345;
    for (int i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >> 17; s ^= s << 5;
        float u = (s / 4294967296.0f) * 2 - 1;
        int row = i / 64;
        float scale = (row % 7 == 0) ? 100.0f : (row % 5 == 0) ? 0.001f : 1.0f;
        if (i % 97 == 0) u *= 8;
        x[i] = (row == 3) ? 0.0f : u * scale;
    }
    FILE * f = fopen("input.f32", "wb"); fwrite(x, 4, n, f); fclose(f);
    ggml_cpu_init();
    enum ggml_type types[] = { GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_IQ4_NL };
    for (int t = 0; t < 8; t++) {
        size_t bytes = ggml_row_size(types[t], n);
        void * y = malloc(bytes);
        for (int r = 0; r < 64; r++) ggml_get_type_traits_cpu(types[t])->from_float(x + r * 64, (char *) y + r * ggml_row_size(types[t], 64), 64);
        char name[64]; snprintf(name, sizeof name, "%s.bin", ggml_type_name(types[t]));
        f = fopen(name, "wb"); fwrite(y, 1, bytes, f); fclose(f);
        printf("%s %zu\n", name, bytes);
    }
    return 0;
}
