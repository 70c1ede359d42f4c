// One shared WebAssembly memory for weights, KV caches, scratch and activations, with a first-fit
// allocator. Shared memory never detaches on grow, so typed views handed out earlier stay valid;
// that is what lets the runtime keep ordinary Float32Array views of buffers the kernels address
// by pointer. Page 0 is left to the module itself.

import { ArgumentError } from '../../core/errors.js';

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB: wasm32's whole address space
const ALIGN = 64; // cache line; also satisfies every element alignment

export class WasmArena {
  readonly memory: WebAssembly.Memory;
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  /** Free blocks [offset, size], sorted by offset. */
  private free: Array<[number, number]> = [];
  private top = PAGE;
  private sizes = new Map<number, number>();

  /** Without shared memory the size is fixed at creation: growing would detach every view. */
  readonly fixed: boolean;

  constructor(opts: { shared?: boolean; bytes?: number } = {}) {
    const shared = opts.shared ?? true;
    this.fixed = !shared;
    const pages = Math.min(MAX_PAGES, Math.ceil((opts.bytes ?? 16 * PAGE) / PAGE));
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: shared ? MAX_PAGES : pages, shared });
    this.buffers.add(this.memory.buffer);
  }

  /** Whether a typed array lives in this memory (so kernels can address it by byteOffset). */
  owns(a: ArrayBufferView): boolean {
    // Kernels ask this for every argument of every op (~500 times a decode step), where a WeakSet
    // lookup per call showed as ~0.5% of a step. The memory hands out a new buffer object at each
    // grow (views made at different times hold different ones, and wasm's are not extensible, so
    // they cannot be tagged): the last few found answer first.
    const b = a.buffer, r = this.recent;
    if (b === r[0] || b === r[1] || b === r[2] || b === r[3]) return true;
    if (!this.buffers.has(b)) return false;
    r[3] = r[2]; r[2] = r[1]; r[1] = r[0]; r[0] = b;
    return true;
  }
  private readonly recent: Array<ArrayBufferLike | null> = [null, null, null, null];

  /**
   * memory.buffer, remembered as this memory's. V8 hands out a new SharedArrayBuffer object for a
   * shared memory when any shared memory of the process grows, this one or not, so the object
   * seen at the last grow is not enough.
   */
  private current(): ArrayBuffer | SharedArrayBuffer {
    const b = this.memory.buffer;
    this.buffers.add(b);
    return b;
  }

  get bytesInUse(): number {
    let n = 0;
    for (const s of this.sizes.values()) n += s;
    return n;
  }

  alloc(bytes: number): number {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new ArgumentError(`cannot allocate ${bytes} bytes`);
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const [off, sz] = this.free[i]!;
      if (sz >= size) {
        if (sz === size) this.free.splice(i, 1);
        else this.free[i] = [off + size, sz - size];
        this.sizes.set(off, size);
        return off;
      }
    }
    const off = this.top;
    const end = off + size;
    if (end > MAX_PAGES * PAGE) {
      throw new ArgumentError(`out of WebAssembly memory: ${(end / 2 ** 30).toFixed(2)} GiB needed, wasm32 addresses at most 4 GiB (weights, KV cache and scratch together); use a smaller model, a lower-bit quantization or a smaller context`);
    }
    const have = this.memory.buffer.byteLength;
    if (end > have && this.fixed) {
      throw new ArgumentError(`WebAssembly memory is full (${(have / 2 ** 20).toFixed(0)} MiB): without SharedArrayBuffer (a page that is not cross-origin isolated) it is sized once at load and cannot grow; serve the page with COOP/COEP headers, or use a smaller context`);
    }
    if (end > have) {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } catch {
        throw new ArgumentError(`out of memory growing WebAssembly memory to ${(end / 2 ** 30).toFixed(2)} GiB`);
      }
      this.buffers.add(this.memory.buffer);
    }
    this.top = end;
    this.sizes.set(off, size);
    return off;
  }

  release(off: number): void {
    const size = this.sizes.get(off);
    if (size === undefined) return;
    this.sizes.delete(off);
    // Insert sorted and coalesce with neighbours.
    let i = 0;
    while (i < this.free.length && this.free[i]![0] < off) i++;
    this.free.splice(i, 0, [off, size]);
    for (let j = Math.max(0, i - 1); j < this.free.length - 1; ) {
      const a = this.free[j]!, b = this.free[j + 1]!;
      if (a[0] + a[1] === b[0]) { a[1] += b[1]; this.free.splice(j + 1, 1); } else j++;
    }
    const last = this.free[this.free.length - 1];
    if (last && last[0] + last[1] === this.top) { this.top = last[0]; this.free.pop(); }
  }

  /**
   * Free the aligned interior of [off, off + len) inside an allocated block (a tensor inside the
   * model file's block, once its bytes moved elsewhere); the rest of the block stays allocated.
   */
  releaseRange(off: number, len: number): void {
    const a = Math.ceil(off / ALIGN) * ALIGN, b = Math.floor((off + len) / ALIGN) * ALIGN;
    if (b <= a) return;
    for (const [start, size] of this.sizes) {
      if (start > a || start + size < b) continue;
      this.sizes.delete(start);
      if (a > start) this.sizes.set(start, a - start);
      if (start + size > b) this.sizes.set(b, start + size - b);
      this.sizes.set(a, b - a);
      this.release(a);
      return;
    }
  }

  // alloc() may grow the memory, which replaces memory.buffer: allocate before taking the buffer.
  f32(n: number): Float32Array {
    const off = this.alloc(n * 4);
    return new Float32Array(this.current(), off, n);
  }

  bytes(n: number): Uint8Array {
    const off = this.alloc(n);
    return new Uint8Array(this.current(), off, n);
  }

  /** Give back a view handed out by f32() / bytes(). */
  releaseView(v: ArrayBufferView): void {
    if (this.owns(v)) this.release(v.byteOffset);
  }
}
