// Start `lutra serve` as a child process on a free loopback port and stop it by signal.

import { spawn, type ChildProcess } from 'node:child_process';
import { LUTRA_BIN } from './helpers.js';

export interface Served {
  url: string;
  proc: ChildProcess;
  stderr: () => string;
  /** Send a signal and resolve with the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

export async function startServer(model: string, flags: string[] = []): Promise<Served> {
  const proc = spawn(process.execPath, [LUTRA_BIN, 'serve', model, '--port', '0', ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.setEncoding('utf8');
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s:\n${err}`)), 30_000);
    proc.stderr!.on('data', (d: string) => {
      err += d;
      const m = /listening on (http:\/\/\S+?) /.exec(err);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}:\n${err}`)); });
  });
  return {
    url, proc, stderr: () => err,
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Poll until `check` is true (or fail after `ms`). */
export async function waitFor(check: () => Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
