// Reference outputs for lutra's vision parity tests, from llama.cpp's libmtmd (built outside the
// repository; see make-golden.sh). Flash attention off: the encoder's attention in f32, as lutra.
//
//   mtmd-dump encode MMPROJ SLICE.f32 W H OUT.f32 [threads]
//     SLICE.f32: 3 planes (R, G, B) of W x H normalized floats, as lutra's PreparedSlice holds them.
//     OUT.f32:   int32 nTokens, int32 nEmbd, then the embeddings, row-major.
//   mtmd-dump mtmd MODEL MMPROJ IMAGE PROMPT OUTPREFIX [threads]
//     mtmd's own pipeline (decode, resize, slice, layout): prints each chunk (text tokens, image
//     nx x ny and token count) on stdout and writes each image chunk's embeddings to OUTPREFIX.N.f32;
//     then the 16 greedy token ids after the prompt ("greedy ..."), flash attention off.

#include "clip.h"
#include "clip-impl.h"
#include "mtmd.h"
#include "mtmd-helper.h"
#include "llama.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static void write_embd(const char * path, const float * data, int32_t n_tok, int32_t n_embd) {
    FILE * f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "cannot write %s\n", path); exit(1); }
    const int32_t hdr[2] = { n_tok, n_embd };
    fwrite(hdr, sizeof(hdr), 1, f);
    fwrite(data, sizeof(float), (size_t) n_tok * n_embd, f);
    fclose(f);
}

static int cmd_encode(int argc, char ** argv) {
    if (argc < 7) { fprintf(stderr, "usage: mtmd-dump encode MMPROJ SLICE.f32 W H OUT.f32 [threads] [repeat]\n"); return 2; }
    const int W = atoi(argv[4]), H = atoi(argv[5]);
    const int threads = argc > 7 ? atoi(argv[7]) : 1;
    const int repeat = argc > 8 ? atoi(argv[8]) : 1;
    std::vector<float> planes((size_t) 3 * W * H);
    FILE * f = fopen(argv[3], "rb");
    if (!f || fread(planes.data(), sizeof(float), planes.size(), f) != planes.size()) { fprintf(stderr, "cannot read %s\n", argv[3]); return 1; }
    fclose(f);
    clip_context_params p = {};
    p.use_gpu = false;
    p.flash_attn_type = CLIP_FLASH_ATTN_TYPE_DISABLED;
    p.image_min_tokens = -1;
    p.image_max_tokens = -1;
    p.warmup = false;
    clip_init_result r = clip_init(argv[2], p);
    if (!r.ctx_v) { fprintf(stderr, "clip_init failed\n"); return 1; }
    clip_image_f32 img;
    img.set_size({ W, H }, false, false);
    std::vector<float> hwc((size_t) 3 * W * H);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) hwc[3 * ((size_t) y * W + x) + c] = planes[(size_t) c * W * H + (size_t) y * W + x];
    img.cpy_buf(hwc);
    const int n_embd = clip_n_mmproj_embd(r.ctx_v);
    const int n_tok = clip_n_output_tokens(r.ctx_v, &img);
    std::vector<float> out((size_t) n_tok * n_embd);  // clip_image_encode fills a vector of this size
    for (int i = 0; i < repeat; i++) {
        const auto t0 = std::chrono::steady_clock::now();
        if (!clip_image_encode(r.ctx_v, threads, &img, out)) { fprintf(stderr, "encode failed\n"); return 1; }
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        printf("encode %dx%d threads %d: %.1f ms\n", W, H, threads, ms);
    }
    write_embd(argv[6], out.data(), n_tok, n_embd);
    clip_free(r.ctx_v);
    return 0;
}

