// lutra against its peers on the same GGUF files: lutra (bin/lutra.js bench),
// native llama.cpp (llama-bench), node-llama-cpp, and wllama in headless
// Chromium. Runs are interleaved (every repetition visits every model, thread
// count and peer, the peer order rotating each time) so machine drift hits all
// alike; writes bench/results/<date>-<machine>.json (every run + medians) and a
// markdown table beside it. Usage: see bench/README.md or --help.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import { join, resolve, dirname, basename, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { decodeWeightBytes } from './gguf-bytes.mjs';
import { measureBandwidth } from './bandwidth.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');
const PEERS = ['lutra', 'lutra-lut', 'lutra-dequant', 'llama-bench', 'node-llama-cpp', 'wllama'];
/** lutra run with --kernels auto (its default), lut, or dequant. */
const LUTRA_KERNELS = { lutra: 'auto', 'lutra-lut': 'lut', 'lutra-dequant': 'dequant' };
const isLutra = (p) => p in LUTRA_KERNELS;

const { values: opt, positionals: models } = parseArgs({
  allowPositionals: true,
  options: {
    threads: { type: 'string', short: 't', default: '1,2' },
    'n-prompt': { type: 'string', short: 'p', default: '128' },
    'n-gen': { type: 'string', short: 'n', default: '64' },
    repetitions: { type: 'string', short: 'r', default: '3' },
    peers: { type: 'string', default: PEERS.join(',') },
    types: { type: 'string', default: 'Q4_0,Q8_0' },
    preset: { type: 'string', default: 'qwen2.5-0.5b' },
    'wllama-p': { type: 'string', default: '32' },
    'wllama-n': { type: 'string', default: '16' },
    'wllama-r': { type: 'string', default: '1' },
    'llama-bin': { type: 'string', default: process.env.LLAMA_CPP_BIN },
    'timeout-s': { type: 'string', default: '600' },
    'out-dir': { type: 'string', default: join(repoRoot, 'bench/results') },
    tag: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opt.help) {
  console.log(`node bench/peers/run.mjs [MODEL.gguf ...] [options]
  no MODEL: synthesizes --preset (${opt.preset}) in --types (${opt.types}) into a temp dir with lutra synth
  -t, --threads LIST      thread counts (1,2)
  -p, --n-prompt N        prompt tokens, ppN (128)
  -n, --n-gen N           generated tokens, tgN (64)
  -r, --repetitions N     interleaved rounds (3)
  --peers LIST            ${PEERS.join(',')} (lutra-lut / lutra-dequant: lutra with --kernels lut / dequant)
  --wllama-p/-n/-r N      wllama's own prompt, generation and rounds (32, 16, 1): it runs ~1 token/s
  --llama-bin DIR         llama.cpp build/bin with llama-bench (or env LLAMA_CPP_BIN)
  --timeout-s S           per measurement (600)
  --out-dir DIR           results folder (bench/results)
  --tag SLUG              machine name in the file name (default: CPU model slug and core count)
  --no-write              print only`);
  process.exit(0);
}

const threads = opt.threads.split(',').map(Number);
const nPrompt = Number(opt['n-prompt']);
const nGen = Number(opt['n-gen']);
const reps = Number(opt.repetitions);
const peers = opt.peers.split(',');
for (const p of peers) if (!PEERS.includes(p)) throw new Error(`unknown peer ${p}; known: ${PEERS.join(', ')}`);
const wllamaSize = { p: Number(opt['wllama-p']), n: Number(opt['wllama-n']), r: Number(opt['wllama-r']) };
const timeoutMs = Number(opt['timeout-s']) * 1000;
const command = ['node', relative(process.cwd(), fileURLToPath(import.meta.url)) || 'run.mjs', ...process.argv.slice(2)].join(' ');

function run(cmd, args, { cwd = repoRoot, env } = {}) {
  return new Promise((res) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); res({ code: -1, stdout, stderr: String(e), wallS: 0 }); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code: signal ? `killed (${signal}, timeout ${timeoutMs / 1000}s?)` : code, stdout, stderr, wallS: (performance.now() - t0) / 1000 });
    });
  });
}

const lastLine = (s) => s.trim().split('\n').filter(Boolean).pop() ?? '';
const errorLine = (s) => s.split('\n').find((l) => /Error\b/.test(l))?.trim();
const failure = (r, what) =>
  `${what} exited ${r.code}: ${errorLine(r.stderr) || lastLine(r.stderr) || lastLine(r.stdout) || 'no output'}`.slice(0, 400);

