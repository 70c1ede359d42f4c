// KV cache types as llama.cpp names them (--cache-type-k/-v): the quant format a cache row is held
// in and the function that writes it, which is ggml's CPU from_float for that type (what
// llama.cpp's set_rows runs when a token's keys and values land in the cache). One row per type.

import { ArgumentError } from '../../core/errors.js';
import { f32ToBf16, f32ToF16 } from '../../core/f16.js';
import { BF16, F16, F32 } from '../../quant/float.js';
import { IQ4_NL, quantizeIq4NlRef } from '../../quant/iq4_nl.js';
import { Q4_0 } from '../../quant/q4_0.js';
import { Q4_1 } from '../../quant/q4_1.js';
import { Q5_0 } from '../../quant/q5_0.js';
import { Q5_1 } from '../../quant/q5_1.js';
import { Q8_0, quantizeQ8_0Simd } from '../../quant/q8_0.js';
import type { QuantFormat } from '../../quant/types.js';

type RowWriter = (src: Float32Array, srcOff: number, dst: Uint8Array, dstOff: number, n: number) => void;

export interface KVCacheFormat {
  readonly name: KVCacheType;
  readonly format: QuantFormat;
  /** ggml_is_quantized: the Hadamard rotation applies to these. */
  readonly quantized: boolean;
  readonly write: RowWriter;
}

function halfWriter(conv: (v: number) => number): RowWriter {
  return (src, srcOff, dst, dstOff, n) => {
    for (let i = 0; i < n; i++) {
      const h = conv(src[srcOff + i]!);
      dst[dstOff + 2 * i] = h & 0xff;
      dst[dstOff + 2 * i + 1] = h >>> 8;
    }
  };
}

const f32Writer: RowWriter = (src, srcOff, dst, dstOff, n) => {
  new Uint8Array(src.buffer, src.byteOffset + srcOff * 4, n * 4).forEach((b, i) => { dst[dstOff + i] = b; });
};

function quantWriter(f: QuantFormat): RowWriter {
  return (src, srcOff, dst, dstOff, n) => f.quantize!(src, srcOff, dst, dstOff, n);
}

const TABLE = {
  f32: { format: F32, quantized: false, write: f32Writer },
  f16: { format: F16, quantized: false, write: halfWriter(f32ToF16) },
  bf16: { format: BF16, quantized: false, write: halfWriter(f32ToBf16) },
  q8_0: { format: Q8_0, quantized: true, write: quantizeQ8_0Simd },
  q4_0: { format: Q4_0, quantized: true, write: quantWriter(Q4_0) },
  q4_1: { format: Q4_1, quantized: true, write: quantWriter(Q4_1) },
  q5_0: { format: Q5_0, quantized: true, write: quantWriter(Q5_0) },
  q5_1: { format: Q5_1, quantized: true, write: quantWriter(Q5_1) },
  iq4_nl: { format: IQ4_NL, quantized: true, write: quantizeIq4NlRef },
} satisfies Record<string, Omit<KVCacheFormat, 'name'>>;

export type KVCacheType = keyof typeof TABLE;
export const KV_CACHE_TYPES = Object.keys(TABLE) as KVCacheType[];

export function kvCacheFormat(type: string): KVCacheFormat {
  if (!Object.hasOwn(TABLE, type)) throw new ArgumentError(`unknown KV cache type ${JSON.stringify(type)} (lutra knows ${KV_CACHE_TYPES.join(', ')})`);
  return { name: type as KVCacheType, ...TABLE[type as KVCacheType] };
}

/**
 * llama.cpp refuses a quantized cache whose blocks would straddle heads: the head size must be a
 * multiple of the block size (llama_init_from_model's check, worded as its error).
 */
export function checkHeadSize(which: 'K' | 'V', f: KVCacheFormat, headSize: number): void {
  if (headSize % f.format.blockSize !== 0) {
    throw new ArgumentError(`${which} cache type ${f.name} with block size ${f.format.blockSize} does not divide the head size ${headSize} (n_embd_head_${which.toLowerCase()}); use f16, bf16 or f32 for this model`);
  }
}
