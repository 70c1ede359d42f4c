// `lutra train-tokenizer` and `lutra train`: learn a vocabulary from text, train a llama / minicpm
// decoder from a JSON config (progress bar with loss, tokens/s and ETA on a terminal; one log line
// per --log-every steps otherwise).

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { GGUFType, concatChunks, writeGGUF, type GGUFValue } from '../formats/gguf.js';
import { GENERAL } from '../formats/gguf-names.js';
import { trainBpeVocab, vocabMetadata } from '../train/bpe-trainer.js';
import { parseTrainConfig } from '../train/config.js';
import { splitText } from '../train/data.js';
import { train, type TrainProgress } from '../train/trainer.js';
import { tunnel } from '../train/tunnel.js';
import { int } from './common.js';

export function registerTrain(program: Command): void {
  program.command('train-tokenizer')
    .description('learn a BPE vocabulary (SentencePiece-style, GGUF tokenizer model "llama") from text; writes a vocabulary-only GGUF')
    .argument('<text...>', 'UTF-8 text files')
    .option('--vocab-size <n>', 'tokens in all, including 3 special and 256 byte tokens', int('--vocab-size', 300), 1024)
    .option('--held-out <fraction>', 'leave this trailing fraction of each file out (match the train config)', Number, 0)
    .requiredOption('-o, --output <file>', 'output GGUF')
    .action((files: string[], o: { vocabSize: number; heldOut: number; output: string }) => {
      const t0 = performance.now();
      let text = '';
      for (const f of files) {
        const s = readFileSync(f, 'utf8');
        text += splitText(s, o.heldOut).train;
      }
      const v = trainBpeVocab(text, { vocabSize: o.vocabSize });
      const md = new Map<string, GGUFValue>([[GENERAL.architecture, { type: GGUFType.STRING, value: 'llama' }], [GENERAL.name, { type: GGUFType.STRING, value: 'lutra-vocab' }], ...vocabMetadata(v)]);
      writeFileSync(o.output, concatChunks(writeGGUF(md, [])));
      process.stdout.write(`${o.output}: ${v.tokens.length} tokens (${v.merges} merges) from ${text.length} chars in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    });

  program.command('train')
    .description('train a llama / minicpm decoder from a JSON config; writes GGUF, checkpoints, log and loss curve')
    .argument('<config>', 'JSON config (see models/lutra-default.json)')
    .option('--resume <checkpoint>', 'continue from a checkpoint GGUF')
    .option('--decay-steps <n>', 'with --resume: branch a WSD decay of N steps from the checkpoint', int('--decay-steps', 1))
    .option('--out <dir>', 'override the output folder')
    .option('--steps <n>', 'override train.steps', int('--steps', 1))
    .option('--kernels <k>', 'wasm (the WebAssembly kernels) or ref (the TypeScript reference)', 'wasm')
    .option('--threads <n>', 'threads for the wasm kernels', int('--threads', 1), 1)
    .option('--bf16', 'bf16 weights and matmul inputs, f32 master weights (train.bf16)')
    .option('--checkpointing', 'gradient checkpointing: recompute layer activations in the backward (train.checkpointing)')
    .option('--act8', 'with ternary QAT: int8 per-token absmax inputs to the ternary matrices, as BitNet b1.58 (ternary.activations: "int8")')
    .action(async (configPath: string, o: { resume?: string; decaySteps?: number; out?: string; steps?: number; kernels: string; threads: number; bf16?: boolean; checkpointing?: boolean; act8?: boolean }) => {
      if (o.kernels !== 'wasm' && o.kernels !== 'ref') throw new Error(`--kernels: expected wasm or ref, got ${o.kernels}`);
      const cfg = parseTrainConfig(JSON.parse(readFileSync(configPath, 'utf8')), configPath);
      if (o.steps) cfg.train.steps = o.steps;
      if (o.bf16) cfg.train.bf16 = true;
      if (o.checkpointing) cfg.train.checkpointing = true;
      if (o.act8) {
        if (!cfg.ternary) throw new Error(`--act8: ${configPath} has no ternary section (int8 activations are part of ternary QAT)`);
        cfg.ternary.activations = 'int8';
      }
      const tty = process.stderr.isTTY;
      const bar = tty ? new cliProgress.SingleBar({ stream: process.stderr, format: 'train [{bar}] {value}/{total} | loss {loss} | val {val} | lr {lr} | {tps} tok/s | eta {eta_formatted}', hideCursor: true, etaBuffer: 50 }, cliProgress.Presets.shades_classic) : null;
      let started = false, val = '-';
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      const onProgress = (p: TrainProgress) => {
        if (p.val !== undefined) val = p.val.toFixed(4);
        const payload = { loss: p.loss.toFixed(4), val, lr: p.lr.toExponential(2), tps: Math.round(p.tokensPerSec) };
        if (bar) {
          if (!started) { bar.start(p.steps, p.step, payload); started = true; } else bar.update(p.step, payload);
        } else if (p.step % cfg.train.logEvery === 0 || p.val !== undefined || p.step === p.steps) {
          process.stderr.write(`step ${p.step}/${p.steps} loss ${payload.loss} val ${val} lr ${payload.lr} ${payload.tps} tok/s eta ${Math.round(p.eta)} s\n`);
        }
      };
      const r = await train(cfg, { baseDir: dirname(resolve(configPath)), resume: o.resume, decaySteps: o.decaySteps, out: o.out, kernels: o.kernels, threads: o.threads, onProgress, onLog: (l) => process.stderr.write(`lutra: ${l}\n`), signal: ac.signal });
      bar?.stop();
      process.stdout.write(`${r.model}: ${r.nParams} params, ${r.steps} steps in ${r.seconds.toFixed(0)} s, train loss ${r.trainLoss.toFixed(4)}, held-out loss ${r.valLoss?.toFixed(4) ?? '-'}\n`);
    });

  program.command('tunnel')
    .description('muP wind tunnel: train tiny models over learning rate x width, standard vs muP, and plot held-out loss (SVG)')
    .argument('<config>', 'base JSON config (model depth, ctx, data, tokenizer, schedule)')
    .option('--widths <list>', 'model widths (multiples of 16)', (v) => v.split(',').map(Number), [32, 64, 128])
    .option('--lrs <list>', 'peak learning rates', (v) => v.split(',').map(Number), [0.001, 0.003, 0.01, 0.03, 0.1])
    .option('--steps <n>', 'steps per run', int('--steps', 1), 60)
    .option('--mup-init-std <s>', 'MiniCPM init_std for the muP runs', Number, 0.1)
    .requiredOption('-o, --output <dir>', 'folder for tunnel.svg, tunnel.json and the runs')
    .action(async (configPath: string, o: { widths: number[]; lrs: number[]; steps: number; mupInitStd: number; output: string }) => {
      const cfg = parseTrainConfig(JSON.parse(readFileSync(configPath, 'utf8')), configPath);
      const out = resolve(o.output);
      const r = await tunnel(cfg, {
        widths: o.widths, lrs: o.lrs, steps: o.steps, baseDir: dirname(resolve(configPath)), out, mupInitStd: o.mupInitStd,
        onResult: (x) => process.stdout.write(`${x.param.padEnd(8)} width ${String(x.width).padStart(4)} lr ${x.lr.toExponential(1)} held-out loss ${x.loss.toFixed(4)}\n`),
      });
      writeFileSync(resolve(out, 'tunnel.json'), JSON.stringify(r.results, null, 1) + '\n');
      writeFileSync(resolve(out, 'tunnel.svg'), r.svg);
      for (const param of ['standard', 'muP'] as const) {
        const best = o.widths.map((w) => {
          const rs = r.results.filter((x) => x.param === param && x.width === w && Number.isFinite(x.loss));
          return rs.length ? `${w}: ${rs.reduce((a, b) => (b.loss < a.loss ? b : a)).lr}` : `${w}: -`;
        });
        process.stdout.write(`best lr, ${param}: ${best.join(', ')}\n`);
      }
    });
}