/** Each runner: (model, threads, p, n) -> { pp_tps, tg_tps, extra? } or throws with the reason. */
const runners = {
  async lutra(model, t, p, n, kernels = 'auto') {
    const r = await run(process.execPath, ['bin/lutra.js', 'bench', model, '-p', p, '-n', n, '-r', '1', '-t', t, '--kernels', kernels, '--json', '--no-profile'].map(String));
    if (r.code !== 0) throw new Error(failure(r, 'lutra bench'));
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const pp = lines.find((l) => l.test === `pp${p}`);
    const tg = lines.find((l) => l.test === `tg${n}`);
    return { pp_tps: pp?.tps, tg_tps: tg?.tps, backend: pp?.backend ?? tg?.backend, matmul: pp?.matmul ?? tg?.matmul, wallS: r.wallS };
  },
  'lutra-lut': (model, t, p, n) => runners.lutra(model, t, p, n, 'lut'),
  'lutra-dequant': (model, t, p, n) => runners.lutra(model, t, p, n, 'dequant'),
  async 'llama-bench'(model, t, p, n) {
    if (!opt['llama-bin']) throw new Error('no llama.cpp: set LLAMA_CPP_BIN or --llama-bin (bench/peers/build-llama.sh builds it)');
    const exe = join(opt['llama-bin'], 'llama-bench');
    if (!existsSync(exe)) throw new Error(`${exe} not found`);
    const r = await run(exe, ['-m', model, '-p', p, '-n', n, '-t', t, '-r', '1', '-o', 'json'].map(String));
    if (r.code !== 0) throw new Error(failure(r, 'llama-bench'));
    const rows = JSON.parse(r.stdout);
    const pp = rows.find((x) => x.n_prompt === p && x.n_gen === 0);
    const tg = rows.find((x) => x.n_gen === n && x.n_prompt === 0);
    return { pp_tps: pp?.avg_ts, tg_tps: tg?.avg_ts, build: pp?.build_commit, wallS: r.wallS };
  },
  async 'node-llama-cpp'(model, t, p, n) {
    const r = await run(process.execPath, [join(here, 'node-llama-cpp.mjs'), model, t, p, n].map(String));
    if (r.code !== 0) throw new Error(failure(r, 'node-llama-cpp.mjs'));
    return { ...JSON.parse(lastLine(r.stdout)), wallS: r.wallS };
  },
  async wllama(model, t) {
    const r = await run(process.execPath, [join(here, 'wllama.mjs'), model, t, wllamaSize.p, wllamaSize.n].map(String));
    const out = (() => { try { return JSON.parse(lastLine(r.stdout)); } catch { return null; } })();
    if (r.code !== 0 || !out || out.error) throw new Error(out?.error ? `wllama: ${out.error}` : failure(r, 'wllama.mjs'));
    return { ...out, wallS: r.wallS };
  },
};

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    hostname: os.hostname(),
  };
}

async function synthModels(dir) {
  const out = [];
  for (const type of opt.types.split(',')) {
    const file = join(dir, `${opt.preset}-${type.toLowerCase()}.gguf`);
    console.error(`synth ${opt.preset} ${type} -> ${file}`);
    let r = await run(process.execPath, ['bin/lutra.js', 'synth', '--preset', opt.preset, '--type', type, '-o', file]);
    if (r.code !== 0) r = await run(process.execPath, ['bin/lutra.js', 'synth', '--preset', opt.preset, '--type', type, '-o', file]);
    if (r.code !== 0) throw new Error(failure(r, 'lutra synth'));
    out.push(file);
  }
  return out;
}

// ---- main ----
const startedAt = new Date();
const load = { start: os.loadavg() };
let tmp;
let files = models.map((m) => resolve(m));
if (!files.length) {
  tmp = mkdtempSync(join(os.tmpdir(), 'lutra-peers-'));
  files = await synthModels(tmp);
}
const modelInfo = Object.fromEntries(files.map((f) => [f, { file: basename(f), ...decodeWeightBytes(f) }]));

console.error('bandwidth ...');
const bandwidth = {};
for (const t of threads) bandwidth[t] = await measureBandwidth({ threads: t });
load.afterBandwidth = os.loadavg();

