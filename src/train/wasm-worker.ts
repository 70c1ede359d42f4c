// A training kernel worker thread (Node): the same module over the same shared memory, running its
// chunks of each op posted by WasmTrainOps (wasm-ops.ts).

import { parentPort, workerData } from 'node:worker_threads';
import { trainWorkerLoop, type TrainExports } from './wasm-ops.js';

const { module, memory, ctrl, part } = workerData as { module: WebAssembly.Module; memory: WebAssembly.Memory; ctrl: SharedArrayBuffer; part: number };
const k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as TrainExports;
trainWorkerLoop(k, ctrl, part, () => parentPort?.postMessage('ready'));
