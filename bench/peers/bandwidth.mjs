// Memory read bandwidth, the denominator of the decode roofline.
// Method: each worker_thread owns a WebAssembly memory of (total / threads)
// bytes, filled once; all workers start together on an Atomics signal and
// stream through their buffer with 128-bit SIMD loads (8 loads per loop turn,
// OR-ed into 4 accumulators so nothing is optimised away). Bandwidth = bytes
// read by all workers / slowest worker's time; the best of several passes, as
// STREAM reports (on a shared machine the median is kept beside it).
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

// (module (import "env" "mem" (memory 1)) (func (export "read") (param $p i32) (param $end i32) (result i32) ...))
// hand-assembled so the bench needs no compiler.
function readKernel() {
  const load = (off) => [0x20, 0x00, 0xfd, 0x00, 0x04, ...leb(off)];
  const orInto = (acc, off) => [0x20, acc, ...load(off), 0xfd, 0x50, 0x21, acc];
  const body = [
    0x01, 0x04, 0x7b, // 4 locals of v128 (indices 2..5)
    0x02, 0x40, 0x03, 0x40, // block, loop
    0x20, 0x00, 0x20, 0x01, 0x4f, 0x0d, 0x01, // p >= end -> break
    ...orInto(2, 0), ...orInto(3, 16), ...orInto(4, 32), ...orInto(5, 48),
    ...orInto(2, 64), ...orInto(3, 80), ...orInto(4, 96), ...orInto(5, 112),
    0x20, 0x00, 0x41, ...sleb(128), 0x6a, 0x21, 0x00, // p += 128
    0x0c, 0x00, 0x0b, 0x0b, // br loop, end loop, end block
    0x20, 0x02, 0x20, 0x03, 0xfd, 0x50, 0x20, 0x04, 0xfd, 0x50, 0x20, 0x05, 0xfd, 0x50,
    0xfd, 0x1b, 0x00, // i32x4.extract_lane 0
    0x0b,
  ];
  const section = (id, bytes) => [id, ...leb(bytes.length), ...bytes];
  const name = (s) => [s.length, ...Buffer.from(s)];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 2, 0x7f, 0x7f, 1, 0x7f]),
    ...section(2, [1, ...name('env'), ...name('mem'), 0x02, 0x00, 0x01]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('read'), 0x00, 0]),
    ...section(10, [1, ...leb(body.length), ...body]),
  ]);
}

function leb(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function sleb(n) {
  const out = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) { out.push(b); return out; }
    out.push(b | 0x80);
  }
}

/**
 * @param {{ threads: number, totalBytes?: number, passes?: number }} opts
 * @returns {Promise<{ threads: number, totalBytes: number, gbps: number, gbpsMedian: number, passesGbps: number[] }>}
 */
export async function measureBandwidth({ threads, totalBytes = 512 << 20, passes = 7 }) {
  const perWorker = Math.floor(totalBytes / threads / 65536) * 65536;
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const wasm = readKernel();
  const workers = [];
  for (let i = 0; i < threads; i++) {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { bytes: perWorker, signal, wasm } });
    workers.push(w);
  }
  const next = (w) => new Promise((res, rej) => { w.once('message', res); w.once('error', rej); });
  await Promise.all(workers.map(next)); // filled and ready
  const passesGbps = [];
  for (let pass = 0; pass < passes; pass++) {
    const done = Promise.all(workers.map(next));
    Atomics.add(signal, 0, 1);
    Atomics.notify(signal, 0);
    const times = await done;
    passesGbps.push((perWorker * threads) / Math.max(...times) / 1e9);
  }
  await Promise.all(workers.map((w) => w.terminate()));
  const sorted = [...passesGbps].sort((a, b) => a - b);
  return { threads, totalBytes: perWorker * threads, gbps: sorted[sorted.length - 1], gbpsMedian: sorted[sorted.length >> 1], passesGbps };
}

if (!isMainThread) {
  const { bytes, signal, wasm } = workerData;
  const mem = new WebAssembly.Memory({ initial: bytes / 65536 + 1 });
  const { read } = new WebAssembly.Instance(new WebAssembly.Module(wasm), { env: { mem } }).exports;
  const view = new Uint32Array(mem.buffer, 0, bytes / 4);
  for (let i = 0; i < view.length; i++) view[i] = i * 2654435761;
  read(0, bytes); // compile the tier-up before timing
  parentPort.postMessage('ready');
  let seen = 0;
  for (;;) {
    Atomics.wait(signal, 0, seen);
    seen = Atomics.load(signal, 0);
    const t0 = process.hrtime.bigint();
    read(0, bytes);
    parentPort.postMessage(Number(process.hrtime.bigint() - t0) / 1e9);
  }
}

if (isMainThread && import.meta.url === `file://${process.argv[1]}`) {
  for (const t of [1, 2]) console.log(await measureBandwidth({ threads: t }));
}
