// Runs llama.cpp's own image preprocessors (tools/mtmd/mtmd-image.cpp, compiled in from a llama.cpp
// checkout, never copied here) on raw RGB files and prints what they make, for test/vision-preprocess:
// the slice instructions and, for each image the encoder gets (overview first), its size and the
// FNV-1a hash of its normalized float32 HWC pixels. `decode FILE [OUT]` prints stb_image's RGB size and
// hash of an image file (and writes the pixels). Built and run by make-preprocess.sh.
//
// usage: harness PROJ VERSION IMAGE_SIZE PATCH PREPROC_SIZE N_MERGE FILE.rgb W H
//        harness decode FILE [OUT.rgb]

#define STB_IMAGE_IMPLEMENTATION
#include "stb/stb_image.h"
#include "mtmd-image.cpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

static void quiet_log(enum ggml_log_level, const char *, void *) {}
struct clip_logger_state g_logger_state = {quiet_log, nullptr};
static clip_hparams g_hp;
const clip_hparams * clip_get_hparams(const struct clip_ctx *) { return &g_hp; }
projector_type clip_get_projector_type(const struct clip_ctx *) { return PROJECTOR_TYPE_UNKNOWN; }

static uint32_t fnv1a(const void * p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) { h ^= ((const uint8_t *) p)[i]; h *= 16777619u; }
    return h;
}

static void print_image(const char * kind, const clip_image_f32 & img) {
    const auto & buf = img.get_ro_buf();
    printf("{\"kind\":\"%s\",\"width\":%d,\"height\":%d,\"fnv\":%u,\"first\":[%.9g,%.9g,%.9g]}", kind, img.nx(), img.ny(),
           fnv1a(buf.data(), buf.size() * sizeof(float)), buf[0], buf[1], buf[2]);
}

int main(int argc, char ** argv) {
    if ((argc == 3 || argc == 4) && std::string(argv[1]) == "decode") {
        int nx, ny, nc;
        unsigned char * data = stbi_load(argv[2], &nx, &ny, &nc, 3);
        if (!data) { printf("{\"error\":\"%s\"}\n", stbi_failure_reason()); return 0; }
        if (argc == 4) { std::ofstream(argv[3], std::ios::binary).write((const char *) data, (std::streamsize) nx * ny * 3); }
        printf("{\"width\":%d,\"height\":%d,\"fnv\":%u}\n", nx, ny, fnv1a(data, (size_t) nx * ny * 3));
        stbi_image_free(data);
        return 0;
    }
    if (argc != 10) { fprintf(stderr, "usage: see the file's header\n"); return 2; }
    const std::string proj = argv[1];
    const int version = atoi(argv[2]);
    g_hp.image_size = atoi(argv[3]);
    g_hp.patch_size = atoi(argv[4]);
    const int preproc = atoi(argv[5]);
    g_hp.n_merge = atoi(argv[6]);
    const int w = atoi(argv[8]), h = atoi(argv[9]);
    // mean/std as the tests' hparams: CLIP's for mlp, 0.5 for the others
    const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    for (int i = 0; i < 3; i++) {
        g_hp.image_mean[i] = proj == "mlp" ? clip_mean[i] : 0.5f;
        g_hp.image_std[i]  = proj == "mlp" ? clip_std[i]  : 0.5f;
    }
    std::ifstream in(argv[7], std::ios::binary);
    std::vector<uint8_t> rgb((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if ((int) rgb.size() != w * h * 3) { fprintf(stderr, "%s: %zu bytes, expected %d\n", argv[7], rgb.size(), w * h * 3); return 2; }
    clip_image_u8 img;
    img.set_size({w, h}, false);
    img.cpy_buf(rgb);

    mtmd_image_preproc_out out;
    std::unique_ptr<mtmd_image_preprocessor> pre;
    const clip_ctx * ctx = nullptr;
    // hparams as clip.cpp's loader sets them for each projector type
    if (proj == "mlp") {
        g_hp.image_pad_color = {122, 116, 104};
        g_hp.image_pad_ov = PAD_NONE;
        g_hp.image_pad_rf = PAD_CEIL;
        g_hp.image_pad_color_rf = {122, 116, 104};
        pre = std::make_unique<mtmd_image_preprocessor_fixed_size>(ctx);
    } else if (proj == "resampler") {
        g_hp.minicpmv_version = version;
        pre = std::make_unique<mtmd_image_preprocessor_llava_uhd>(ctx);
    } else if (proj == "idefics3") {
        g_hp.image_resize_algo = RESIZE_ALGO_LANCZOS;
        g_hp.image_longest_edge = preproc;
        pre = std::make_unique<mtmd_image_preprocessor_idefics3>(ctx);
    } else { fprintf(stderr, "unknown projector %s\n", proj.c_str()); return 2; }

    printf("{");
    if (proj == "resampler") {
        auto * uhd = static_cast<mtmd_image_preprocessor_llava_uhd *>(pre.get());
        auto inst = uhd->get_slice_instructions({w, h});
        printf("\"overview\":[%d,%d],\"refined\":[%d,%d],\"grid\":[%d,%d],\"slices\":[", inst.overview_size.width, inst.overview_size.height,
               inst.refined_size.width, inst.refined_size.height, inst.grid_size.width, inst.grid_size.height);
        for (size_t i = 0; i < inst.slices.size(); i++) {
            const auto & s = inst.slices[i];
            printf("%s[%d,%d,%d,%d]", i ? "," : "", s.x, s.y, s.size.width, s.size.height);
        }
        printf("],");
    }
    out = pre->preprocess(img);
    printf("\"gridX\":%d,\"gridY\":%d,\"images\":[", out.grid_x, out.grid_y);
    bool first = true;
    if (out.has_overview()) { print_image("overview", out.overview); first = false; }
    for (const auto & e : out.entries) { if (!first) printf(","); print_image("slice", e); first = false; }
    printf("]}\n");
    return 0;
}
