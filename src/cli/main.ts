// The `lutra` command line: run, chat, tokenize, inspect, eval ppl. Errors print as one line
// (`lutra: <what is wrong>`) with exit code 1; --verbose (or LUTRA_DEBUG=1) adds the stack.

import { archSummary, archSummaryLines } from '../models/arch-summary.js';
import { createInterface } from 'node:readline';
import { Command, CommanderError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { ArgumentError, LutraError, AbortError, FileError } from '../core/errors.js';
import { loadModel, loadTokenizer, type ChatMessage } from '../runtime/model.js';
import type { GenerateOptions } from '../runtime/generate.js';
import { validateSampling } from '../runtime/sampler.js';
import { GrammarError, jsonGbnf, parseGbnf, SchemaError, schemaToGbnf } from '../grammar/index.js';
import { perplexity } from '../eval/perplexity.js';
import { plainValue } from '../formats/gguf.js';
import { ggmlTypeName } from '../quant/table.js';
import type { BackendName, LutTables, MatmulKernels } from '../kernels/index.js';
import { fallbackTemplateNote, renderChatTemplate, resolveChatTemplate } from '../tokenizer/index.js';
import { defaultChatMaxTokens, shiftConversation } from '../openai/context-shift.js';
import { addCacheFlags, cacheSpec, type CacheFlags } from './cache-flags.js';
import { addKernelFlags, chatTemplateFlag, collect, ctxOverTrainingWarning, float, int, loadProgressBar, readUtf8File, readUtf8Stdin, resolveModel, threadCount } from './common.js';
import { CHAT_HELP, loadConversation, parseChatLine, saveConversation } from './chat-commands.js';
import { ChatImages } from './chat-images.js';
import { registerServe } from './serve.js';
import { registerTools } from './tools.js';
import { registerQuantize } from './quantize.js';
import { registerTrain } from './train.js';
import { registerHub } from './hub.js';
import { addSpeculativeFlags, registerSpeculative, speculativeFromFlags, type SpeculativeFlags } from './speculative.js';
import { runWithImages, type ImageRunFlags } from './run-image.js';

interface KernelFlags extends CacheFlags { threads?: number; backend?: BackendName; kernels?: MatmulKernels; lutTables?: LutTables }

interface SamplingFlags extends KernelFlags {
  temp: number; topK?: number; topP?: number; minP?: number; repeatPenalty?: number; repeatLastN?: number;
  frequencyPenalty?: number; presencePenalty?: number; seed?: number; stop?: string[]; logitBias?: string[];
  nPredict: number; ctx?: number; verbose?: boolean;
  grammarFile?: string; grammar?: string; jsonSchema?: string; json?: boolean;
}

function addSamplingFlags(cmd: Command): Command {
  return addCacheFlags(addKernelFlags(cmd))
    .option('-n, --n-predict <n>', 'tokens to generate (-1: until the context is full)', int('--n-predict', -1), 256)
    .option('--temp <t>', 'temperature (0 = greedy)', float('--temp'), 0.8)
    .option('--top-k <k>', 'top-k (0 = off)', int('--top-k', 0))
    .option('--top-p <p>', 'top-p', float('--top-p'))
    .option('--min-p <p>', 'min-p', float('--min-p'))
    .option('--repeat-penalty <r>', 'repetition penalty (1 = off)', float('--repeat-penalty'))
    .option('--repeat-last-n <n>', 'tokens the penalties look back over', int('--repeat-last-n', -1))
    .option('--frequency-penalty <f>', 'frequency penalty', float('--frequency-penalty'))
    .option('--presence-penalty <f>', 'presence penalty', float('--presence-penalty'))
    .option('--logit-bias <id=bias>', 'add bias to a token logit (repeatable; -inf bans)', collect)
    .option('--stop <text>', 'stop before this string (repeatable)', collect)
    .option('-s, --seed <n>', 'random seed for repeatable sampling', int('--seed', 0))
    .option('-c, --ctx <n>', 'context size in tokens', int('--ctx', 1))
    .option('-t, --threads <n>', 'kernel threads (default: the number of cores)', threadCount)
    .addOption(new Option('--backend <name>', 'kernel backend (webgpu: the forward on the GPU; auto takes it where a hardware adapter exists and the model fits)').choices(['auto', 'ref', 'wasm', 'wasm-relaxed', 'wasm-simd', 'wasm-plain', 'webgpu']).default('auto'))
    .option('--grammar-file <file>', 'constrain the output to a GBNF grammar (llama.cpp\'s format)')
    .option('--grammar <gbnf>', 'constrain the output to this GBNF text')
    .option('--json-schema <file>', 'constrain the output to JSON valid under this JSON Schema')
    .option('--json', 'constrain the output to a JSON object')
    .option('-v, --verbose', 'print details and stack traces');
}

/**
 * The GBNF text of --grammar-file / --grammar / --json-schema / --json, checked before anything
 * loads (syntax, rules, schema keywords); token references are resolved later against the model.
 */
async function grammarFlag(o: SamplingFlags): Promise<string | undefined> {
  const given = ([['--grammar-file', o.grammarFile], ['--grammar', o.grammar], ['--json-schema', o.jsonSchema], ['--json', o.json || undefined]] as const).filter(([, v]) => v !== undefined);
  if (given.length > 1) throw new ArgumentError(`give one of ${given.map(([k]) => k).join(', ')}`);
  if (!given.length) return undefined;
  const [flag, value] = given[0]!;
  let text: string;
  if (flag === '--json') text = jsonGbnf('object');
  else if (flag === '--json-schema') {
    const src = await readUtf8File(value as string);
    let schema: unknown;
    try { schema = JSON.parse(src); } catch (e) { throw new ArgumentError(`--json-schema ${value}: not JSON: ${(e as Error).message}`); }
    try { text = schemaToGbnf(schema); } catch (e) { if (e instanceof SchemaError) throw new ArgumentError(`--json-schema ${value}: ${e.message}`); throw e; }
  } else text = flag === '--grammar' ? (value as string) : await readUtf8File(value as string);
  try {
    parseGbnf(text, { tokenId: () => 0 });
  } catch (e) {
    if (e instanceof GrammarError) throw new ArgumentError(`${flag}${flag === '--grammar-file' ? ` ${value}` : ''}: ${e.message}`);
    throw e;
  }
  return text;
}

function generateOptions(o: SamplingFlags): GenerateOptions {
  const logitBias: Record<number, number> = {};
  for (const b of o.logitBias ?? []) {
    const m = /^(\d+)=([-+]?(?:inf|[\d.eE+-]+))$/i.exec(b.trim());
    if (!m) throw new ArgumentError(`--logit-bias expects TOKEN_ID=BIAS, got ${JSON.stringify(b)}`);
    const v = /inf/i.test(m[2]!) ? (m[2]!.startsWith('-') ? -Infinity : Infinity) : Number(m[2]);
    if (Number.isNaN(v)) throw new ArgumentError(`--logit-bias: bad bias in ${JSON.stringify(b)}`);
    logitBias[Number(m[1])] = v;
  }
  return {
    maxTokens: o.nPredict, temperature: o.temp, topK: o.topK, topP: o.topP, minP: o.minP,
    repeatPenalty: o.repeatPenalty, repeatLastN: o.repeatLastN, frequencyPenalty: o.frequencyPenalty,
    presencePenalty: o.presencePenalty, seed: o.seed, stop: o.stop, logitBias,
  };
}

/** The sampling flags as options, refused before anything loads or prints when out of range. */
function checkedGenerateOptions(o: SamplingFlags): GenerateOptions {
  const opts = generateOptions(o);
  try {
    validateSampling(opts);
  } catch (e) {
    // Name the flag, not the option field: --top-p, not topP.
    throw new ArgumentError((e as Error).message.replace(/^([a-zA-Z]+)/, (k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace('temperature', 'temp')}`));
  }
  return opts;
}

function sigintController(): AbortController {
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort('interrupted'));
  return ac;
}

async function openModel(path: string | undefined, o: KernelFlags & { ctx?: number; verbose?: boolean }, signal?: AbortSignal) {
  const bar = loadProgressBar(false);
  try {
    const model = await loadModel(resolveModel(path), { onProgress: bar.onProgress, signal, context: { ctx: o.ctx, cacheType: cacheSpec(o) }, threads: o.threads, backend: o.backend, kernels: o.kernels, lutTables: o.lutTables });
    if (o.verbose) {
      const hp = model.hparams;
      process.stderr.write(`lutra: ${model.file}: ${model.arch}, ${hp.nLayer} layers, ${hp.nEmbd} wide, ${hp.nHead}/${hp.nHeadKv} heads, vocab ${hp.nVocab}\nlutra: ${model.kernelNote}\n`);
    }
    return model;
  } finally {
    bar.stop();
  }
}

async function cmdRun(modelPath: string | undefined, dash: string | undefined, o: SamplingFlags & SpeculativeFlags & ImageRunFlags & { prompt?: string; file?: string; displayPrompt: boolean; chatTemplate?: string }): Promise<void> {
  // `lutra run - < prompt.txt` (the bundled model) or `lutra run MODEL -`: the prompt from stdin, as `-f -` does.
  if (modelPath === '-' && dash === undefined) [modelPath, dash] = [undefined, '-'];
  if (dash !== undefined && dash !== '-') throw new ArgumentError(`run takes [MODEL] and then only '-' (the prompt from stdin), got ${JSON.stringify(dash)}; give a prompt with -p TEXT`);
  const sources = [o.prompt !== undefined, o.file !== undefined, dash !== undefined].filter(Boolean).length;
  if (sources > 1) throw new ArgumentError('run takes one prompt: -p TEXT, -f FILE or - (stdin)');
  let prompt = o.prompt;
  if (o.file !== undefined) prompt = o.file === '-' ? await readUtf8Stdin() : await readUtf8File(o.file);
  if (dash !== undefined) prompt = await readUtf8Stdin();
  if (prompt === undefined) throw new ArgumentError('run needs a prompt: -p TEXT, -f FILE, or - to read stdin');
  const opts = checkedGenerateOptions(o);
  opts.grammar = await grammarFlag(o);
  const chosen = o.chatTemplate === undefined ? undefined : await chatTemplateFlag(o.chatTemplate);
  const ac = sigintController();
  const model = await openModel(modelPath, o, ac.signal);
  if (o.mmproj !== undefined || o.image !== undefined) {
    if (o.displayPrompt) process.stdout.write(prompt);
    return runWithImages(model, prompt, o, chosen, { ...opts, signal: ac.signal }, (s) => process.stdout.write(s)).finally(() => model.dispose());
  }
  const sp = await speculativeFromFlags(o, model, { threads: o.threads, backend: o.backend, kernels: o.kernels, lutTables: o.lutTables }).catch((e) => { model.dispose(); throw e; });
  const warn = ctxOverTrainingWarning(o.ctx, model.hparams.nCtxTrain);
  if (warn) process.stderr.write(`lutra: ${warn}\n`);
  // With --chat-template the prompt is one user message in that template.
  let input: string | number[] = prompt;
  if (chosen !== undefined) {
    const tpl = resolveChatTemplate(model.tokenizer.chatTemplate, chosen);
    const bos = model.tokenizer.bosText;
    const text = renderChatTemplate(tpl.template, [{ role: 'user', content: prompt }], { addGenerationPrompt: true, bosToken: bos, eosToken: model.tokenizer.eosText, name: tpl.name });
    input = model.tokenize(text, { addSpecial: !(bos && text.startsWith(bos)), parseSpecial: true });
  }
  if (o.displayPrompt) process.stdout.write(prompt);
  try {
    for await (const chunk of model.generate(input, { ...opts, signal: ac.signal, speculative: sp.spec })) {
      if (chunk.text) process.stdout.write(chunk.text);
      if (chunk.done) {
        const t = chunk.timings;
        process.stdout.write('\n');
        process.stderr.write(
          `lutra: prompt ${t.promptTokens} tokens, ${t.promptTokensPerSecond.toFixed(1)} tokens/s | ` +
          `generated ${t.generatedTokens} tokens, ${t.tokensPerSecond.toFixed(1)} tokens/s | stop: ${chunk.stopReason}\n`,
        );
        const s = t.speculative;
        if (s) process.stderr.write(`lutra: speculative (${s.drafter}): ${s.steps} steps, drafted ${s.drafted}, accepted ${s.accepted} (${(100 * s.accepted / Math.max(1, s.drafted)).toFixed(1)}%)\n`);
      }
    }
  } catch (e) {
    if (e instanceof AbortError) { process.stdout.write('\n'); process.stderr.write('lutra: interrupted\n'); return; }
    throw e;
  } finally {
    sp.dispose();
    model.dispose();
  }
}

async function cmdChat(modelPath: string | undefined, o: SamplingFlags & SpeculativeFlags & { system?: string; chatTemplate?: string; contextShift: boolean; mmproj?: string }): Promise<void> {
  const opts = checkedGenerateOptions(o);
  opts.grammar = await grammarFlag(o);
  const chosen = o.chatTemplate === undefined ? undefined : await chatTemplateFlag(o.chatTemplate);
  const model = await openModel(modelPath, o);
  const sp = await speculativeFromFlags(o, model, { threads: o.threads, backend: o.backend, kernels: o.kernels, lutTables: o.lutTables }).catch((e) => { model.dispose(); throw e; });
  const vis = o.mmproj === undefined ? undefined : await ChatImages.load(o.mmproj, model, o.verbose).catch((e) => { sp.dispose(); model.dispose(); throw e; });
  const interactive = process.stdin.isTTY === true;
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: interactive, prompt: '> ' });
  // Ctrl-C: stops a reply; at the prompt, the first one after a line says how to quit, the next quits; two within a second always quit.
  let reply: AbortController | undefined;
  let lastInt = 0, armed = false, quitting = false;
  const onInt = () => {
    const now = Date.now(), quick = now - lastInt < 1000;
    lastInt = now;
    if (reply && !reply.signal.aborted && !quick) { reply.abort(); armed = true; return; }
    if (!reply && interactive && rl.line) { rl.write(null, { ctrl: true, name: 'u' }); lastInt = 0; return; }
    if (!reply && !armed && !quick) { armed = true; process.stderr.write('\n(Ctrl-C again or /exit to quit)\n'); prompt(); return; }
    quitting = true;
    reply?.abort();
    rl.close();
  };
  rl.on('SIGINT', onInt);
  process.on('SIGINT', onInt);
  // Piped input can end while a reply is generated; newer Node throws on a prompt after that.
  let closed = false;
  rl.on('close', () => { closed = true; });
  const prompt = () => { if (!closed) rl.prompt(); };
  try {
    const tpl = chosen === undefined ? model.chatTemplate : resolveChatTemplate(model.tokenizer.chatTemplate, chosen);
    if (tpl.source === 'fallback') process.stderr.write(`lutra: ${fallbackTemplateNote(model.file, tpl)}\n`);
    const warn = ctxOverTrainingWarning(o.ctx, model.hparams.nCtxTrain);
    if (warn) process.stderr.write(`lutra: ${warn}\n`);
    const ctx = model.createContext({ ctx: o.ctx });
    // Room a prompt must leave for the reply: -n, but at most the default a chat session uses.
    const reserve = Math.min(o.nPredict === -1 ? Infinity : o.nPredict, defaultChatMaxTokens(ctx.nCtx));
    const bos = model.tokenizer.bosText;
    const renderText = (m: ChatMessage[]) => renderChatTemplate(tpl.template, m, { addGenerationPrompt: true, bosToken: bos, eosToken: model.tokenizer.eosText, name: tpl.name });
    const render = (m: ChatMessage[]) => {
      const text = renderText(m);
      return model.tokenize(text, { addSpecial: !(bos && text.startsWith(bos)), parseSpecial: true });
    };
    const fits = (ids: number[]) => ids.length < ctx.nCtx && ids.length + reserve <= ctx.nCtx;
    let messages: ChatMessage[] = o.system ? [{ role: 'system', content: o.system }] : [];
    process.stderr.write('lutra chat: type a message, Enter to send; /help for commands, Ctrl-C stops a reply, Ctrl-D quits.\n');
    prompt();
    // The line iterator buffers piped input while a reply is being generated; rl.question would drop it.
    for await (const line of rl) {
      const cmd = parseChatLine(line);
      if (cmd.kind !== 'empty') { armed = false; lastInt = 0; }
      try {
        switch (cmd.kind) {
          case 'empty': break;
          case 'help': process.stderr.write(CHAT_HELP + '\n'); break;
          case 'unknown': process.stderr.write(`${cmd.why}\n${CHAT_HELP}\n`); break;
          case 'exit': quitting = true; rl.close(); break;
          case 'image': {
            if (!vis) { process.stderr.write('lutra: /image needs a projector: start lutra chat with --mmproj FILE\n'); break; }
            const n = await vis.attach(cmd.file);
            process.stderr.write(`(${cmd.file}: ${n} slice${n === 1 ? '' : 's'}, goes with your next message)\n`);
            break;
          }
          case 'reset':
            vis?.reset();
            messages = messages.filter((m, i) => i === 0 && m.role === 'system');
            process.stderr.write('(conversation cleared)\n');
            break;
          case 'system':
            if (!cmd.text) { process.stderr.write(messages[0]?.role === 'system' ? `system: ${messages[0].content}\n` : '(no system message)\n'); break; }
            if (messages[0]?.role === 'system') messages[0] = { role: 'system', content: cmd.text };
            else messages.unshift({ role: 'system', content: cmd.text });
            process.stderr.write('(system message set)\n');
            break;
          case 'save':
            await saveConversation(cmd.file, messages);
            process.stderr.write(`(saved ${messages.length} messages to ${cmd.file})\n`);
            break;
          case 'load':
            messages = await loadConversation(cmd.file);
            vis?.reset();
            process.stderr.write(`(loaded ${messages.length} messages from ${cmd.file})\n`);
            break;
          case 'message': {
            const turn = [...messages, { role: 'user', content: vis ? vis.message(cmd.text) : cmd.text }];
            // Dropping turns would drop pictures: no context shift once the chat has one.
            const shifted = o.contextShift && (vis?.empty ?? true) ? shiftConversation(turn, render, fits) : { messages: turn, tokens: render(turn), dropped: 0 };
            const ids = shifted.tokens ?? render(shifted.messages);
            if (!fits(ids)) {
              process.stderr.write(`lutra: the conversation is ${ids.length} tokens; with ${reserve} for the reply it does not fit the context of ${ctx.nCtx}${o.contextShift ? '' : ' (/reset, or leave out --no-context-shift)'}\n`);
              break;
            }
            if (shifted.dropped) {
              const kept = shifted.messages[0]?.role === 'system' ? ' (the system message stays)' : '';
              process.stderr.write(`lutra: context full: dropped the oldest ${shifted.dropped} message${shifted.dropped > 1 ? 's' : ''}${kept}\n`);
            }
            messages = shifted.messages;
            reply = new AbortController();
            let text = '';
            try {
              const gen = vis && !vis.empty
                ? vis.generate(model, ctx, renderText(shifted.messages), { ...opts, signal: reply.signal })
                : model.generate(ids, { ...opts, context: ctx, signal: reply.signal, speculative: sp.spec });
              for await (const c of gen) {
                text += c.text;
                process.stdout.write(c.text);
                if (c.done && o.verbose) process.stderr.write(`\n[${c.timings.cachedTokens} cached, ${c.timings.promptTokens - c.timings.cachedTokens} new prompt tokens, ${c.timings.tokensPerSecond.toFixed(1)} tokens/s, stop: ${c.stopReason}]`);
              }
            } catch (e) {
              if (!(e instanceof AbortError)) throw e;
              if (!quitting) process.stderr.write(' [stopped]');
            } finally {
              reply = undefined;
            }
            process.stdout.write('\n');
            messages.push({ role: 'assistant', content: text });
            break;
          }
        }
      } catch (e) {
        // A file that /load cannot read, a template that refuses the messages: say so and keep the chat.
        if (!(e instanceof ArgumentError || e instanceof FileError)) throw e;
        process.stderr.write(`lutra: ${e.message}\n`);
      }
      if (quitting) break;
      prompt();
    }
  } finally {
    process.off('SIGINT', onInt);
    rl.close();
    sp.dispose();
    vis?.dispose();
    model.dispose();
  }
}

async function cmdTokenize(modelPath: string, o: { text?: string; file?: string; jsonl?: string; bos: boolean; parseSpecial?: boolean }): Promise<void> {
  const given = [o.text !== undefined, o.file !== undefined, o.jsonl !== undefined].filter(Boolean).length;
  if (given !== 1) throw new ArgumentError('tokenize needs exactly one of --text, --file, --jsonl');
  const tok = await loadTokenizer(modelPath);
  const enc = { addSpecial: o.bos, parseSpecial: o.parseSpecial ?? false };
  if (o.jsonl !== undefined) {
    const lines = (await readUtf8File(o.jsonl)).split('\n');
    const out: string[] = [];
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      let s: unknown;
      try {
        s = JSON.parse(line);
      } catch {
        throw new ArgumentError(`${o.jsonl}: line ${i + 1} is not valid JSON`);
      }
      if (typeof s !== 'string') throw new ArgumentError(`${o.jsonl}: line ${i + 1} is not a JSON string`);
      out.push(JSON.stringify(tok.encode(s, enc)));
    });
    process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
    return;
  }
  const text = o.text ?? (await readUtf8File(o.file!));
  process.stdout.write(JSON.stringify(tok.encode(text, enc)) + '\n');
}

async function cmdInspect(modelPath: string, o: { json?: boolean; all?: boolean }): Promise<void> {
  const model = await loadModel(resolveModel(modelPath)).catch(async (e) => {
    // A file lutra cannot run (vocab-only, unknown architecture) can still be inspected.
    if (!(e instanceof LutraError) || e.code === 'E_FORMAT') throw e;
    return undefined;
  });
  // A split file's shards are read whole here too.
  const src = model ? model.source : await (await import('../runtime/node-io.js')).readGGUFModel(modelPath);
  const metadata: [string, unknown][] = [...src.metadata].map(([k, v]) => [k, plainValue(v)]);
  const tensors = src.tensors.map((t) => ({ name: t.name, type: ggmlTypeName(t.type), shape: t.shape }));
  const summary = archSummary(src.metadata, modelPath);
  const ownTemplate = src.metadata.get('tokenizer.chat_template')?.value;
  const fallback = model?.chatTemplate.source === 'fallback' ? `${model.chatTemplate.name}${model.chatTemplate.family ? `, the ${model.chatTemplate.family} family's built-in` : ''}` : 'chatml';
  const chatTemplate = typeof ownTemplate === 'string' ? `the file's own (tokenizer.chat_template, ${ownTemplate.length} characters)` : `none in the file (chat uses ${fallback}, unless --chat-template names one)`;
  if (o.json) {
    const m: Record<string, unknown> = {};
    for (const [k, v] of metadata) m[k] = jsonable(v, o.all ? Infinity : 16);
    process.stdout.write(JSON.stringify({ metadata: m, tensors, architecture: summary }, null, 1) + '\n');
    return;
  }
  const lines: string[] = [`${modelPath}: ${metadata.length} metadata entries, ${tensors.length} tensors`];
  for (const [k, v] of metadata) lines.push(`  ${k} = ${show(v, o.all ? Infinity : 8)}`);
  let params = 0;
  for (const t of tensors) {
    params += t.shape.reduce((a, b) => a * b, 1);
    lines.push(`  tensor ${t.name.padEnd(32)} ${t.type.padEnd(7)} ${t.shape.join('x')}`);
  }
  lines.push(`  total parameters: ${params}`);
  if (model) lines.push(`  architecture ${model.arch}: ${model.hparams.nLayer} layers, embedding ${model.hparams.nEmbd}, heads ${model.hparams.nHead}/${model.hparams.nHeadKv}, head size ${model.hparams.headDim}, ffn ${model.hparams.nFF}, vocab ${model.hparams.nVocab}`);
  if (summary) for (const l of archSummaryLines(summary)) lines.push(`  ${l}`);
  lines.push(`  chat template: ${chatTemplate}`);
  process.stdout.write(lines.join('\n') + '\n');
}

function jsonable(v: unknown, max: number): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (ArrayBuffer.isView(v) || Array.isArray(v)) {
    const arr = Array.from(v as ArrayLike<unknown>).slice(0, max).map((x) => jsonable(x, max));
    return arr;
  }
  return v;
}

function show(v: unknown, max: number): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 200 && max !== Infinity ? v.slice(0, 200) + '…' : v);
  if (ArrayBuffer.isView(v) || Array.isArray(v)) {
    const a = v as ArrayLike<unknown>;
    const items = Array.from({ length: Math.min(a.length, max) }, (_, i) => show(a[i], max));
    return `[${items.join(', ')}${a.length > max ? `, … (${a.length} items)` : ''}]`;
  }
  return String(v);
}

async function cmdPpl(modelPath: string, o: KernelFlags & { file: string; ctx: number; chunks?: number; batch?: number; json?: boolean; verbose?: boolean }): Promise<void> {
  const text = await readUtf8File(o.file);
  const ac = sigintController();
  const model = await openModel(modelPath, o, ac.signal);
  const bar = process.stderr.isTTY && !o.json
    ? new cliProgress.SingleBar({ stream: process.stderr, format: 'perplexity [{bar}] {value}/{total} chunks | ppl {ppl} | eta {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic)
    : undefined;
  let started = false;
  const r = await perplexity(model, text, {
    ctx: o.ctx, chunks: o.chunks, batch: o.batch, signal: ac.signal,
    onChunk: ({ chunk, chunks, ppl }) => {
      if (bar) {
        if (!started) { bar.start(chunks, 0, { ppl: '-' }); started = true; }
        bar.update(chunk + 1, { ppl: ppl.toFixed(4) });
      } else if (!o.json && (chunk % 100 === 99 || chunk + 1 === chunks)) {
        process.stderr.write(`[${chunk + 1}/${chunks}] ppl ${ppl.toFixed(4)}\n`);
      }
    },
  }).finally(() => { if (started) bar?.stop(); model.dispose(); });
  process.stdout.write(`Final estimate: PPL = ${r.ppl.toFixed(4)} +/- ${r.pplError.toFixed(5)} (${r.chunks} chunks of ${o.ctx}, ${r.tokens} tokens scored, ${r.seconds.toFixed(1)} s)\n`);
  if (o.json) process.stdout.write(JSON.stringify({ ppl: r.ppl, tokens: r.tokens, seconds: r.seconds, chunks: r.chunks, ppl_error: r.pplError }) + '\n');
}

export function buildProgram(): Command {
  const program = new Command('lutra')
    .description('Small language models on the devices people already own: load GGUF / Hugging Face models and run them.')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();

  addSpeculativeFlags(addSamplingFlags(
    program.command('run')
      .description('generate text from a prompt and stream it to stdout (tokens/s to stderr)')
      .argument('[model]', 'GGUF file or Hugging Face folder (default: the bundled model); - alone reads the prompt from stdin')
      .argument('[-]', 'read the prompt from stdin')
      .option('-p, --prompt <text>', 'prompt text')
      .option('-f, --file <path>', 'read the prompt from a file (- for stdin)')
      .option('--chat-template <name|file>', 'send the prompt as one user message in this chat template (a built-in name or a Jinja file)')
      .option('--no-display-prompt', 'do not echo the prompt before the generated text')
      .option('--mmproj <file>', 'the projector (mmproj) GGUF for --image')
      .option('--image <file>', 'a PNG or JPEG in front of the prompt (repeatable; place them with <__media__> in the text)', collect),
  )).action((model, dash, o) => cmdRun(model, dash, o));

  addSpeculativeFlags(addSamplingFlags(
    program.command('chat')
      .description('interactive chat using the model\'s chat template (the conversation\'s KV cache is reused between turns); /help lists the commands')
      .argument('[model]', 'GGUF file or Hugging Face folder')
      .option('--system <text>', 'system message')
      .option('--chat-template <name|file>', 'chat template: a built-in (chatml, llama-3, llama-2, qwen2, qwen3, minicpm, phi-3, gemma, mistral, ...) or a Jinja file; default: the model\'s own, else chatml')
      .option('--no-context-shift', 'when the conversation outgrows the context, refuse the message instead of dropping the oldest turns')
      .option('--mmproj <file>', 'a projector (mmproj) GGUF for the model: /image FILE then attaches a picture to the next message'),
  )).action((model, o) => cmdChat(model, o));

  program.command('tokenize')
    .description('print token ids as a JSON array (one array per line with --jsonl)')
    .argument('<model>', 'GGUF file, Hugging Face folder, or tokenizer.json')
    .option('--text <text>', 'text to tokenize')
    .option('--file <path>', 'tokenize the whole file')
    .option('--jsonl <path>', 'each line a JSON string; prints one JSON array of ids per line')
    .option('--no-bos', 'do not add BOS/EOS special tokens')
    .option('--parse-special', 'match special-token texts in the input')
    .action((model, o) => cmdTokenize(model, o));

  program.command('inspect')
    .description('print metadata and the tensor table')
    .argument('<model>', 'GGUF file or Hugging Face folder')
    .option('--json', 'machine-readable output')
    .option('--all', 'do not abbreviate long arrays')
    .action((model, o) => cmdInspect(model, o));

  registerTools(program);

  const evalCmd = program.command('eval').description('evaluate a model');
  addCacheFlags(addKernelFlags(evalCmd.command('ppl')))
    .description('perplexity as llama-perplexity computes it (second half of each non-overlapping window)')
    .argument('<model>', 'GGUF file or Hugging Face folder')
    .requiredOption('--file <path>', 'text file to evaluate on')
    .addOption(new Option('-c, --ctx <n>', 'window size in tokens').argParser(int('--ctx', 4)).default(512))
    .option('--chunks <n>', 'evaluate only the first N windows', int('--chunks', 1))
    .option('-b, --batch <n>', 'tokens per decode step (default: min(ctx, 128)); 1 decodes every token alone, as generation does, so a merged cache (--minicache) is read by every scored token', int('--batch', 1))
    .option('--json', 'print a last line {"ppl":…,"tokens":…,"seconds":…}')
    .option('-t, --threads <n>', 'kernel threads (default: the number of cores)', threadCount)
    .addOption(new Option('--backend <name>', 'kernel backend (webgpu: the forward on the GPU; auto takes it where a hardware adapter exists and the model fits)').choices(['auto', 'ref', 'wasm', 'wasm-relaxed', 'wasm-simd', 'wasm-plain', 'webgpu']).default('auto'))
    .option('-v, --verbose', 'print details and stack traces')
    .action((model, o) => cmdPpl(model, o));

  registerQuantize(program);
  registerTrain(program);
  registerServe(program);
  registerHub(program);
  registerSpeculative(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const verbose = argv.includes('-v') || argv.includes('--verbose') || process.env.LUTRA_DEBUG === '1';
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`lutra: ${msg}\n`);
    if (verbose && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    return 1;
  }
}
