// lutra run with --json-schema, --grammar-file and --json: the output matches; a bad grammar or
// schema is refused before the model loads, naming the flag, the file and the place.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Ajv2020 as Ajv } from 'ajv/dist/2020.js';
import { LUTRA_BIN, STORIES_GGUF } from './helpers.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'lutra-grammar-cli-'));
const lutra = (...args: string[]) => run(process.execPath, [LUTRA_BIN, 'run', STORIES_GGUF, '-p', 'Once upon a time', '--no-display-prompt', ...args]);

test('--json-schema: every seed prints JSON valid under the schema', async () => {
  const schema = { type: 'object', properties: { hero: { type: 'string', maxLength: 16 }, age: { type: 'integer', minimum: 1, maximum: 99 }, good: { type: 'boolean' } }, required: ['hero', 'age', 'good'], additionalProperties: false };
  const file = join(dir, 'schema.json');
  writeFileSync(file, JSON.stringify(schema));
  const validate = new Ajv().compile(schema);
  for (const seed of ['1', '2', '3']) {
    const { stdout } = await lutra('--json-schema', file, '-n', '300', '-s', seed, '--temp', '1');
    assert.ok(validate(JSON.parse(stdout)), stdout);
  }
});

test('--grammar-file and --json constrain the output', async () => {
  const g = join(dir, 'pet.gbnf');
  writeFileSync(g, 'root ::= "My " ("cat" | "dog") " is " [a-z]{1,12} "."\n');
  const { stdout } = await lutra('--grammar-file', g, '-n', '40', '-s', '4');
  assert.match(stdout.trim(), /^My (cat|dog) is [a-z]{1,12}\.$/);
  const j = await lutra('--json', '-n', '400', '-s', '9', '--temp', '0.5');
  const text = j.stdout.trim();
  if (!j.stderr.includes('stop: length')) assert.equal(typeof JSON.parse(text), 'object');
});

test('a bad grammar or schema is refused before loading, naming the place', async () => {
  const refused = async (args: string[], re: RegExp) => {
    const e = await lutra(...args).then(() => undefined, (err: { stderr: string; code: number }) => err);
    assert.ok(e, `${args.join(' ')} succeeded`);
    assert.equal(e.code, 1, e.stderr);
    assert.match(e.stderr, re);
    assert.doesNotMatch(e.stderr, /tokens\/s/, 'nothing ran');
  };
  const g = join(dir, 'bad.gbnf');
  writeFileSync(g, 'root ::= item+\nitem ::= [a-z\n');
  await refused(['--grammar-file', g], /--grammar-file .*bad\.gbnf: grammar: .*line 2, column/);
  const s = join(dir, 'bad.json');
  writeFileSync(s, JSON.stringify({ type: 'object', properties: { a: { type: 'string', format: 'hostname' } } }));
  await refused(['--json-schema', s], /--json-schema .*bad\.json: JSON Schema at #\/properties\/a: unsupported format "hostname"/);
  await refused(['--json', '--grammar', 'root ::= "a"'], /give one of --grammar, --json/);
});