const runs = [];
const maxRounds = Math.max(reps, peers.includes('wllama') ? wllamaSize.r : 0);
for (let rep = 0; rep < maxRounds; rep++) {
  const order = peers.map((_, i) => peers[(i + rep) % peers.length]);
  for (const f of files) {
    for (const t of threads) {
      for (const peer of order) {
        if (peer === 'wllama' ? rep >= wllamaSize.r : rep >= reps) continue;
        const [p, n] = peer === 'wllama' ? [wllamaSize.p, wllamaSize.n] : [nPrompt, nGen];
        const row = { rep, model: modelInfo[f].file, threads: t, peer, p, n, load1: os.loadavg()[0] };
        // one retry: a failure is often a colleague rebuilding dist/ on a shared machine
        for (let attempt = 1; attempt <= 2; attempt++) {
          try {
            Object.assign(row, await runners[peer](f, t, p, n));
            delete row.error;
            break;
          } catch (e) {
            row.error = String(e.message ?? e);
            row.attempts = attempt;
            if (attempt === 1) await new Promise((res) => setTimeout(res, 5000));
          }
        }
        runs.push(row);
        console.error(`[${rep + 1}/${maxRounds}] ${row.model} t=${t} ${peer}: ` +
          (row.error ? `FAILED ${row.error}` : `pp${p} ${row.pp_tps?.toFixed(2)} tg${n} ${row.tg_tps?.toFixed(2)} tok/s`));
      }
    }
  }
}
load.end = os.loadavg();

const summary = [];
for (const f of files) {
  const info = modelInfo[f];
  for (const t of threads) {
    const row = { model: info.file, threads: t };
    for (const peer of peers) {
      const mine = runs.filter((r) => r.model === info.file && r.threads === t && r.peer === peer);
      const ok = mine.filter((r) => !r.error);
      row[peer] = {
        pp_tps: median(ok.map((r) => r.pp_tps)),
        tg_tps: median(ok.map((r) => r.tg_tps)),
        runs: ok.length,
        p: mine[0]?.p,
        n: mine[0]?.n,
        error: ok.length ? undefined : mine.find((r) => r.error)?.error,
      };
      const tg = row[peer].tg_tps;
      row[peer].roofline = tg ? (tg * info.decodeBytes) / (bandwidth[t].gbps * 1e9) : null;
    }
    const ratio = (a, b) => (a && b ? a / b : null);
    // ratios[lutra variant][peer]
    row.ratios = {};
    for (const mine of peers.filter(isLutra)) {
      row.ratios[mine] = {};
      for (const peer of peers.filter((x) => !isLutra(x))) {
        row.ratios[mine][peer] = { pp: ratio(row[mine]?.pp_tps, row[peer].pp_tps), tg: ratio(row[mine]?.tg_tps, row[peer].tg_tps) };
      }
    }
    summary.push(row);
  }
}

const shared = Math.max(load.start[0], load.end[0]) > machine().cores * 0.5;
const result = {
  command,
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  machine: { ...machine(), loadavg: load, uptime: os.uptime(), shared },
  settings: { threads, nPrompt, nGen, repetitions: reps, peers, wllama: wllamaSize, llamaBin: opt['llama-bin'] ? 'set' : 'unset' },
  models: Object.values(modelInfo),
  bandwidth,
  summary,
  runs,
};

const md = markdown(result);
console.log(md);
if (!opt['no-write']) {
  mkdirSync(opt['out-dir'], { recursive: true });
  const slug = opt.tag ?? `${result.machine.cpu.toLowerCase().replace(/\(r\)|\(tm\)|cpu|processor|@.*$/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}-${result.machine.cores}c`;
  const base = join(opt['out-dir'], `${startedAt.toISOString().slice(0, 10)}-${slug}`);
  writeFileSync(`${base}.json`, JSON.stringify(result, null, 2) + '\n');
  writeFileSync(`${base}.md`, md);
  console.error(`wrote ${relative(process.cwd(), base)}.json and .md`);
}
if (tmp) rmSync(tmp, { recursive: true, force: true });

