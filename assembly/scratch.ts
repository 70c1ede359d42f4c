// Per-thread scratch: each thread runs its own instance of the module over the shared memory, and a
// module global is per instance, so a kernel that needs working memory of its own (rows4-band.ts)
// reads it from here. The engine gives every thread its region once, at start (thread_scratch).

import { BAND_SCRATCH } from './rows4-band';

/** This instance's (thread's) scratch and its size in bytes; 0: none given. */
export let threadScratch: usize = 0;
export let threadScratchBytes: usize = 0;

/** Bytes of scratch each thread should be given (the largest any kernel here needs). */
export function thread_scratch_bytes(): i32 {
  return BAND_SCRATCH;
}

/** Give this instance's thread `bytes` of scratch at p (0 bytes: kernels that need it fall back). */
export function thread_scratch(p: usize, bytes: usize): void {
  threadScratch = p;
  threadScratchBytes = bytes;
}

/**
 * Where a decode kernel keeps its streams' running sums (128 bytes): this thread's scratch, or,
 * for an instance given none (a module used alone, never beside workers: the engine gives every
 * thread its own), a static block. In registers, V8 kept those sums and spilled the kernels' dot
 * chains instead (rows4-k.ts q4kDecode4IT).
 */
const DECODE_FALLBACK = memory.data(128, 16);
@inline export function decodeScratch(): usize {
  return threadScratch != 0 ? threadScratch : DECODE_FALLBACK;
}
