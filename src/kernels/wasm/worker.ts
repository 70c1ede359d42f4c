// A kernel worker thread in Node.js: the same module over the same shared memory, running its
// share of each job (see protocol.ts).

import { parentPort, workerData } from 'node:worker_threads';
import { workerLoop, type KernelExports } from './protocol.js';

const { module, memory, ctrl, part } = workerData as { module: WebAssembly.Module; memory: WebAssembly.Memory; ctrl: SharedArrayBuffer; part: number };
const k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
workerLoop(k, ctrl, part, () => parentPort?.postMessage('ready'));