function markdown(r) {
  const f = (x, d = 1) => (x == null ? '–' : x.toFixed(d));
  const x = (v) => (v == null ? '–' : `${v.toFixed(2)}x`);
  const pct = (v) => (v == null ? '–' : `${Math.round(v * 100)}%`);
  const m = r.machine;
  const lines = [
    `# lutra vs peers, ${r.startedAt.slice(0, 10)}`,
    '',
    `Command: \`${r.command}\``,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, ${m.platform}, Node ${m.node}. ` +
      `Load average (1 min) ${m.loadavg.start[0].toFixed(2)} at start, ${m.loadavg.end[0].toFixed(2)} at end` +
      (m.shared ? ' — **the machine was shared with other work; absolute figures are low and noisy, only the side-by-side ratios mean much**.' : '.'),
    '',
    `Read bandwidth (${(r.bandwidth[r.settings.threads[0]].totalBytes / 2 ** 20).toFixed(0)} MB, SIMD loads, best of 7): ` +
      r.settings.threads.map((t) => `${r.bandwidth[t].gbps.toFixed(1)} GB/s (${t} thread${t > 1 ? 's' : ''}, median ${r.bandwidth[t].gbpsMedian.toFixed(1)})`).join(', ') + '.',
    `Weights read per decoded token: ` + r.models.map((mm) => `${mm.file} ${(mm.decodeBytes / 1e6).toFixed(0)} MB${mm.tiedEmbedding ? ' (tied embedding counted)' : ''}`).join(', ') + '.',
    '',
    `Medians of ${r.settings.repetitions} interleaved runs, tokens/s; roofline = tg × bytes per token / bandwidth.`,
    '',
  ];
  const ps = r.settings.peers;
  const size = (p) => (p === 'wllama' ? r.settings.wllama : { p: r.settings.nPrompt, n: r.settings.nGen });
  const ppOf = (p) => `pp${size(p).p}`;
  const tgOf = (p) => `tg${size(p).n}`;
  lines.push(`| model | threads | ${ps.map((p) => `${p} ${ppOf(p)}`).join(' | ')} | ${ps.map((p) => `${p} ${tgOf(p)}`).join(' | ')} |`);
  lines.push(`|---|---|${ps.map(() => '---:').join('|')}|${ps.map(() => '---:').join('|')}|`);
  for (const s of r.summary) {
    lines.push(`| ${s.model} | ${s.threads} | ${ps.map((p) => f(s[p].pp_tps)).join(' | ')} | ${ps.map((p) => `${f(s[p].tg_tps)}${s[p].roofline != null ? ` (${pct(s[p].roofline)})` : ''}`).join(' | ')} |`);
  }
  const others = ps.filter((p) => !isLutra(p));
  const mine = ps.filter(isLutra);
  if (mine.length && others.length) {
    lines.push('', 'lutra / peer, prefill and decode (above 1 means lutra is faster):', '');
    lines.push(`| model | threads | lutra | ${others.map((p) => `pp vs ${p}`).join(' | ')} | ${others.map((p) => `tg vs ${p}`).join(' | ')} |`);
    lines.push(`|---|---|---|${others.map(() => '---:').join('|')}|${others.map(() => '---:').join('|')}|`);
    for (const s of r.summary) {
      for (const m of mine) lines.push(`| ${s.model} | ${s.threads} | ${m} | ${others.map((p) => x(s.ratios[m][p].pp)).join(' | ')} | ${others.map((p) => x(s.ratios[m][p].tg)).join(' | ')} |`);
    }
  }
  const matmuls = [...new Set(r.runs.filter((rr) => rr.matmul).map((rr) => `${rr.model}, ${rr.peer}: ${rr.matmul}`))];
  if (matmuls.length) lines.push('', 'Where lutra put each model\'s matrices:', '', ...matmuls.map((m) => `- ${m}`));
  const notes = [];
  if (ps.includes('wllama')) {
    notes.push(`wllama runs pp${r.settings.wllama.p} / tg${r.settings.wllama.n}, ${r.settings.wllama.r} round(s), in headless Chromium (it runs near 1 token/s here, so the full sizes would not fit the time budget); its columns hold those figures, and the ratios against it compare lutra's pp${r.settings.nPrompt} / tg${r.settings.nGen} with them.`);
  }
  for (const s of r.summary) for (const p of ps) if (s[p].error) notes.push(`${p} on ${s.model}, ${s.threads} thread(s): ${s[p].error}`);
  if (notes.length) lines.push('', 'Notes:', '', ...notes.map((n) => `- ${n}`));
  lines.push('', 'How each peer is timed: bench/README.md.', '');
  return lines.join('\n');
}
