// `lutra quantize IN OUT --type T`: llama-quantize's file types and mixtures, lutra's own integer and
// minifloat types, --pure, per-tensor overrides, with a progress bar on stderr and a summary of what
// every tensor became.

import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { ArgumentError } from '../core/errors.js';
import { readFile } from 'node:fs/promises';
import { type QuantizeSummary } from '../quant/quantize-model.js';
import { fileTypeNames, parseOverride } from '../quant/mixtures.js';
import { quantizeWithMethods, parseMethods, METHODS } from '../quant/methods/pipeline.js';
import { kldEval } from '../eval/kld.js';
import { loadModel } from '../runtime/model.js';
import { collect, float, int } from './common.js';

interface QuantizeFlags {
  type: string;
  pure?: boolean;
  keep?: string[];
  leaveOutputTensor?: boolean;
  allowRequantize?: boolean;
  json?: boolean;
  quiet?: boolean;
  method?: string;
  calib?: string;
  calibTokens?: number;
  group?: number;
  actOrder?: boolean;
  damp?: number;
  alpha?: number;
}

function mb(n: number): string {
  return (n / 1024 / 1024).toFixed(2);
}

export function formatSummary(s: QuantizeSummary): string {
  const lines: string[] = [];
  const w = Math.max(...s.tensors.map((t) => t.name.length), 6);
  lines.push(`${'tensor'.padEnd(w)}  ${'shape'.padEnd(14)} ${'type'.padEnd(16)} ${'rel.err'.padStart(9)} ${'max.err'.padStart(9)} ${'ms'.padStart(7)}  why`);
  for (const t of s.tensors) {
    const type = t.from === t.to ? t.to : `${t.from}->${t.to}`;
    const err = t.reason === 'copy' || t.from === t.to ? '-' : t.relRmse.toExponential(2);
    const maxErr = t.reason === 'copy' || t.from === t.to ? '-' : t.maxAbsErr.toExponential(2);
    lines.push(`${t.name.padEnd(w)}  ${t.shape.join('x').padEnd(14)} ${type.padEnd(16)} ${err.padStart(9)} ${maxErr.padStart(9)} ${(t.seconds * 1000).toFixed(0).padStart(7)}  ${t.reason}`);
  }
  const counts = new Map<string, number>();
  for (const t of s.tensors) counts.set(t.to, (counts.get(t.to) ?? 0) + 1);
  lines.push(`types: ${[...counts].map(([k, v]) => `${k} x${v}`).join(', ')}`);
  lines.push(`${s.fileType}: ${mb(s.inBytes)} MiB -> ${mb(s.outBytes)} MiB, ${s.bitsPerWeight.toFixed(3)} bits per weight over ${s.nElements} weights, ${s.seconds.toFixed(2)} s`);
  return lines.join('\n');
}

