// The WebAssembly backend's thread pool: kernel workers over the one shared memory, a control
// block (protocol.ts) the caller writes a job into, and run(), which wakes the workers, takes
// chunks of the job on the calling thread too, and waits for the workers that joined. Between begin() and end() the jobs posted are
// collected instead and run as one grouped job: one barrier for the q/k/v or gate/up products.
// It knows nothing of kernels beyond the protocol's ops.

import { BIG_FIRST, CTRL_INTS, ERR, SCHED, UNITS, OP_EXIT, OP_NOP, SPIN, closeJob, collect, groupable, postGroup, runShare, startJob, type KernelExports } from './protocol.js';

/** Per-thread scratch in the shared memory (assembly/scratch.ts): part i's region at base + i * per. */
export interface ThreadScratch { base: number; per: number }

interface PoolWorker { terminate(): unknown; postMessage?(m: unknown): void }

/**
 * Polls before sleeping: workers between jobs when they spin (a decode step's serial work between
 * two products is tens of microseconds), the caller at the barrier.
 */
export const WORKER_SPIN = 20000;
export const CALLER_SPIN = 50000;
/**
 * Whether workers spin between jobs or sleep at once is measured, not assumed. Spinning answers a
 * job at once while every thread has a core; on an oversubscribed machine a spinning worker loses
 * its core to other processes and answers hundreds of microseconds late, where a sleeping one is
 * woken first (bench/kernels/pool.mjs, 2 threads on 2 cores at load 4-10: 240-450 us per barrier
 * spinning, 5-50 us sleeping; 0.5B decode 0.77x of 1 thread spinning, 0.97x sleeping, and 1.5x
 * spinning in a quiet moment). So the caller measures TRIAL barriers in each mode and keeps the
 * better for KEEP barriers, then tries both again. The measure is each job's wall time against
 * what it would take split evenly, its units (rows, heads) times the caller's time per unit over the
 * threads: a late worker shows either as the caller's wait at the barrier (preempted mid-chunk) or
 * as chunks the caller took in its place (slow to wake). The caller's wait alone missed the second:
 * a sleeping worker that woke after the caller had taken every chunk cost no wait, so sleeping
 * looked as good as spinning while one thread did the work. One 4864x896 Q4_0 product, 2 threads,
 * interleaved runs of the old tuner and of workers always spinning: in cache 62 vs 71-81 GMAC/s,
 * over 40 copies 46-48 vs 49-56; this measure: 82 vs 81 and 56 vs 56.
 *
 * Guards keep noise from choosing sleep where every thread has a core. There the measure sees
 * little (0.5B Q4_0 decode, 2 threads: spinning 1.03, sleeping 1.06 a window; it is relative to the
 * caller's own pace, which sleeping slows too) but sleeping costs a decode step 20% (10.7-11.3 vs
 * 13.3-13.4 ms, workers forced either way, quiet machine). So: the first WARM barriers are not
 * measured (the workers' code is still being optimized: the first trial, spinning, measured 1.9
 * against sleeping's 1.4 after it, and sleeping was kept for the next 3000 barriers, where
 * `lutra bench` times its tg32); sleep is tried only when spinning measured worse than SPIN_OK
 * (a worker was late: its core was taken); and it is kept only when it measured SLEEP_MARGIN times
 * better than spinning (windows of 100 barriers vary by 5-25%: spinning 0.96-1.28 in one run, while
 * an oversubscribed machine's spinning costs several times sleeping's, the figures above).
 */
export const TRIAL = 100;
export const KEEP = 3000;
export const WARM = 1000;
export const SPIN_OK = 1.15;
export const SLEEP_MARGIN = 1.25;

/** How long a kernel worker may take to start (it compiles nothing: the module is shared). */
const START_TIMEOUT_MS = 60_000;

export class KernelPool {
  readonly ctrl: SharedArrayBuffer;
  /** The control block: post* functions of protocol.ts write a job here, then run() runs it. */
  readonly c: Int32Array;
  readonly f: Float32Array;
  /** Jobs that woke the workers (barriers passed): lutra bench and tests count them. */
  barriers = 0;
  /** Polls the caller makes at the barrier before it sleeps (1 ms at a time) on Atomics.wait. */
  callerSpin = CALLER_SPIN;
  private workers: PoolWorker[] = [];
  private broken = false;
  private readonly canBlock: boolean;
  /** Sub-jobs collected since begin(), and the rows they span; -1 when not grouping. */
  private grouped = -1;
  private units = 0;
  /**
   * The spin tuner: on unless workerSpin was set; its stage (-1 warming up, spinning, unmeasured;
   * 0 trying spin, 1 trying sleep, 2 keeping), barriers so far, their wall time and their evenly
   * split time.
   */
  private autoSpin = true;
  private tuneStage = -1;
  private tuneN = 0;
  private tuneMs = 0;
  private tuneEven = 0;
  private spinCost = 0;

