// JSON Schema -> GBNF: what each keyword accepts and rejects (the grammar's verdict on texts next
// to ajv's), property order as in the schema, $ref recursion, exact integer and decimal bounds, and
// every unsupported keyword refused naming it and where it is.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 as Ajv } from 'ajv/dist/2020.js';
import { matchesGrammar, parseGbnf, SchemaError, schemaToGbnf } from '../src/grammar/index.js';
import { OPEN_SCHEMAS, SCHEMAS } from './grammar-helpers.js';

const ajv = new Ajv({ strict: false, validateFormats: false });
const grammar = (schema: object) => parseGbnf(schemaToGbnf(schema));

/** Texts the grammar must accept (and ajv validate) and texts it must reject. */
function check(schema: object, accept: string[], reject: string[]): void {
  const g = grammar(schema);
  const validate = ajv.compile(schema);
  for (const s of accept) {
    assert.ok(matchesGrammar(g, s), `${JSON.stringify(schema)} should accept ${s}`);
    assert.ok(validate(JSON.parse(s)), `ajv disagrees on ${s}`);
  }
  for (const s of reject) assert.ok(!matchesGrammar(g, s), `${JSON.stringify(schema)} should reject ${s}`);
}

test('objects: required, optional, order as in the schema, additionalProperties', () => {
  check({ type: 'object', properties: { b: { type: 'integer' }, a: { type: 'string' }, c: { type: 'boolean' } }, required: ['a'], additionalProperties: false },
    ['{"a": "x"}', '{"b": 1, "a": "x"}', '{"b":1,"a":"x","c":true}', '{"a":"x","c":false}'],
    ['{}', '{"a": "x", "b": 1}', '{"a":"x","d":1}', '{"b": 1}', '{"a":"x",}']);
  check({ type: 'object', properties: { id: { type: 'integer' } }, additionalProperties: { type: 'boolean' } },
    ['{}', '{"id": 2}', '{"id": 2, "x": true}', '{"x": false, "y": true}'],
    ['{"id": 2, "x": 1}', '{"id": 2, "id": 3}']);
});

test('arrays: items, prefixItems, minItems, maxItems', () => {
  check({ type: 'array', items: { type: 'integer' }, minItems: 1, maxItems: 3 }, ['[1]', '[1, 2, 3]'], ['[]', '[1,2,3,4]', '[1.5]']);
  check({ type: 'array', prefixItems: [{ type: 'string' }, { type: 'null' }], items: false }, ['["a", null]', '["a"]', '[]'], ['["a", null, 1]', '[null]']);
  check({ type: 'array', prefixItems: [{ type: 'boolean' }], items: { type: 'integer' }, minItems: 2 }, ['[true, 1]', '[false, 1, 2, 3]'], ['[true]', '[1, 2]']);
});

test('strings: lengths count characters, pattern, formats', () => {
  check({ type: 'string', minLength: 2, maxLength: 3 }, ['"ab"', '"a\\u00e9c"', '"é中"'], ['"a"', '"abcd"', '"\\ud83d\\ude00"']);
  check({ type: 'string', pattern: '^a(b|c)*d?$' }, ['"a"', '"abcbd"'], ['"ad d"', '"ba"']);
  check({ type: 'string', pattern: '\\d{3}' }, ['"x123y"', '"123"'], ['"12"']);
  check({ type: 'string', pattern: '^[^a-z"]+\\.$' }, ['"ABC."', '"1 2."'], ['"a."', '"ABC"']);
  check({ type: 'string', format: 'date' }, ['"2024-02-29"', '"2023-12-31"'], ['"2023-02-29"', '"2023-04-31"', '"2023-13-01"', '"2000-02-30"']);
  check({ type: 'string', format: 'time' }, ['"23:59:59Z"', '"01:02:03.5+05:30"'], ['"24:00:00Z"', '"12:00:00"']);
  check({ type: 'string', format: 'date-time' }, ['"1900-02-28T00:00:00Z"'], ['"1900-02-29T00:00:00Z"']);
  check({ type: 'string', format: 'uuid' }, ['"123e4567-e89b-12d3-a456-426614174000"'], ['"123e4567e89b12d3a456426614174000"']);
});

test('integer and number bounds are exact', () => {
  check({ type: 'integer', minimum: -7, maximum: 120 }, ['-7', '0', '9', '10', '99', '100', '120'], ['-8', '121', '1000', '-0', '01', '1.0']);
  check({ type: 'integer', exclusiveMinimum: 9, exclusiveMaximum: 1000 }, ['10', '999'], ['9', '1000']);
  check({ type: 'integer', minimum: 5 }, ['5', '6', '10', '123456'], ['4', '-5']);
  check({ type: 'integer', maximum: -3 }, ['-3', '-40'], ['-2', '0', '3']);
  check({ type: 'number', minimum: -1.25, maximum: 2.5 }, ['-1.25', '-1.2', '0', '2', '2.5', '2.50', '0.001'], ['-1.26', '2.51', '3', '-2']);
  check({ type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 0.5 }, ['0.1', '0.49999', '0.0001'], ['0', '0.0', '0.5', '0.50', '-0.1']);
  check({ type: 'number', minimum: 10.05 }, ['10.05', '10.1', '11', '250.5'], ['10.04', '10', '9.99']);
  for (const [lo, hi] of [[-3.5, -1.25], [0, 1], [0.3, 0.30001], [-10, 10], [7, 7]] as const) {
    const g = grammar({ type: 'number', minimum: lo, maximum: hi });
    for (let x = lo - 1; x <= hi + 1; x += 0.0625) {
      const t = String(Math.round(x * 1e4) / 1e4);
      if (matchesGrammar(g, t)) assert.ok(+t >= lo && +t <= hi, `[${lo}, ${hi}] accepted ${t}`);
      else assert.ok(!(+t >= lo && +t <= hi) || /e/.test(t), `[${lo}, ${hi}] rejected ${t}`);
    }
  }
});