async function cmdQuantize(input: string, output: string, o: QuantizeFlags): Promise<void> {
  if (input === output) throw new ArgumentError('quantize: OUT must differ from IN');
  const overrides = (o.keep ?? []).map(parseOverride);
  const methods = parseMethods(o.method ?? 'rtn');
  const calibText = o.calib ? await readFile(o.calib, 'utf8').catch(() => { throw new ArgumentError(`${o.calib}: cannot read the calibration file`); }) : undefined;
  let type = o.type;
  if (o.group !== undefined) {
    if (!/^(int|e\d|fp|mx)/i.test(type)) throw new ArgumentError('--group applies to lutra\'s integer and minifloat types (int4, e4m3, ...)');
    type = `${type.replace(/-(g\d+|ch|channel|tensor)(?=-|$)/i, '')}-g${o.group}`;
  }
  const bar = process.stderr.isTTY && !o.quiet && !o.json
    ? new cliProgress.SingleBar({ stream: process.stderr, format: 'quantize [{bar}] {percentage}% | {value}/{total} tensors | {name}', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
    : undefined;
  const ac = new AbortController();
  const onInt = () => ac.abort('interrupted');
  process.once('SIGINT', onInt);
  let started = false;
  try {
    const r = await quantizeWithMethods(input, output, {
      type, pure: o.pure, overrides, leaveOutput: o.leaveOutputTensor, allowRequantize: o.allowRequantize, signal: ac.signal,
      methods, calibText, calibTokens: o.calibTokens, smoothAlpha: o.alpha, gptq: { actOrder: o.actOrder, percDamp: o.damp },
      onNote: (n) => { if (!o.quiet && !o.json) process.stderr.write(`lutra: ${n}\n`); },
      onProgress: (p) => {
        if (!bar) return;
        if (!started) { bar.start(p.tensors, 0, { name: '' }); started = true; }
        bar.update(p.tensor + 1, { name: p.name });
      },
    });
    if (started) bar?.stop();
    const s = r.summary;
    if (o.json) process.stdout.write(JSON.stringify({ ...s, methods: r.methods, notes: r.notes }) + '\n');
    else if (!o.quiet) process.stdout.write(formatSummary(s) + (r.methods.length ? `\nmethods: ${r.methods.join(' + ')}` : '') + '\n');
  } finally {
    if (started) bar?.stop();
    process.off('SIGINT', onInt);
  }
}

export function registerQuantize(program: Command): void {
  program.command('quantize')
    .description('quantize a GGUF model as llama-quantize does (same mixtures, fallbacks and bytes)')
    .argument('<in>', 'input GGUF (F32/F16/BF16 weights)')
    .argument('<out>', 'output GGUF')
    .requiredOption('-t, --type <type>', `llama.cpp file type (${fileTypeNames().join(', ')}) or a lutra type: int2..int8[-asym][-g32|-g64|-g128|-ch|-tensor][-f16|-bf16|-e8m0|-f32], e4m3 / fp8-e5m2 / fp6-e3m2 / fp4 / fp3 (any ExMy of 3..8 bits, same suffixes), mxfp8, mxfp6, mxint8`)
    .option('--pure', 'every quantizable tensor gets the type itself, no mixture (llama-quantize --pure)')
    .option('--keep <regex=type>', 'tensors whose name matches REGEX get TYPE (repeatable; first match wins), e.g. --keep \'output|token_embd\'=q8_0', collect)
    .option('--leave-output-tensor', 'leave output.weight unquantized')
    .option('--allow-requantize', 'allow requantizing tensors that are already quantized')
    .option('--method <list>', `comma-separated: ${METHODS.join(', ')} (applied in that order; gptq writes lutra types only)`, 'rtn')
    .option('--calib <file>', 'calibration text for gptq / awq / smoothquant / biascorr')
    .option('--calib-tokens <n>', 'calibration tokens to use (default 4096)', int('--calib-tokens', 16))
    .option('--group <g>', 'group size for lutra types (replaces the spec\'s -gN/-ch)', int('--group', 1))
    .option('--act-order', 'gptq: quantize columns by decreasing Hessian diagonal')
    .option('--damp <f>', 'gptq: dampening as a fraction of the mean Hessian diagonal (default 0.01)', float('--damp'))
    .option('--alpha <f>', 'smoothquant migration strength (default 0.5)', float('--alpha'))
    .option('--json', 'print the summary as JSON')
    .option('-q, --quiet', 'no progress bar and no summary')
    .action((input, output, o) => cmdQuantize(input, output, o));

  // `lutra eval kld BASE QUANT --file F`, beside `eval ppl`.
  const evalCmd = program.commands.find((c) => c.name() === 'eval') ?? program.command('eval').description('evaluate a model');
  evalCmd.command('kld')
    .description('KL divergence and top-1 agreement of QUANT\'s next-token distributions against BASE\'s (as llama-perplexity --kl-divergence)')
    .argument('<base>', 'reference model (GGUF)')
    .argument('<quant>', 'quantized model (GGUF)')
    .requiredOption('--file <path>', 'text to evaluate on')
    .option('-c, --ctx <n>', 'window size in tokens', int('--ctx', 4), 512)
    .option('--chunks <n>', 'evaluate only the first N windows', int('--chunks', 1))
    .option('--json', 'print the result as JSON')
    .action(async (base: string, quant: string, o: { file: string; ctx: number; chunks?: number; json?: boolean }) => {
      const text = await readFile(o.file, 'utf8').catch(() => { throw new ArgumentError(`${o.file}: cannot read file`); });
      const [mb, mq] = [await loadModel(base), await loadModel(quant)];
      try {
        const r = await kldEval(mb, mq, text, { ctx: o.ctx, chunks: o.chunks });
        if (o.json) { process.stdout.write(JSON.stringify(r) + '\n'); return; }
        process.stdout.write([
          `Mean KLD: ${r.kld.toFixed(6)} +/- ${r.kldError.toFixed(6)}  (median ${r.kldMedian.toFixed(6)}, 99% ${r.kld99.toFixed(6)}, max ${r.kldMax.toFixed(6)})`,
          `Same top p: ${(100 * r.top1).toFixed(3)} %`,
          `PPL base ${r.pplBase.toFixed(4)}, quant ${r.pplQuant.toFixed(4)} (${r.tokens} tokens, ${r.seconds.toFixed(1)} s)`,
        ].join('\n') + '\n');
      } finally {
        mb.dispose();
        mq.dispose();
      }
    });
}
