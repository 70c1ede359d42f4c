#!/usr/bin/env node
// Load test for `lutra serve`: a bounded number of concurrent streaming clients for a bounded time
// against a server on loopback (started here unless --url names one), some of which disconnect
// mid-stream. Reports requests, errors, time to first token and tokens/s (p50/p99), and the
// server's memory before (after --warmup seconds of the same load) and after. Exits 1 unless no
// request that should have succeeded failed, no slot is left busy, and RSS is back within 10%.
//
//   node bench/serve-load/run.mjs [--model FILE] [--clients 8] [--seconds 20] [--parallel 4]
//        [--disconnect 0.25] [--max-tokens 64] [--ctx 512] [--warmup S] [--url http://127.0.0.1:PORT] [--json]

import { spawn } from 'node:child_process';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values: o } = parseArgs({
  options: {
    model: { type: 'string', default: resolve(ROOT, '../shared/data/models/stories260K/stories260K.gguf') },
    clients: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '20' },
    parallel: { type: 'string', default: '4' },
    disconnect: { type: 'string', default: '0.25' },
    'max-tokens': { type: 'string', default: '64' },
    ctx: { type: 'string', default: '512' },
    url: { type: 'string' },
    json: { type: 'boolean', default: false },
    warmup: { type: 'string' },
  },
});
const clients = Number(o.clients), seconds = Number(o.seconds), parallel = Number(o.parallel);
const disconnectRate = Number(o.disconnect), maxTokens = Number(o['max-tokens']);
const MEMORY_TOLERANCE = 0.10;
const WARMUP_S = o.warmup !== undefined ? Number(o.warmup) : Math.min(10, Math.max(1, seconds / 2));
const PROMPTS = ['Once upon a time', 'The little dog', 'One day, a girl named Lily', 'Tom and his friend', 'The sun was shining and'];

function percentile(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function startServer() {
  // The queue holds every client, so a 503 here would be a failure, not load shedding.
  const args = [resolve(ROOT, 'bin/lutra.js'), 'serve', o.model, '--host', '127.0.0.1', '--port', '0', '--parallel', String(parallel), '--max-queue', String(clients), '--ctx', o.ctx];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const url = await new Promise((res, rej) => {
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => { err += d; const m = /listening on (http:\/\/\S+?) /.exec(err); if (m) res(m[1]); });
    proc.once('exit', (c) => rej(new Error(`server exited with ${c}: ${err}`)));
  });
  return { url, proc, command: `node ${args.map((a) => (a.startsWith('/') ? relative(process.cwd(), a) : a)).join(' ')}` };
}

const health = async (url) => (await fetch(`${url}/health`)).json();

async function settle(url, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const h = await health(url);
    if ((h.slots_processing === 0 && h.queued === 0) || Date.now() > end) return h;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One streaming request; `cutAfter` chunks then disconnect (undefined: read to the end). */
async function oneRequest(url, prompt, cutAfter) {
  const ac = new AbortController();
  const t0 = performance.now();
  const r = { ok: false, disconnected: false, ttft: NaN, tokens: 0, tps: NaN, status: 0, error: '' };
  try {
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST', signal: ac.signal, headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0.8, stream: true }),
    });
    r.status = res.status;
    if (!res.ok) { r.error = `HTTP ${res.status}`; await res.text(); return r; }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '', first = 0, done = false;
    while (!done) {
      const { done: end, value } = await reader.read();
      if (end) break;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const data = buf.slice(6, i);
        buf = buf.slice(i + 2);
        if (data === '[DONE]') { done = true; break; }
        const c = JSON.parse(data);
        if (c.error) throw new Error(c.error.message);
        if (c.choices[0]?.text) {
          if (r.tokens === 0) { first = performance.now(); r.ttft = first - t0; }
          r.tokens++;
        }
        if (cutAfter !== undefined && r.tokens >= cutAfter) { r.disconnected = true; ac.abort(); return r; }
      }
    }
    if (!done) throw new Error('stream ended without [DONE]');
    const genS = (performance.now() - first) / 1000;
    if (r.tokens > 1 && genS > 0) r.tps = (r.tokens - 1) / genS;
    r.ok = true;
  } catch (e) {
    if (r.disconnected) return r;
    r.error = e.message;
  }
  return r;
}

