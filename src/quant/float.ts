// F32, F16 and BF16: the unquantized types. Rows are read through whole-buffer typed views, so a
// tensor's byte offset must be aligned to its element size (GGUF's 32-byte alignment guarantees it).

import type { ActivationRow, QuantFormat } from './types.js';
import { f32View, u16View } from './views.js';
import { F16_TO_F32, f32ToF16, bf16ToF32, f32ToBf16 } from '../core/f16.js';

function misaligned(name: string): never {
  throw new Error(`${name} weights are not aligned to their element size`);
}

function checkAligned(w: Uint8Array, off: number, size: number, name: string): void {
  if ((w.byteOffset + off) % size !== 0) throw new Error(`${name} data at byte ${w.byteOffset + off} is not ${size}-byte aligned`);
}

export const F32: QuantFormat = {
  id: 0, name: 'F32', wasmAttention: true, blockSize: 1, typeSize: 4, vecDot: 'f32', wasm: { colsAlign: 1, gemm: true },
  dequantize(src, srcOff, dst, dstOff, n) {
    checkAligned(src, srcOff, 4, 'F32');
    const v = f32View(src), base = (src.byteOffset + srcOff) >>> 2;
    for (let i = 0; i < n; i++) dst[dstOff + i] = v[base + i]!;
  },
  quantize(src, srcOff, dst, dstOff, n) {
    const dv = new DataView(dst.buffer, dst.byteOffset + dstOff, n * 4);
    for (let i = 0; i < n; i++) dv.setFloat32(i * 4, src[srcOff + i]!, true);
  },
  dot(w, wOff, a: ActivationRow, aOff, n) {
    const v = w.f32 ?? misaligned('F32'), base = wOff >>> 2, x = a.f;
    let s = 0;
    for (let i = 0; i < n; i++) s += v[base + i]! * x[aOff + i]!;
    return s;
  },
};

export const F16: QuantFormat = {
  id: 1, name: 'F16', wasmAttention: true, blockSize: 1, typeSize: 2, vecDot: 'f16', wasm: { colsAlign: 32, gemm: true, rows4: true },
  dequantize(src, srcOff, dst, dstOff, n) {
    checkAligned(src, srcOff, 2, 'F16');
    const v = u16View(src), base = (src.byteOffset + srcOff) >>> 1;
    for (let i = 0; i < n; i++) dst[dstOff + i] = F16_TO_F32[v[base + i]!]!;
  },
  quantize(src, srcOff, dst, dstOff, n) {
    for (let i = 0; i < n; i++) {
      const h = f32ToF16(src[srcOff + i]!);
      dst[dstOff + 2 * i] = h & 0xff;
      dst[dstOff + 2 * i + 1] = h >>> 8;
    }
  },
  dot(w, wOff, a, aOff, n) {
    const v = w.u16 ?? misaligned('F16'), base = wOff >>> 1, x = a.f;
    let s = 0;
    for (let i = 0; i < n; i++) s += F16_TO_F32[v[base + i]!]! * x[aOff + i]!;
    return s;
  },
};

export const BF16: QuantFormat = {
  id: 30, name: 'BF16', wasmAttention: true, blockSize: 1, typeSize: 2, vecDot: 'bf16',
  dequantize(src, srcOff, dst, dstOff, n) {
    checkAligned(src, srcOff, 2, 'BF16');
    const v = u16View(src), base = (src.byteOffset + srcOff) >>> 1;
    for (let i = 0; i < n; i++) dst[dstOff + i] = bf16ToF32(v[base + i]!);
  },
  quantize(src, srcOff, dst, dstOff, n) {
    for (let i = 0; i < n; i++) {
      const h = f32ToBf16(src[srcOff + i]!);
      dst[dstOff + 2 * i] = h & 0xff;
      dst[dstOff + 2 * i + 1] = h >>> 8;
    }
  },
  dot(w, wOff, a, aOff, n) {
    const v = w.u16 ?? misaligned('BF16'), base = wOff >>> 1, x = a.f;
    let s = 0;
    for (let i = 0; i < n; i++) s += bf16ToF32(v[base + i]!) * x[aOff + i]!;
    return s;
  },
};
