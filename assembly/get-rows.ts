// Embedding lookup: rows of a weight table decoded to f32.

import { f16ToF32 } from './f16';
import { GGML_TYPE_F16, GGML_TYPE_F32, GGML_TYPE_Q4_0, GGML_TYPE_Q5_0, GGML_TYPE_Q8_0 } from './types.generated';

/**
 * out[t] = row ids[t] of the table, dequantized (F32, F16, Q4_0, Q5_0, Q8_0). Returns 1 for other
 * types (the caller's reference twin handles them). ids are i32, checked by the caller.
 */
export function get_rows(type: i32, table: usize, rowBytes: i32, cols: i32, ids: usize, nTok: i32, out: usize): i32 {
  if (type != GGML_TYPE_F32 && type != GGML_TYPE_F16 && type != GGML_TYPE_Q4_0 && type != GGML_TYPE_Q5_0 && type != GGML_TYPE_Q8_0) return 1;
  for (let t = 0; t < nTok; t++) {
    const row = table + <usize>load<i32>(ids + (<usize>t << 2)) * <usize>rowBytes;
    const y = out + ((<usize>t * <usize>cols) << 2);
    if (type == GGML_TYPE_F32) { memory.copy(y, row, <usize>cols << 2); continue; }
    if (type == GGML_TYPE_F16) { for (let i = 0; i < cols; i++) store<f32>(y + (<usize>i << 2), f16ToF32(load<u16>(row + (<usize>i << 1)))); continue; }
    for (let b = 0; b < (cols >> 5); b++) {
      const yb = y + (<usize>b << 7);
      if (type == GGML_TYPE_Q8_0) {
        const o = row + <usize>b * 34, d = f16ToF32(load<u16>(o));
        for (let j = 0; j < 32; j++) store<f32>(yb + (<usize>j << 2), <f32>load<i8>(o + 2 + j) * d);
      } else if (type == GGML_TYPE_Q4_0) {
        const o = row + <usize>b * 18, d = f16ToF32(load<u16>(o));
        for (let j = 0; j < 16; j++) {
          const q = <i32>load<u8>(o + 2 + j);
          store<f32>(yb + (<usize>j << 2), <f32>((q & 15) - 8) * d);
          store<f32>(yb + (<usize>(j + 16) << 2), <f32>((q >> 4) - 8) * d);
        }
      } else {
        const o = row + <usize>b * 22, d = f16ToF32(load<u16>(o)), qh = load<u32>(o + 2);
        for (let j = 0; j < 16; j++) {
          const q = <i32>load<u8>(o + 6 + j);
          store<f32>(yb + (<usize>j << 2), <f32>(((q & 15) | <i32>(((qh >> j) << 4) & 16)) - 16) * d);
          store<f32>(yb + (<usize>(j + 16) << 2), <f32>(((q >> 4) | <i32>((qh >> (j + 12)) & 16)) - 16) * d);
        }
      }
    }
  }
  return 0;
}