test('enum, const, anyOf/oneOf, allOf, type lists, nullable', () => {
  check({ enum: ['a', 2, null, [1], { k: 'v' }] }, ['"a"', '2', 'null', '[1]', '{"k":"v"}'], ['"b"', '3', '[2]']);
  check({ const: { x: [true] } }, ['{"x":[true]}'], ['{"x":[false]}']);
  check({ anyOf: [{ type: 'integer' }, { type: 'array', items: { type: 'string' } }] }, ['1', '["a"]'], ['"a"', '[1]']);
  check({ allOf: [{ type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] }, { properties: { b: { type: 'string' } }, required: ['b'] }] },
    ['{"a": 1, "b": "x"}'], ['{"a": 1}', '{"b": "x"}']);
  check({ type: ['string', 'null'], maxLength: 2 }, ['"ab"', 'null'], ['"abc"', '1']);
  assert.throws(() => schemaToGbnf({ allOf: [{ type: 'object', properties: { a: { type: 'integer' } }, additionalProperties: false }, { properties: { b: { type: 'string' } }, required: ['b'] }] }), /required property 'b' is excluded/);
});

test('$ref: $defs, definitions, recursion, the root itself', () => {
  const tree = { $defs: { n: { type: 'object', properties: { v: { type: 'integer' }, c: { type: 'array', items: { $ref: '#/$defs/n' } } }, required: ['v'], additionalProperties: false } }, $ref: '#/$defs/n' };
  check(tree, ['{"v": 1}', '{"v": 1, "c": [{"v": 2, "c": [{"v": 3}]}]}'], ['{"v": 1, "c": [{}]}']);
  check({ type: 'object', properties: { next: { $ref: '#' }, v: { type: 'integer' } }, required: ['v'], additionalProperties: false }, ['{"next": {"v": 1}, "v": 2}'], ['{"next": {}, "v": 2}']);
  check({ definitions: { s: { type: 'string', maxLength: 1 } }, type: 'array', items: { $ref: '#/definitions/s' } }, ['["a", "b"]'], ['["ab"]']);
  assert.throws(() => schemaToGbnf({ $ref: '#/$defs/missing' }), /\$ref "#\/\$defs\/missing" does not resolve/);
  assert.throws(() => schemaToGbnf({ $ref: 'http://example.com/s.json' }), /only references inside the schema/);
});

test('unsupported keywords are errors naming the keyword and the path, never ignored', () => {
  const refused: [object | boolean, RegExp][] = [
    [{ type: 'array', uniqueItems: true }, /at #: unsupported keyword 'uniqueItems'/],
    [{ type: 'object', properties: { a: { type: 'number', multipleOf: 3 } } }, /at #\/properties\/a: unsupported keyword 'multipleOf'/],
    [{ type: 'object', patternProperties: { x: {} } }, /'patternProperties'/],
    [{ type: 'object', minProperties: 1 }, /'minProperties'/],
    [{ type: 'array', contains: { type: 'integer' } }, /'contains'/],
    [{ not: { type: 'string' } }, /'not'/],
    [{ if: {}, then: {} }, /'if'/],
    [{ type: 'string', format: 'email' }, /unsupported format "email"/],
    [{ type: 'string', pattern: '(?=a)' }, /lookaround/],
    [{ type: 'integer', maxLength: 3 }, /'maxLength' does not apply to type 'integer'/],
    [{ type: 'integer', minimum: 5, maximum: 4 }, /no integer lies within the bounds/],
    [{ type: 'function' }, /unsupported type "function"/],
    [false, /no value is valid/],
  ];
  for (const [schema, re] of refused) assert.throws(() => schemaToGbnf(schema as object), (e: unknown) => e instanceof SchemaError && re.test(e.message), JSON.stringify(schema));
});

test('every suite schema converts to a grammar that parses; annotations are accepted', () => {
  for (const [name, s] of Object.entries({ ...SCHEMAS, ...OPEN_SCHEMAS })) assert.doesNotThrow(() => grammar(s), name);
  check({ $schema: 'https://json-schema.org/draft/2020-12/schema', title: 'T', description: 'd', type: 'integer', examples: [1], default: 1, deprecated: false }, ['1'], ['"1"']);
});
