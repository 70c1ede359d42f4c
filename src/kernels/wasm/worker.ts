// A kernel worker: instantiates the same module over the same shared memory and runs its share
// of each job posted in the control block, spinning briefly before sleeping on Atomics.wait so
// back-to-back matmuls in a decode step do not pay a wake-up each.

import { parentPort, workerData } from 'node:worker_threads';
import { ERR, OP_EXIT, runShare, type KernelExports } from './protocol.js';

const { module, memory, ctrl, part } = workerData as { module: WebAssembly.Module; memory: WebAssembly.Memory; ctrl: SharedArrayBuffer; part: number };
const k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
const c = new Int32Array(ctrl);
const f = new Float32Array(ctrl);
let gen = Atomics.load(c, 0);
// The pool waits for this before posting the first job, so `gen` above cannot miss one.
parentPort?.postMessage('ready');
for (;;) {
  let spins = 0;
  while (Atomics.load(c, 0) === gen && spins < 20000) spins++;
  if (Atomics.load(c, 0) === gen) Atomics.wait(c, 0, gen);
  gen = Atomics.load(c, 0);
  if (c[2] === OP_EXIT) break;
  try {
    runShare(k, c, f, part);
  } catch {
    // Report instead of dying silently: the main thread turns this into an error.
    Atomics.store(c, ERR, part);
  }
  Atomics.add(c, 1, 1);
  Atomics.notify(c, 1);
}
