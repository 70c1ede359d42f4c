// oneOf exactly: a oneOf whose branches lutra proves disjoint converts (its union grammar is
// exact), and random texts walked through the grammar all validate with ajv (exactly one branch);
// a oneOf whose branches overlap is refused naming 'oneOf' and the two branch indices, and for
// each refused case ajv confirms a witness value that matches both branches (the refusal is real).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 as Ajv } from 'ajv/dist/2020.js';
import { matchesGrammar, parseGbnf, SchemaError, schemaToGbnf, StackSpace } from '../src/grammar/index.js';
import { Rng } from '../src/runtime/sampler.js';

const ajv = new Ajv({ strict: false, validateFormats: false });

const obj = (props: Record<string, object>, required: string[], extra: { additionalProperties?: boolean | object } = { additionalProperties: false }) =>
  ({ type: 'object', properties: props, required, ...extra });

/** oneOf schemas whose branches are disjoint, each with a reason the prover must find. */
export const DISJOINT: Record<string, object> = {
  'types': { oneOf: [{ type: 'string', maxLength: 4 }, { type: 'integer', minimum: 0, maximum: 99 }, { type: 'null' }, { type: 'boolean' }] },
  'integer vs fraction-free ranges': { oneOf: [{ type: 'number', minimum: 0, maximum: 1 }, { type: 'integer', minimum: 2, maximum: 9 }] },
  'exclusive bound touching': { oneOf: [{ type: 'number', minimum: -1, exclusiveMaximum: 0 }, { type: 'number', minimum: 0, maximum: 1 }] },
  'discriminator const': { oneOf: [obj({ t: { const: 'a' }, v: { type: 'integer' } }, ['t', 'v']), obj({ t: { const: 'b' }, v: { type: 'string', maxLength: 3 } }, ['t', 'v'])] },
  'discriminator enum, open objects': { oneOf: [obj({ kind: { enum: ['x', 'y'] }, n: { type: 'integer', minimum: 0, maximum: 9 } }, ['kind'], {}), obj({ kind: { enum: ['z'] } }, ['kind'], {})] },
  'required property the other forbids': { oneOf: [obj({ a: { type: 'integer', minimum: 0, maximum: 9 } }, ['a']), obj({ b: { type: 'boolean' } }, ['b'])] },
  'string lengths': { oneOf: [{ type: 'string', maxLength: 2 }, { type: 'string', minLength: 3, maxLength: 5 }] },
  'array lengths': { oneOf: [{ type: 'array', items: { type: 'integer', minimum: 0, maximum: 9 }, maxItems: 1 }, { type: 'array', items: { type: 'boolean' }, minItems: 2, maxItems: 3 }] },
  'enums': { oneOf: [{ enum: ['a', 'b', 1] }, { enum: ['c', 2, null] }, { const: { k: 1 } }] },
  'enum vs type': { oneOf: [{ enum: ['red', 'green'] }, { type: 'string', minLength: 6, maxLength: 8 }] },
  '$ref branches': { $defs: { cat: obj({ pet: { const: 'cat' }, lives: { type: 'integer', minimum: 1, maximum: 9 } }, ['pet', 'lives']), dog: obj({ pet: { const: 'dog' } }, ['pet']) }, oneOf: [{ $ref: '#/$defs/cat' }, { $ref: '#/$defs/dog' }] },
  'nested discriminator': { oneOf: [obj({ meta: obj({ v: { const: 1 } }, ['v']) }, ['meta']), obj({ meta: obj({ v: { const: 2 } }, ['v']), x: { type: 'null' } }, ['meta'])] },
  'allOf branch': { oneOf: [{ allOf: [obj({ t: { const: 'a' } }, ['t'], {}), { properties: { n: { type: 'integer', minimum: 0, maximum: 3 } } }] }, obj({ t: { const: 'b' } }, ['t'])] },
  'nullable vs object': { oneOf: [{ type: 'string', maxLength: 3, nullable: true }, obj({ q: { type: 'boolean' } }, ['q'])] },
};

