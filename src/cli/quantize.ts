// `lutra quantize IN OUT --type T`: llama-quantize's file types and mixtures, lutra's own integer and
// minifloat types, --pure, per-tensor overrides, with a progress bar on stderr and a summary of what
// every tensor became.

import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { ArgumentError } from '../core/errors.js';
import { quantizeFile, type QuantizeSummary } from '../quant/quantize-model.js';
import { fileTypeNames, parseOverride } from '../quant/mixtures.js';
import { collect } from './common.js';

interface QuantizeFlags {
  type: string;
  pure?: boolean;
  keep?: string[];
  leaveOutputTensor?: boolean;
  allowRequantize?: boolean;
  json?: boolean;
  quiet?: boolean;
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
  const bar = process.stderr.isTTY && !o.quiet && !o.json
    ? new cliProgress.SingleBar({ stream: process.stderr, format: 'quantize [{bar}] {percentage}% | {value}/{total} tensors | {name}', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
    : undefined;
  const ac = new AbortController();
  const onInt = () => ac.abort('interrupted');
  process.once('SIGINT', onInt);
  let started = false;
  try {
    const s = await quantizeFile(input, output, {
      type: o.type, pure: o.pure, overrides, leaveOutput: o.leaveOutputTensor, allowRequantize: o.allowRequantize, signal: ac.signal,
      onProgress: (p) => {
        if (!bar) return;
        if (!started) { bar.start(p.tensors, 0, { name: '' }); started = true; }
        bar.update(p.tensor + 1, { name: p.name });
      },
    });
    if (started) bar?.stop();
    if (o.json) process.stdout.write(JSON.stringify(s) + '\n');
    else if (!o.quiet) process.stdout.write(formatSummary(s) + '\n');
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
    .option('--json', 'print the summary as JSON')
    .option('-q, --quiet', 'no progress bar and no summary')
    .action((input, output, o) => cmdQuantize(input, output, o));
}
