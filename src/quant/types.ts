// The contract every quant format implements. One file per format fills it in; table.ts holds them.

/** Activation row prepared in the form the weight format's dot product wants (as ggml's vec_dot_type). */
export interface ActivationRow {
  kind: 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q8_1' | 'q8_K';
  /** Float values (kind f32/f16/bf16: already rounded to that precision). */
  f: Float32Array;
  /** int8 quants, one per element (kind q8_*). */
  qs: Int8Array;
  /**
   * Per-block scale: q8_0/q8_1 one f16-rounded scale per 32 elements; q8_K one f32 scale per 256
   * elements (ggml's block_q8_K).
   */
  d: Float32Array;
  /** Per-block d * sum(qs) (kind q8_1). */
  s: Float32Array;
  /** Sum of each 16 consecutive quants (kind q8_K: block_q8_K.bsums, used for the K-quant mins). */
  bsums: Int16Array;
}

/**
 * A tensor's bytes plus element views made once at load (null when the bytes are not aligned for
 * them), so float formats index elements directly in the hot loop.
 */
export interface WeightBytes {
  readonly data: Uint8Array;
  readonly f32: Float32Array | null;
  readonly u16: Uint16Array | null;
}

export function weightBytes(data: Uint8Array): WeightBytes {
  return {
    data,
    f32: data.byteOffset % 4 === 0 ? new Float32Array(data.buffer, data.byteOffset, data.byteLength >>> 2) : null,
    u16: data.byteOffset % 2 === 0 ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength >>> 1) : null,
  };
}

export interface QuantFormat {
  /** ggml type id, stable on disk. */
  readonly id: number;
  readonly name: string;
  /** Elements per block. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
  /** Activation precision this format's dot product consumes (ggml's vec_dot_type). */
  readonly vecDot: ActivationRow['kind'];
  /** Decode n elements (a multiple of blockSize) starting at byte `srcOff`. */
  dequantize(src: Uint8Array, srcOff: number, dst: Float32Array, dstOff: number, n: number): void;
  /** Reference quantizer, bit-exact with ggml's quantize_row_*_ref where one exists. */
  quantize?(src: Float32Array, srcOff: number, dst: Uint8Array, dstOff: number, n: number): void;
  /** Whole-tensor quantizer, for formats whose scale depends on the whole tensor (used instead of quantize when present). */
  quantizeTensor?(src: Float32Array, rows: number, cols: number, dst: Uint8Array): void;
  /** Dot product of one weight row (n elements at byte `wOff` of w.data) with a prepared activation row. */
  dot(w: WeightBytes, wOff: number, a: ActivationRow, aOff: number, n: number): number;
  /** How the format splits into 1..4-bit codes for the table-lookup kernels (absent: not LUT-able). */
  readonly lut?: LutSpec;
  /**
   * The WebAssembly backend's matrix kernel for this format, as ggml's type_traits_cpu (absent: the
   * reference computes it). Its `matmul` export takes the type id and activations in the form
   * `vecDot` names: f32 as they are, f16-rounded, Q8 blocks of 32 (q8_0, q8_1) or Q8_K super-blocks.
   */
  readonly wasm?: WasmTraits;
  /**
   * The WebAssembly attention over a KV cache (attention_quant) reads K and V rows of this format
   * (the KV cache types); absent: attention over such a cache runs in the reference.
   */
  readonly wasmAttention?: true;
}

export interface WasmTraits {
  /** Row lengths the kernel takes are a multiple of this; other matrices go to the reference. */
  readonly colsAlign: number;
  /**
   * The kernel has the four-row decode layout for this format, built in place at load
   * (src/kernels/ref/rows4.ts): 32-element blocks that open with their f16 scale (and Q4_1's
   * minimum), and F16 rows.
   */
  readonly rows4?: boolean;
  /**
   * The same for K-quant super-blocks of 256 and for Q5_0 (Q4_K, Q5_K, Q6_K, Q5_0:
   * src/kernels/ref/rows4-k.ts, assembly/rows4-k.ts).
   */
  readonly rows4k?: boolean;
  /** The same for the low-bit K-quants Q2_K and Q3_K (src/kernels/ref/rows4-lowbit.ts, assembly/rows4-lowbit.ts). */
  readonly rows4lo?: boolean;
  /** Over many tokens the tiled GEMM (assembly/gemm.ts) takes this format: F16 and F32 rows. */
  readonly gemm?: boolean;
  /**
   * Ternary codes the direct int8 kernels take (assembly/ternary.ts): 'direct', the stored 2-bit
   * layout (TQ2_0); 'recode', re-coded to TQ2_0's layout once at load (TQ1_0's base-3 bytes,
   * src/kernels/ref/ternary.ts), for 66 bytes per 256 weights instead of 54.
   */
  readonly ternary?: 'direct' | 'recode';
}

/**
 * The decoders of the WebAssembly LUT packer (lut_pack_tile's `kind`), numbered once here:
 * scripts/build-wasm.mjs reads this literal to name them for the AssemblyScript side.
 */
export const LUT_PACK = { Q4_0: 0, Q4_1: 1, TQ2_0: 2, TQ1_0: 3, INT_SYM: 4, INT_ASYM: 5 } as const;

/**
 * A format as table-lookup (T-MAC) kernels see it: unsigned `bits`-bit codes q in groups of
 * `group` elements sharing an f16 scale s, with w = s * (q - zero) ('none'), w = s * q + o with an
 * f16 offset o per group ('f16', Q4_1's min), or w = s * (q - z) with a u8 zero point per group ('u8z').
 */
export interface LutSpec {
  readonly bits: number;
  readonly group: number;
  readonly offset: 'none' | 'f16' | 'u8z';
  readonly zero: number;
  /**
   * Codes of group g of the row at byte rowOff into codes[0..group); returns the group's scale as
   * f16 bits and writes its offset (f16 bits, or the u8 zero point) into meta[0].
   */
  unpack(src: Uint8Array, rowOff: number, g: number, codes: Uint8Array, meta: Uint16Array): number;
  /** The WebAssembly packer's twin of unpack (lut_pack_tile's kind, and where INT codes start). */
  readonly wasm?: { readonly kind: (typeof LUT_PACK)[keyof typeof LUT_PACK]; readonly codeOff: number };
}

/**
 * A dot product for formats without an integer kernel: the reference matmul walks tokens inside
 * rows, so decode a row once (into one buffer per format) and reuse it while the same row comes back.
 */
export function rowCachingDot(decode: (src: Uint8Array, off: number, dst: Float32Array, n: number) => void): QuantFormat['dot'] {
  let row = new Float32Array(0), rowData: Uint8Array | null = null, rowOff = -1, rowN = 0;
  return (w, wOff, a, aOff, n) => {
    if (rowData !== w.data || rowOff !== wOff || rowN !== n) {
      if (row.length < n) row = new Float32Array(n);
      decode(w.data, wOff, row, n);
      rowData = w.data; rowOff = wOff; rowN = n;
    }
    let s = 0;
    const f = a.f;
    for (let j = 0; j < n; j++) s += row[j]! * f[aOff + j]!;
    return s;
  };
}
