// Backend selection: the WebAssembly backend (relaxed SIMD > SIMD > plain, threaded over shared
// memory) when the engine supports it, else the TypeScript reference. `note` is the one line
// `lutra run --verbose` prints about the choice.

import type { Kernels, LutTables, MatmulKernels } from './types.js';
import { RefKernels } from './ref/index.js';
import { WasmKernels, type WasmFlavor } from './wasm/index.js';
import { ArgumentError } from '../core/errors.js';

export type { Kernels, WeightMatrix, RopeParams, AttentionParams, MatmulKernels, LutTables } from './types.js';

/** 'webgpu': the model's forward on the GPU (runtime/gpu-backend.ts), these kernels for what it leaves to the CPU. */
export type BackendName = 'auto' | 'ref' | 'wasm' | 'wasm-relaxed' | 'wasm-simd' | 'wasm-plain' | 'webgpu';

export interface KernelOptions {
  backend?: BackendName;
  /** Worker threads for the WebAssembly backend (default: the number of cores). */
  threads?: number;
  /** false: one thread over ordinary (non-shared) memory, as in a page without cross-origin isolation. */
  shared?: boolean;
  /** Bytes the non-shared memory is sized to once (model + KV caches + scratch). */
  memoryBytes?: number;
  /** Matrix kernels for 1-4-bit formats: table lookup, dequantize, or the measured rule (default). */
  matmul?: MatmulKernels;
  /** Table-lookup tables: int8 (default) or exact int16. */
  lutTables?: LutTables;
}

export async function createKernels(opts: KernelOptions = {}): Promise<{ kernels: Kernels; note: string }> {
  // webgpu: the CPU kernels beside the GPU forward (its fallback) are auto's.
  const backend = opts.backend === 'webgpu' ? 'auto' : opts.backend ?? 'auto';
  if (opts.matmul !== undefined && !['auto', 'lut', 'dequant'].includes(opts.matmul)) throw new ArgumentError(`unknown matmul kernels ${JSON.stringify(opts.matmul)} (auto, lut, dequant)`);
  if (opts.lutTables !== undefined && !['int8', 'exact'].includes(opts.lutTables)) throw new ArgumentError(`unknown LUT tables ${JSON.stringify(opts.lutTables)} (int8, exact)`);
  if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1)) {
    throw new ArgumentError(`threads must be a positive integer, got ${opts.threads}`);
  }
  if (backend === 'ref') return { kernels: new RefKernels(), note: 'kernels: TypeScript reference (asked for)' };
  const flavor = backend.startsWith('wasm-') ? (backend.slice(5) as WasmFlavor) : undefined;
  if (backend !== 'auto' && backend !== 'wasm' && !flavor) throw new ArgumentError(`unknown backend ${JSON.stringify(backend)} (auto, ref, wasm, wasm-relaxed, wasm-simd, wasm-plain, webgpu)`);
  const wasm = await WasmKernels.create({ threads: opts.threads, flavor, shared: opts.shared, memoryBytes: opts.memoryBytes, matmul: opts.matmul, lutTables: opts.lutTables });
  if (wasm) return { kernels: wasm, note: `kernels: WebAssembly ${wasm.flavor === 'relaxed' ? 'SIMD128 + relaxed SIMD' : wasm.flavor === 'simd' ? 'SIMD128' : 'without SIMD'}, ${wasm.threads} thread${wasm.threads > 1 ? 's' : ''}${wasm.arena.fixed ? ' (no SharedArrayBuffer: one thread, memory sized at load)' : ''}` };
  if (backend !== 'auto') throw new ArgumentError(`backend ${backend} is not available here`);
  return { kernels: new RefKernels(), note: 'kernels: TypeScript reference (no WebAssembly here)' };
}