/**
 * Overlapping object branches that lutra makes exclusive in the grammar: each branch's output
 * leaves out a property the other requires. Each with a value valid under both branches (which
 * the grammar must then never produce).
 */
const NARROWED: Record<string, [object, unknown]> = {
  'open objects with different required properties': [{ oneOf: [obj({ a: { type: 'integer', minimum: 0, maximum: 9 } }, ['a'], {}), obj({ b: { type: 'boolean' } }, ['b'], {})] }, { a: 1, b: true }],
  'email or phone': [{ oneOf: ['email', 'phone'].map((k) => obj({ email: { type: 'string', maxLength: 8 }, phone: { type: 'string', pattern: '^[0-9]{3}$' } }, [k])) }, { email: 'x', phone: '123' }],
  'three contact branches, one by $ref': [{
    $defs: { byId: { type: 'object', properties: { id: { type: 'integer', minimum: 0, maximum: 9 }, mail: { type: 'string', maxLength: 4 } }, required: ['id'] } },
    oneOf: [{ $ref: '#/$defs/byId' }, obj({ mail: { type: 'string', maxLength: 4 }, tel: { type: 'string', maxLength: 4 } }, ['mail'], {}), obj({ tel: { type: 'string', maxLength: 4 } }, ['tel'], {})],
  }, { mail: 'a', tel: 'b' }],
};

/** oneOf schemas lutra refuses: the two branches it names, and a value ajv finds valid under both. */
const OVERLAPPING: [string, object, [number, number], unknown][] = [
  ['integer within number', { oneOf: [{ type: 'number' }, { type: 'integer' }] }, [0, 1], 3],
  ['same type, no discriminator', { oneOf: [obj({ a: { type: 'integer' } }, []), obj({ b: { type: 'integer' } }, [])] }, [0, 1], {}],
  ['a branch requiring nothing', { oneOf: [obj({ a: { type: 'integer' } }, ['a'], {}), obj({ b: { type: 'integer' } }, [], {})] }, [0, 1], { a: 1 }],
  ['untyped branch', { oneOf: [{ type: 'string' }, { description: 'anything' }] }, [0, 1], 'x'],
  ['overlapping ranges', { oneOf: [{ type: 'integer', minimum: 0, maximum: 10 }, { type: 'integer', minimum: 10, maximum: 20 }] }, [0, 1], 10],
  ['enum value matching the other branch', { oneOf: [{ enum: ['a', 'b'] }, { type: 'string', maxLength: 1 }] }, [0, 1], 'a'],
  ['third branch overlaps the first', { oneOf: [{ type: 'boolean' }, { type: 'null' }, { enum: [true, 'x'] }] }, [0, 2], true],
  ['pattern strings', { oneOf: [{ type: 'string', pattern: '^a' }, { type: 'string', pattern: 'b$' }] }, [0, 1], 'ab'],
];

/** Random texts the grammar accepts: a walk choosing among the characters that keep it alive. */
function walk(schema: object, rng: Rng, max = 400): string | undefined {
  const sp = new StackSpace(parseGbnf(schemaToGbnf(schema)));
  const alphabet = [...Array.from({ length: 95 }, (_, i) => 32 + i), 10];
  let set = sp.initial(), text = '';
  while (text.length < max) {
    if (sp.complete(set) && rng.next() < 0.25) return text;
    const ok = alphabet.filter((c) => sp.acceptChar(set, c) !== 0);
    if (!ok.length) return sp.complete(set) ? text : undefined;
    // Past 40 characters, closing characters are favoured so that walks end.
    const closing = text.length > 40 ? ok.filter((c) => '"}]'.includes(String.fromCharCode(c))) : [];
    const pool = closing.length && rng.next() < 0.7 ? closing : ok;
    const c = pool[Math.floor(rng.next() * pool.length)]!;
    set = sp.acceptChar(set, c);
    text += String.fromCharCode(c);
  }
  return undefined;
}