static int cmd_mtmd(int argc, char ** argv) {
    if (argc < 7) { fprintf(stderr, "usage: mtmd-dump mtmd MODEL MMPROJ IMAGE PROMPT OUTPREFIX [threads]\n"); return 2; }
    const int threads = argc > 7 ? atoi(argv[7]) : 1;
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    llama_model * model = llama_model_load_from_file(argv[2], mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", argv[2]); return 1; }
    mtmd_context_params cp = mtmd_context_params_default();
    cp.use_gpu = false;
    cp.n_threads = threads;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.warmup = false;
    cp.print_timings = false;
    mtmd_context * ctx = mtmd_init_from_file(argv[3], model, cp);
    if (!ctx) { fprintf(stderr, "cannot load %s\n", argv[3]); return 1; }
    mtmd_helper_bitmap_wrapper bw = mtmd_helper_bitmap_init_from_file(ctx, argv[4], false, mtmd_helper_init_opt_default());
    if (!bw.bitmap) { fprintf(stderr, "cannot read %s\n", argv[4]); return 1; }
    printf("image %u %u\n", mtmd_bitmap_get_nx(bw.bitmap), mtmd_bitmap_get_ny(bw.bitmap));
    std::string prompt = std::string(mtmd_default_marker()) + argv[5];
    mtmd_input_text text = { prompt.c_str(), prompt.size(), true, true };
    mtmd_input_chunks * chunks = mtmd_input_chunks_init();
    const mtmd_bitmap * bms[1] = { bw.bitmap };
    if (mtmd_tokenize(ctx, chunks, &text, bms, 1) != 0) { fprintf(stderr, "tokenize failed\n"); return 1; }
    const llama_vocab * vocab = llama_model_get_vocab(model);
    int n_img = 0;
    for (size_t i = 0; i < mtmd_input_chunks_size(chunks); i++) {
        const mtmd_input_chunk * c = mtmd_input_chunks_get(chunks, i);
        if (mtmd_input_chunk_get_type(c) == MTMD_INPUT_CHUNK_TYPE_TEXT) {
            size_t n = 0;
            const llama_token * t = mtmd_input_chunk_get_tokens_text(c, &n);
            printf("text");
            for (size_t j = 0; j < n; j++) printf(" %d", t[j]);
            printf("\n");
        } else {
            const size_t n_tok = mtmd_input_chunk_get_n_tokens(c);
            if (mtmd_encode_chunk(ctx, c) != 0) { fprintf(stderr, "encode failed\n"); return 1; }
            const int n_embd = llama_model_n_embd_inp(model);
            std::string path = std::string(argv[6]) + "." + std::to_string(n_img++) + ".f32";
            write_embd(path.c_str(), mtmd_get_output_embd(ctx), (int32_t) n_tok, n_embd);
            printf("image %zu\n", n_tok);
        }
    }
    // Greedy tokens after the prompt (flash attention off, one sequence), one id per line after "greedy".
    llama_context_params lp = llama_context_default_params();
    lp.n_ctx = 2048; lp.n_batch = 512; lp.n_threads = threads; lp.n_threads_batch = threads;
    lp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    llama_context * lctx = llama_init_from_model(model, lp);
    llama_pos n_past = 0;
    if (mtmd_helper_eval_chunks(ctx, lctx, chunks, 0, 0, 512, true, &n_past) != 0) { fprintf(stderr, "eval failed\n"); return 1; }
    llama_sampler * smpl = llama_sampler_init_greedy();
    printf("greedy");
    for (int i = 0; i < 16; i++) {
        llama_token t = llama_sampler_sample(smpl, lctx, -1);
        printf(" %d", t);
        llama_batch b = llama_batch_get_one(&t, 1);
        if (llama_decode(lctx, b) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
    }
    printf("\n");
    llama_sampler_free(smpl);
    llama_free(lctx);
    (void) vocab;
    mtmd_input_chunks_free(chunks);
    mtmd_bitmap_free(bw.bitmap);
    mtmd_free(ctx);
    llama_model_free(model);
    return 0;
}

int main(int argc, char ** argv) {
    if (argc >= 2 && strcmp(argv[1], "encode") == 0) return cmd_encode(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "mtmd") == 0) return cmd_mtmd(argc, argv);
    fprintf(stderr, "usage: mtmd-dump encode|mtmd ...\n");
    return 2;
}
