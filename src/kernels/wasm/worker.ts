// A kernel worker thread in Node.js: the same module over the same shared memory, running its
// share of each job (see protocol.ts).

import { parentPort, workerData } from 'node:worker_threads';
import { workerLoop, type KernelExports } from './protocol.js';

const { module, memory, ctrl, part, scratch, scratchBytes } = workerData as { module: WebAssembly.Module; memory: WebAssembly.Memory; ctrl: SharedArrayBuffer; part: number; scratch: number; scratchBytes: number };
const k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
// This thread's own scratch (assembly/scratch.ts): a module global, so set on this instance.
k.thread_scratch(scratch, scratchBytes);
workerLoop(k, ctrl, part, () => parentPort?.postMessage('ready'));