/** 300 random walks through the schema's grammar: at least 200 finish, and each validates with ajv (exactly one branch). */
function walksValidate(name: string, schema: object, rng: Rng): void {
  const validate = ajv.compile(schema);
  let n = 0;
  for (let i = 0; i < 300; i++) {
    const t = walk(schema, rng);
    if (t === undefined) continue;
    n++;
    assert.ok(validate(JSON.parse(t)), `${name}: ${t} ${JSON.stringify(validate.errors)}`);
  }
  assert.ok(n >= 200, `${name}: only ${n} walks finished`);
}

test('disjoint oneOf: converts, and 300 random grammar texts each validate with ajv (exactly one branch)', () => {
  const rng = new Rng(7);
  for (const [name, schema] of Object.entries(DISJOINT)) walksValidate(name, schema, rng);
});

test('overlapping object branches made exclusive in the grammar: the outputs validate with ajv, and a value both branches accept is never produced', () => {
  const rng = new Rng(11);
  for (const [name, [schema, witness]] of Object.entries(NARROWED)) {
    const s = schema as { oneOf: object[] };
    // ajv's own verdict: the witness matches several branches (so the plain union would be inexact).
    assert.ok(ajv.validate({ ...schema, oneOf: undefined, anyOf: s.oneOf }, witness) && !ajv.validate(schema, witness), `${name}: the witness should match two branches`);
    assert.ok(!matchesGrammar(parseGbnf(schemaToGbnf(schema)), JSON.stringify(witness)), `${name}: the grammar must not produce ${JSON.stringify(witness)}`);
    walksValidate(name, schema, rng);
  }
});

test('overlapping oneOf: refused naming oneOf and the branches; ajv confirms a value matching both', () => {
  for (const [name, schema, [i, j], witness] of OVERLAPPING) {
    const s = schema as { oneOf: object[] };
    assert.ok(ajv.validate(s.oneOf[i]!, witness) && ajv.validate(s.oneOf[j]!, witness), `${name}: the witness should match both`);
    assert.ok(!ajv.validate(schema, witness), `${name}: ajv should reject the witness for oneOf`);
    assert.throws(() => schemaToGbnf(schema), (e: unknown) => e instanceof SchemaError && new RegExp(`'oneOf' branches ${i} and ${j} may both match`).test(e.message), name);
    // As anyOf the same branches convert: only oneOf's exactness is refused.
    assert.doesNotThrow(() => schemaToGbnf({ anyOf: s.oneOf }), name);
  }
});

test('a refused oneOf inside properties names its path', () => {
  assert.throws(() => schemaToGbnf({ type: 'object', properties: { v: { oneOf: [{ type: 'number' }, { type: 'integer' }] } } }),
    (e: unknown) => e instanceof SchemaError && /at #\/properties\/v: 'oneOf' branches 0 and 1/.test(e.message));
});

test('malformed oneOf branches are SchemaErrors naming the branch, never a crash of the prover', () => {
  const bad: [object, RegExp][] = [
    [{ oneOf: [null, 5] }, /#\/oneOf\/0: a schema must be an object or a boolean/],
    [{ oneOf: [{ type: 'object', properties: 'abc' }, { type: 'string' }] }, /#\/oneOf\/0: 'properties' must be an object/],
    [{ oneOf: [{ required: 5 }, {}] }, /#\/oneOf\/0: 'required' must be an array of strings/],
    [{ oneOf: [{ type: 'string' }, { $ref: '#/nope' }] }, /#\/oneOf\/1: \$ref "#\/nope" does not resolve/],
  ];
  for (const [schema, re] of bad) assert.throws(() => schemaToGbnf(schema), (e: unknown) => e instanceof SchemaError && re.test(e.message), JSON.stringify(schema));
});