  constructor(private readonly k: KernelExports) {
    // Workers need a shared control block; one thread (no SharedArrayBuffer) never posts jobs.
    this.ctrl = typeof SharedArrayBuffer !== 'undefined' ? new SharedArrayBuffer(CTRL_INTS * 4) : (new ArrayBuffer(CTRL_INTS * 4) as unknown as SharedArrayBuffer);
    this.c = new Int32Array(this.ctrl);
    this.f = new Float32Array(this.ctrl);
    this.spin(WORKER_SPIN);
    let canBlock = true;
    try { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0); } catch { canBlock = false; }
    this.canBlock = canBlock;
  }

  /** Worker threads besides the caller. */
  get size(): number {
    return this.workers.length;
  }

  /** Between begin() and end(). */
  get grouping(): boolean {
    return this.grouped >= 0;
  }

  /** Whether a job that cannot join a group may run now: no group, or one that has collected nothing yet. */
  get free(): boolean {
    return this.grouped <= 0;
  }

  /**
   * Polls a worker makes before sleeping (0: sleep at once), from its next wait on; setting it
   * turns the measured choice off.
   */
  set workerSpin(n: number) {
    this.autoSpin = false;
    this.spin(n);
  }

  /**
   * Workers poll n times before sleeping; with spinning workers jobs are cut big chunks first
   * (protocol.ts SCHED: every thread has a core, and long weight streams read faster), with
   * sleeping ones (an oversubscribed machine) in equal chunks, so that a thread that loses its
   * core holds up one small chunk.
   */
  private spin(n: number): void {
    this.c[SPIN] = n;
    this.c[SCHED] = n > 0 ? BIG_FIRST : 0;
  }

  get workerSpin(): number {
    return this.c[SPIN]!;
  }

  /**
   * One barrier for the spin tuner: the job's wall time (ms), the caller's time in its own share
   * and the units it ran there, the job's units and threads. Its cost is wall time over evenly
   * split time, summed over the window (big jobs weigh most): 1 when every thread did its part.
   */
  private tune(wall: number, share: number, mine: number, units: number, parts: number): void {
    // A job the caller took nothing of tells nothing of the units' cost (an empty job).
    if (mine > 0) {
      this.tuneMs += wall;
      this.tuneEven += (share / mine) * units / parts;
    }
    if (this.tuneStage < 0) {
      if (++this.tuneN < WARM) return;
      this.tuneStage = 0;
      this.tuneN = 0;
      this.tuneMs = 0;
      this.tuneEven = 0;
      return;
    }
    if (++this.tuneN < (this.tuneStage === 2 ? KEEP : TRIAL)) return;
    const cost = this.tuneEven > 0 ? this.tuneMs / this.tuneEven : 1;
    this.tuneN = 0;
    this.tuneMs = 0;
    this.tuneEven = 0;
    if (this.tuneStage === 0) {
      // Every thread did its part while spinning: keep spinning, untried sleep costs nothing.
      if (cost <= SPIN_OK) {
        this.tuneStage = 2;
        return;
      }
      this.spinCost = cost;
      this.tuneStage = 1;
      this.spin(0);
    } else if (this.tuneStage === 1) {
      this.tuneStage = 2;
      this.spin(cost * SLEEP_MARGIN < this.spinCost ? 0 : WORKER_SPIN);
    } else {
      this.tuneStage = 0;
      this.spin(WORKER_SPIN);
    }
  }

  /** Start n workers; worker i (part i, 1..n) gets the thread scratch at scratch.base + i * scratch.per. */
  async start(module: WebAssembly.Module, memory: WebAssembly.Memory, n: number, scratch: ThreadScratch = { base: 0, per: 0 }): Promise<void> {
    if (n <= 0) return;
    if (typeof process !== 'undefined' && process.versions?.node) {
      const { Worker } = await import('node:worker_threads');
      const ready: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: { module, memory, ctrl: this.ctrl, part: i + 1, scratch: scratch.base + (i + 1) * scratch.per, scratchBytes: scratch.per } });
        ready.push(new Promise((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', reject);
          w.once('exit', (code) => reject(new Error(`kernel worker ${i + 1} exited with code ${code} before starting`)));
        }));
        w.on('error', () => { this.broken = true; });
        this.workers.push(w);
      }
      await this.allStarted(ready);
      // Only now: an unref'd worker's messages would not keep the event loop alive to deliver 'ready'.
      for (const w of this.workers) (w as unknown as { unref(): void }).unref();
    } else {
      const ready: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        // Written out in this exact form: Vite and webpack emit the worker script only for
        // `new Worker(new URL('./x.js', import.meta.url))`, not for a URL held in a variable.
        const w = new Worker(new URL('./worker-web.js', import.meta.url), { type: 'module' });
        const url = new URL('./worker-web.js', import.meta.url);
        ready.push(new Promise((resolve, reject) => {
          w.addEventListener('message', () => resolve(), { once: true });
          // A script that fails to load gives an ErrorEvent without a message: say which and why.
          w.addEventListener('error', (e) => reject(new Error(`kernel worker ${i + 1} failed to start: ${e.message || `could not load ${url.href}`}; the kernels' thread script worker-web.js must sit beside the bundle that imports lutra (esbuild: add lutra/web/static/worker-web.js as an entry point with --entry-names=[name], or copy it there), or pass threads: 1`)), { once: true });
        }));
        w.postMessage({ module, memory, ctrl: this.ctrl, part: i + 1, scratch: scratch.base + (i + 1) * scratch.per, scratchBytes: scratch.per });
        this.workers.push(w);
      }
      await this.allStarted(ready);
    }
  }

  /**
   * Wait until every worker reported ready; if one fails to start, or none of them answers within
   * START_TIMEOUT_MS (a worker that neither starts nor fails would otherwise hold the process
   * forever, the Node workers being ref'd until ready), stop the others and reject naming them.
   */
  private async allStarted(ready: Promise<void>[]): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const started = new Set<number>();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const late = ready.map((_, i) => i + 1).filter((i) => !started.has(i));
        reject(new Error(`kernel worker${late.length > 1 ? 's' : ''} ${late.join(', ')} did not start within ${START_TIMEOUT_MS / 1000} s (threads: 1 runs without workers)`));
      }, START_TIMEOUT_MS);
    });
    try {
      await Promise.race([Promise.all(ready.map((p, i) => p.then(() => { started.add(i + 1); }))), timeout]);
    } catch (e) {
      this.dispose();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Run the job in the control block over every thread; while grouping, collect it instead (a job
   * that cannot join a group runs the group first, then itself).
   */
  run(): void {
    if (this.grouped >= 0) {
      if (groupable(this.c, this.grouped)) {
        this.units = collect(this.c, this.grouped++, this.units);
        return;
      }
      if (this.grouped > 0) throw new Error('kernel pool: a job that cannot be grouped was posted inside a group');
    }
    this.barrier();
  }

  /** Collect the products posted from here on into one job, run by end(). Groups do not nest. */
  begin(): void {
    if (this.grouped >= 0) throw new Error('kernel pool: begin() inside a group');
    this.grouped = 0;
    this.units = 0;
  }

  /** Run what was collected since begin() as one job; with nothing collected, nothing runs. */
  end(): void {
    const n = this.grouped;
    this.grouped = -1;
    if (n <= 0) return;
    postGroup(this.c, n, this.units);
    this.barrier();
  }

  /** Leave a group without running it (after an error). */
  abandon(): void {
    this.grouped = -1;
  }

  /** An empty job: what one barrier costs (bench/kernels/pool.mjs). */
  nop(): void {
    this.c[2] = OP_NOP;
    this.barrier();
  }

  /** Post the job in the control block to every worker, do share 0 here, wait for the rest. */
  private barrier(): void {
    const c = this.c;
    const nWorkers = this.workers.length;
    this.barriers++;
    const t0 = this.autoSpin ? performance.now() : 0;
    startJob(c, nWorkers + 1);
    Atomics.add(c, 0, 1);
    Atomics.notify(c, 0);
    const mine = runShare(this.k, c, this.f, 0);
    const t1 = this.autoSpin ? performance.now() : 0;
    // Only workers that joined before the last chunk was taken are waited for.
    const joined = closeJob(c);
    let spins = 0;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const done = Atomics.load(c, 1);
      if (done >= joined) break;
      if (++spins > this.callerSpin) {
        if (this.canBlock) Atomics.wait(c, 1, done, 1);
        if ((spins & 1023) === 0 && (this.broken || Date.now() > deadline)) throw new Error('a kernel worker thread stopped responding');
      }
    }
    if (this.autoSpin) this.tune(performance.now() - t0, t1 - t0, mine, c[UNITS]!, nWorkers + 1);
    if (c[ERR]) {
      const part = c[ERR];
      c[ERR] = 0;
      throw new Error(`kernel worker ${part} failed`);
    }
  }

  dispose(): void {
    if (!this.workers.length) return;
    this.c[2] = OP_EXIT;
    Atomics.add(this.c, 0, 1);
    Atomics.notify(this.c, 0);
    for (const w of this.workers) void w.terminate();
    this.workers = [];
  }
}
