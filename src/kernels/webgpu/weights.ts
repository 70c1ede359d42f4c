// Weight matrices on the GPU: uploaded once per model, in the file's own block layout, split by rows
// into shards that each fit one storage binding (the adapter's maxStorageBufferBindingSize and
// maxBufferSize), written in chunks with progress. An out-of-memory or a row larger than a binding
// is an error naming the tensor and the limit.
/// <reference types="@webgpu/types" />

import type { QuantFormat } from '../../quant/types.js';
import type { WeightMatrix } from '../types.js';
import { GpuError, type Gpu } from './device.js';

const STORAGE = 0x80, COPY_DST = 0x08;
/** Bytes per writeBuffer: the staging copy stays small however large the tensor. */
const CHUNK = 8 * 2 ** 20;
/** Words past the end of a shard that the shaders' unaligned reads may touch. */
const TAIL = 8;

export interface GpuShard {
  buffer: GPUBuffer;
  row0: number;
  rows: number;
}

export interface GpuMatrix {
  readonly name: string;
  readonly format: QuantFormat;
  readonly rows: number;
  readonly cols: number;
  readonly rowBytes: number;
  readonly shards: readonly GpuShard[];
  readonly bytes: number;
}

/** How many shards a matrix takes under a binding limit, or an error naming the limit if one row does not fit. */
export function shardRows(w: Pick<WeightMatrix, 'name' | 'rows' | 'rowBytes'>, maxBinding: number): number {
  const perShard = Math.floor((maxBinding - TAIL) / w.rowBytes);
  if (perShard < 1) throw new GpuError(`tensor ${w.name}: one row is ${w.rowBytes} bytes, more than the adapter's storage binding limit of ${maxBinding} bytes (maxStorageBufferBindingSize/maxBufferSize)`);
  return Math.min(perShard, w.rows);
}

let staging = new Uint8Array(0);

/**
 * Upload a matrix (its bytes as the file has them), calling onBytes with each chunk's size.
 * Throws GpuError on an out-of-memory or a lost device, naming the tensor.
 */
export async function uploadMatrix(gpu: Gpu, w: WeightMatrix, onBytes?: (n: number) => void): Promise<GpuMatrix> {
  const perShard = shardRows(w, gpu.maxBinding);
  const shards: GpuShard[] = [];
  const dev = gpu.device;
  try {
    for (let row0 = 0; row0 < w.rows; row0 += perShard) {
      const rows = Math.min(perShard, w.rows - row0);
      const bytes = rows * w.rowBytes;
      const size = Math.ceil(bytes / 4) * 4 + TAIL;
      dev.pushErrorScope('out-of-memory');
      dev.pushErrorScope('validation');
      const buffer = dev.createBuffer({ size, usage: STORAGE | COPY_DST, label: `${w.name}[${row0}..${row0 + rows})` });
      const [valid, oom] = await Promise.all([dev.popErrorScope(), dev.popErrorScope()]);
      if (oom || valid) {
        buffer.destroy();
        throw new GpuError(`tensor ${w.name}: the GPU could not allocate ${size} bytes for rows ${row0}..${row0 + rows} (${oom ? 'out of memory' : valid!.message}); maxBufferSize ${dev.limits.maxBufferSize}`);
      }
      shards.push({ buffer, row0, rows });
      const src = w.data.subarray(row0 * w.rowBytes, row0 * w.rowBytes + bytes);
      for (let off = 0; off < bytes; off += CHUNK) {
        if (gpu.lostReason) throw new GpuError(`tensor ${w.name}: ${gpu.lostReason}`);
        const n = Math.min(CHUNK, bytes - off);
        const padded = Math.ceil(n / 4) * 4;
        if (staging.length < padded) staging = new Uint8Array(Math.max(padded, Math.min(CHUNK, 2 * staging.length)));
        staging.set(src.subarray(off, off + n));
        staging.fill(0, n, padded);
        dev.queue.writeBuffer(buffer, off, staging.buffer, 0, padded);
        onBytes?.(n);
      }
    }
  } catch (e) {
    for (const s of shards) s.buffer.destroy();
    throw e;
  }
  return { name: w.name, format: w.format, rows: w.rows, cols: w.cols, rowBytes: w.rowBytes, shards, bytes: w.rows * w.rowBytes };
}

export function destroyMatrix(m: GpuMatrix): void {
  for (const s of m.shards) s.buffer.destroy();
}
