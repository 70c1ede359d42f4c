// The Walsh-Hadamard rotation llama.cpp applies around a quantized KV cache (llama-kv-cache.cpp,
// attn_rot_k / attn_rot_v): Q and K are rotated by the same orthonormal H (so K.Q is unchanged and
// outliers spread over the block before quantization), V is rotated before it is stored and the
// attention output rotated back (H*H = I). Computed as ggml's CPU fast transform does
// (ggml_compute_forward_fwht_f32): scale by 1/sqrt(n) first, then butterflies in f32, so the
// rotated rows are bit-identical to llama.cpp's. LLAMA_ATTN_ROT_DISABLE=1 there is rotation: false here.

/** Size of K's rotation: the largest power of two from 64 up that divides the head size (llama.cpp's build_input_k_rot). */
export function kRotationSize(headDim: number): number {
  let n = 64;
  do n *= 2; while (headDim % n === 0);
  return n / 2;
}

/** V's rotation is always 64 wide (llama.cpp found smaller ones better for V). */
export const V_ROTATION_SIZE = 64;

/** Whether llama.cpp rotates a cache of this head size: only multiples of 64. */
export function rotates(headDim: number): boolean {
  return headDim > 0 && headDim % 64 === 0;
}

/** Rotate x[off .. off + len) in place, as consecutive rows of n (a power of two dividing len). */
export function hadamardRows(x: Float32Array, off: number, len: number, n: number): void {
  const scale = Math.fround(1 / Math.fround(Math.sqrt(n)));
  for (let r = off; r < off + len; r += n) {
    for (let j = 0; j < n; j++) x[r + j] = x[r + j]! * scale;
    for (let h = 1; h < n; h <<= 1) {
      for (let i = 0; i < n; i += 2 * h) {
        for (let j = i; j < i + h; j++) {
          const u = x[r + j]!, v = x[r + j + h]!;
          x[r + j] = u + v;
          x[r + j + h] = u - v;
        }
      }
    }
  }
}
