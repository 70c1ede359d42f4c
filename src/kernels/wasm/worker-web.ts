// A kernel worker in the browser (a module Web Worker, possible only in a cross-origin isolated
// page): receives the module, the shared memory and the control block, then runs the same loop
// as the Node worker. Atomics.wait is allowed in workers.

import { workerLoop, type KernelExports } from './protocol.js';

interface Init { module: WebAssembly.Module; memory: WebAssembly.Memory; ctrl: SharedArrayBuffer; part: number; scratch: number; scratchBytes: number }
const scope = globalThis as unknown as { onmessage: ((e: MessageEvent<Init>) => void) | null; postMessage(m: unknown): void };

scope.onmessage = (e: MessageEvent<Init>) => {
  scope.onmessage = null;
  const { module, memory, ctrl, part, scratch, scratchBytes } = e.data;
  const k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
  // This thread's own scratch (assembly/scratch.ts): a module global, so set on this instance.
  k.thread_scratch(scratch, scratchBytes);
  workerLoop(k, ctrl, part, () => scope.postMessage('ready'));
};