async function main() {
  const own = o.url ? undefined : await startServer();
  const url = o.url ?? own.url;
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) throw new Error(`refusing to load-test ${url}: loopback only`);
  try {
    // Warm up under the same load (JIT, V8 growing its heap to the working size: measured, RSS
    // rises ~20% in the first seconds and then stays flat for a minute) before the baseline.
    const load = async (ms, results) => {
      const deadline = Date.now() + ms;
      let seq = 0;
      await Promise.all(Array.from({ length: clients }, async () => {
        while (Date.now() < deadline) {
          const n = seq++;
          const cut = Math.random() < disconnectRate ? 1 + Math.floor(Math.random() * Math.max(1, maxTokens / 2)) : undefined;
          results.push(await oneRequest(url, PROMPTS[n % PROMPTS.length], cut));
        }
      }));
    };
    const warm = [];
    await load(WARMUP_S * 1000, warm);
    await settle(url, 5000);
    await new Promise((r) => setTimeout(r, 1000));
    const before = (await health(url)).memory;

    const results = [...warm.filter((r) => !r.ok && !r.disconnected)];
    await load(seconds * 1000, results);

    const idle = await settle(url, 3000);
    await new Promise((r) => setTimeout(r, 1000));
    const after = (await health(url)).memory;
    const completed = results.filter((r) => r.ok);
    const disconnected = results.filter((r) => r.disconnected);
    const failed = results.filter((r) => !r.ok && !r.disconnected);
    const ttft = results.filter((r) => r.tokens > 0).map((r) => r.ttft);
    const tps = completed.map((r) => r.tps).filter(Number.isFinite);
    const memRatio = after.rss / before.rss;
    const report = {
      command: own?.command ?? `(existing server ${url})`,
      clients, seconds, parallel, disconnect_rate: disconnectRate, max_tokens: maxTokens,
      requests: results.length, completed: completed.length, disconnected: disconnected.length, failed: failed.length,
      errors: [...new Set(failed.map((r) => r.error))].slice(0, 5),
      tokens: results.reduce((a, r) => a + r.tokens, 0),
      ttft_ms: { p50: percentile(ttft, 50), p99: percentile(ttft, 99) },
      tokens_per_s_per_stream: { p50: percentile(tps, 50), p99_low: percentile(tps, 1) },
      aggregate_tokens_per_s: results.reduce((a, r) => a + r.tokens, 0) / seconds,
      memory_before: before, memory_after: after, rss_ratio: memRatio,
      slots_busy_after: idle.slots_processing, queued_after: idle.queued,
    };
    const checks = {
      'no failed request': failed.length === 0,
      'no stuck slot': idle.slots_processing === 0 && idle.queued === 0,
      [`rss within ${MEMORY_TOLERANCE * 100}% of the start`]: Math.abs(memRatio - 1) <= MEMORY_TOLERANCE,
    };
    if (o.json) {
      process.stdout.write(JSON.stringify({ ...report, checks }) + '\n');
    } else {
      const mb = (b) => `${(b / 1048576).toFixed(1)} MB`;
      const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
      process.stdout.write([
        `command: ${report.command}`,
        `${clients} streaming clients for ${seconds} s (after ${WARMUP_S} s of warm-up) against ${parallel} slot(s), ${disconnectRate * 100}% disconnecting mid-stream, max_tokens ${maxTokens}`,
        `requests ${report.requests}: completed ${report.completed}, disconnected on purpose ${report.disconnected}, failed ${report.failed}${report.errors.length ? ` (${report.errors.join('; ')})` : ''}`,
        `time to first token: p50 ${f(report.ttft_ms.p50)} ms, p99 ${f(report.ttft_ms.p99)} ms`,
        `tokens/s per stream: p50 ${f(report.tokens_per_s_per_stream.p50)}, slowest 1% ${f(report.tokens_per_s_per_stream.p99_low)}; all streams together ${f(report.aggregate_tokens_per_s)} tokens/s`,
        `server memory: rss ${mb(before.rss)} -> ${mb(after.rss)} (${f((memRatio - 1) * 100)}%), heap ${mb(before.heap_used)} -> ${mb(after.heap_used)}`,
        ...Object.entries(checks).map(([k, v]) => `${v ? 'PASS' : 'FAIL'} ${k}`),
        '',
      ].join('\n'));
    }
    process.exitCode = Object.values(checks).every(Boolean) ? 0 : 1;
  } finally {
    own?.proc.kill('SIGTERM');
  }
}

main().catch((e) => { process.stderr.write(`serve-load: ${e.message}\n`); process.exit(1); });
