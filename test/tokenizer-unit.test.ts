// Tokenizer behaviour beyond the goldens: streaming detokenization across split characters, decode
// round trips, special-token parsing, BOS/EOS rules, chat templates, error messages, the SPM cut
// optimisation against llama.cpp's single merge run, small synthetic HF pipelines, and speed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TokenizerError } from '../src/core/errors.js';
import { GGUFType, parseGGUF, type GGUFValue } from '../src/formats/gguf.js';
import {
  StreamDecoder, knownPreTokenizers, renderChatTemplate, requireChatTemplate, tokenizerFromGGUF, tokenizerFromJSON, type Tokenizer,
} from '../src/tokenizer/index.js';
import { translateOnigRegex } from '../src/tokenizer/hf-regex.js';
import { PairHeap } from '../src/tokenizer/pair-heap.js';
import { preTokenizerByName } from '../src/tokenizer/gguf-pre.js';
import { regexSplit } from '../src/tokenizer/regex-split.js';
import { spmTokenize } from '../src/tokenizer/spm.js';
import { Vocab } from '../src/tokenizer/vocab.js';
import { ATTR } from '../src/tokenizer/types.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DATA = path.resolve(repoRoot, '../shared/data');
const vocabPath = (name: string): string => path.join(DATA, 'llama-vocab', `ggml-vocab-${name}.gguf`);
const STORIES_GGUF = path.join(DATA, 'models/stories260K/stories260K.gguf');

function readCases(inpFile: string): string[] {
  const MARK = '\n__ggml_vocab_test__\n';
  let text = readFileSync(inpFile, 'utf8');
  if (text.endsWith(MARK)) text = text.slice(0, -MARK.length);
  return text.split(MARK);
}

const cache = new Map<string, { tok: Tokenizer; meta: Map<string, GGUFValue> }>();
function load(file: string): { tok: Tokenizer; meta: Map<string, GGUFValue> } {
  let c = cache.get(file);
  if (!c) {
    const meta = parseGGUF(new Uint8Array(readFileSync(file)), file).metadata;
    c = { tok: tokenizerFromGGUF(meta, file), meta };
    cache.set(file, c);
  }
  return c;
}
const gguf = (file: string): Tokenizer => load(file).tok;

function streamAll(tok: Tokenizer, ids: number[], special = false): string[] {
  const s = new StreamDecoder(tok, special);
  const chunks = ids.map((id) => s.push(id));
  chunks.push(s.flush());
  return chunks;
}

test('StreamDecoder holds multi-byte characters split over byte-fallback tokens', () => {
  const tok = gguf(STORIES_GGUF); // 512-token vocab: CJK and emoji become <0xXX> tokens
  const text = '日本 ✅ ok';
  const ids = tok.encode(text, { addSpecial: false });
  assert.ok(ids.length > 8, 'expected byte-fallback tokens');
  const chunks = streamAll(tok, ids);
  assert.ok(chunks.every((c) => !c.includes('\ufffd')), JSON.stringify(chunks));
  assert.ok(chunks.filter((c) => c === '').length >= 4, 'incomplete characters must wait for their last byte');
  assert.equal(chunks.join(''), ' ' + text); // the SPM prefix space is part of the stream
  assert.deepEqual(Array.from(tok.tokenBytes(ids[1]!)), [0xe6]);
});

test('StreamDecoder on byte-level BPE tokens that end mid-character; flush emits U+FFFD for a cut sequence', () => {
  const tok = gguf(vocabPath('gpt-2'));
  const text = '日本語のテキストと絵文字 🚀🎉 — naïve';
  const ids = tok.encode(text);
  const chunks = streamAll(tok, ids);
  assert.ok(chunks.every((c) => !c.includes('\ufffd')));
  assert.equal(chunks.join(''), text);
  const s = new StreamDecoder(tok);
  const first = tok.encode('日', { addSpecial: false });
  assert.ok(first.length > 1, 'expected 日 to need several byte tokens');
  assert.equal(s.push(first[0]!), '');
  assert.equal(s.flush(), '\ufffd');
});

test('decode round trips (SPM, byte-level BPE), control tokens only with special=true', () => {
  const text = 'Hello, world!  Two  spaces,\ttab\nnewline — ünïcödé 東京 🚀';
  for (const name of ['llama-spm', 'phi-3']) {
    const tok = gguf(vocabPath(name));
    assert.equal(tok.decode(tok.encode(text, { addSpecial: false })), text, name);
    const withBos = tok.encode(text);
    assert.equal(withBos[0], tok.bos);
    assert.equal(tok.decode(withBos), ' ' + text, `${name}: llama.cpp keeps the prefix space after BOS`);
    assert.equal(tok.decode(withBos, true), '<s> ' + text, name);
  }
  for (const name of ['deepseek-coder']) {
    const tok = gguf(vocabPath(name));
    assert.equal(tok.decode(tok.encode(text)), text, name);
  }
  const gpt2 = gguf(vocabPath('gpt-2'));
  const g = 'Hello world, this is a test.\n\n  Indented code();';
  assert.equal(gpt2.decode(gpt2.encode(g)), g);
  assert.equal(gpt2.decode([gpt2.eos!]), '');
  assert.equal(gpt2.decode([gpt2.eos!], true), '<|endoftext|>');
  const stories = gguf(STORIES_GGUF);
  const story = readFileSync(path.join(DATA, 'text/tinystories/tinystories_val.txt'), 'utf8').slice(0, 5000);
  assert.equal(stories.decode(stories.encode(story, { addSpecial: false })), story);
  const bert = gguf(vocabPath('bert-bge'));
  // WordPiece pieces carry their word's space (▁hello); llama.cpp keeps it and cleans " !"
  assert.equal(bert.decode(bert.encode('Hello World!', { addSpecial: false })), ' hello world!');
});

test('tokenBytes: ▁ -> space, <0x0A> -> its byte, byte-level chars -> bytes, tokenText as stored', () => {
  const spm = gguf(vocabPath('llama-spm'));
  const hello = spm.encode('Hello', { addSpecial: false })[0]!;
  assert.equal(spm.tokenText(hello), '▁Hello');
  assert.equal(new TextDecoder().decode(spm.tokenBytes(hello)), ' Hello');
  const nl = spm.encode('\n', { addSpecial: false }).at(-1)!;
  assert.equal(spm.tokenText(nl), '<0x0A>');
  assert.deepEqual(Array.from(spm.tokenBytes(nl)), [10]);
  assert.equal(spm.tokenBytes(spm.bos!).length, 0);
  assert.equal(new TextDecoder().decode(spm.tokenBytes(spm.bos!, true)), '<s>');
  const gpt2 = gguf(vocabPath('gpt-2'));
  const w = gpt2.encode(' world')[0]!;
  assert.equal(gpt2.tokenText(w), 'Ġworld');
  assert.equal(new TextDecoder().decode(gpt2.tokenBytes(w)), ' world');
  assert.throws(() => gpt2.tokenBytes(gpt2.vocabSize), /token id 50257 is outside the vocabulary/);
});

test('parseSpecial: control tokens match only when asked; user-defined tokens always; phi-3 RSTRIP', () => {
  const spm = gguf(vocabPath('llama-spm'));
  assert.deepEqual(spm.encode('<s>', { addSpecial: false, parseSpecial: true }), [1]);
  assert.ok(!spm.encode('<s>', { addSpecial: false }).includes(1));
  const phi = gguf(vocabPath('phi-3'));
  const user = 32010, end = 32007;
  assert.ok(phi.isControl(user));
  const parsed = phi.encode('<|user|>\nHello<|end|>', { parseSpecial: true });
  // RSTRIP swallows the newline after <|user|>; the text after a special token gets the SPM prefix space
  assert.deepEqual(parsed, [1, user, ...phi.encode('Hello', { addSpecial: false }), end]);
  const plain = phi.encode('<|user|>\nHello<|end|>');
  assert.ok(!plain.includes(user) && !plain.includes(end));
  assert.equal(phi.decode(plain.slice(1)), '<|user|>\nHello<|end|>');
  const ds = gguf(vocabPath('deepseek-coder')); // "õ" is a user-defined (added) token there
  const o = ds.encode('õ', { addSpecial: false })[0]!;
  assert.equal(ds.tokenText(o), 'õ');
  assert.deepEqual(ds.encode('aõb', { addSpecial: false }), [...ds.encode('a', { addSpecial: false }), o, ...ds.encode('b', { addSpecial: false })]);
});

test('BOS/EOS rules per model', () => {
  const spm = gguf(vocabPath('llama-spm'));
  assert.equal(spm.addBos, true);
  assert.equal(spm.addEos, false);
  assert.deepEqual(spm.encode(''), [1]);
  assert.deepEqual(spm.encode('', { addSpecial: false }), []);
  const gpt2 = gguf(vocabPath('gpt-2'));
  assert.equal(gpt2.addBos, false);
  assert.deepEqual(gpt2.encode('Hello'), [15496]);
  assert.ok(gpt2.isEog(50256));
  const ds = gguf(vocabPath('deepseek-coder'));
  assert.equal(ds.addBos, true);
  assert.equal(ds.encode('x')[0], 32013);
  assert.equal(ds.bosText, '<｜begin▁of▁sentence｜>');
  assert.ok(ds.isEog(32014) && ds.isEog(ds.eos!));
  const bert = gguf(vocabPath('bert-bge'));
  const ids = bert.encode('Hello World!');
  assert.deepEqual([ids[0], ids.at(-1)], [101, 102]);
  const phi = gguf(vocabPath('phi-3'));
  assert.ok(phi.isEog(32007), '<|end|> ends generation');
  assert.ok(phi.isEog(32000), '<|endoftext|> is EOS');
  assert.ok(!phi.isEog(32010));

  // add_eos_token from metadata appends EOS; add_bos_token=false drops BOS
  const meta = new Map(load(STORIES_GGUF).meta);
  meta.set('tokenizer.ggml.add_eos_token', { type: GGUFType.BOOL, value: true });
  meta.set('tokenizer.ggml.add_bos_token', { type: GGUFType.BOOL, value: false });
  const t = tokenizerFromGGUF(meta, 'stories-eos');
  assert.deepEqual([t.addBos, t.addEos], [false, true]);
  assert.deepEqual(t.encode('Once'), [...t.encode('Once', { addSpecial: false }), 2]);
});

test('chat templates: ChatML and Llama-2 style; missing template is a TokenizerError naming the model', () => {
  const chatml = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  const msgs = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi!' }];
  assert.equal(
    renderChatTemplate(chatml, msgs, { addGenerationPrompt: true }),
    '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n',
  );
  const llama2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
  assert.equal(
    renderChatTemplate(llama2, [...msgs, { role: 'assistant', content: 'Hello.' }], { bosToken: '<s>', eosToken: '</s>' }),
    '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi! [/INST] Hello. </s>',
  );
  const phi = gguf(vocabPath('phi-3'));
  assert.equal(
    renderChatTemplate(phi.chatTemplate!, [{ role: 'user', content: 'Hi' }], { bosToken: phi.bosText }),
    '<s><|user|>\nHi<|end|>\n<|assistant|>\n',
  );
  const stories = gguf(STORIES_GGUF);
  assert.equal(stories.chatTemplate, undefined);
  assert.throws(() => requireChatTemplate(stories.chatTemplate, 'stories260K.gguf'), (e: unknown) =>
    e instanceof TokenizerError && e.message === 'model stories260K.gguf has no chat template (tokenizer.chat_template)');
  assert.throws(() => renderChatTemplate('{% for %}', msgs, {}), TokenizerError);
});

test('errors name the unknown tokenizer model, pre-tokenizer and HF stage types', () => {
  const base = load(vocabPath('gpt-2')).meta;
  const withKey = (k: string, v: string): Map<string, GGUFValue> => new Map(base).set(k, { type: GGUFType.STRING, value: v });
  assert.throws(() => tokenizerFromGGUF(withKey('tokenizer.ggml.model', 'sentencepiece-x'), 'm.gguf'),
    (e: unknown) => e instanceof TokenizerError && /m\.gguf: unknown tokenizer model tokenizer\.ggml\.model = 'sentencepiece-x'/.test(e.message));
  assert.throws(() => tokenizerFromGGUF(withKey('tokenizer.ggml.pre', 'no-such-pre'), 'm.gguf'),
    (e: unknown) => e instanceof TokenizerError && /unknown pre-tokenizer tokenizer\.ggml\.pre = 'no-such-pre'/.test(e.message));
  assert.throws(() => tokenizerFromGGUF(new Map(), 'empty.gguf'), /empty\.gguf: no tokenizer \(tokenizer\.ggml\.model is missing\)/);
  const tj = (over: Record<string, unknown>): unknown => ({
    added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null,
    model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2 }, merges: ['a b'] }, ...over,
  });
  assert.deepEqual(tokenizerFromJSON(tj({})).encode('abba'), [2, 1, 0]);
  assert.throws(() => tokenizerFromJSON(tj({ pre_tokenizer: { type: 'FancySplit' } })), /unknown pre-tokenizer type 'FancySplit'/);
  assert.throws(() => tokenizerFromJSON(tj({ normalizer: { type: 'Shout' } })), /unknown normalizer type 'Shout'/);
  assert.throws(() => tokenizerFromJSON(tj({ decoder: { type: 'Mystery' } })), /unknown decoder type 'Mystery'/);
  assert.throws(() => tokenizerFromJSON(tj({ model: { type: 'WordLevel', vocab: {} } })), /unknown tokenizer model type 'WordLevel'/);
  assert.throws(() => tokenizerFromJSON(tj({ post_processor: { type: 'Nope' } })), /unknown post_processor type 'Nope'/);
});

test('SPM cut before unstraddled ▁ gives exactly llama.cpp\'s single merge run', () => {
  for (const [file, textFile, n] of [
    [vocabPath('llama-spm'), 'text/wikitext-2-raw/wiki.test.raw', 60000],
    [STORIES_GGUF, 'text/tinystories/tinystories_val.txt', 60000],
  ] as const) {
    const { tok, meta } = load(file);
    const text = readFileSync(path.join(DATA, textFile), 'utf8').slice(0, n) + '    many    spaces  ';
    const tokens = meta.get('tokenizer.ggml.tokens')!.value as string[];
    const scores = meta.get('tokenizer.ggml.scores')!.value as Float32Array;
    const vocab = new Vocab(tokens, new Uint16Array(tokens.length).fill(ATTR.NORMAL), file);
    const whole: number[] = [];
    const fallback = (s: string): void => { for (const b of new TextEncoder().encode(s)) whole.push(vocab.id(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)); };
    spmTokenize((' ' + text).replaceAll(' ', '▁'), vocab, scores, new PairHeap(), fallback, whole);
    assert.deepEqual(tok.encode(text, { addSpecial: false }), whole, file);
  }
});

test('llama.cpp regex engine: custom splitters and the collapsed-category fallback', () => {
  const gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
  assert.deepEqual(regexSplit("Hello world's   test 123!!", [gpt2]), ['Hello', ' world', "'s", '  ', ' test', ' 123', '!!']);
  // the same expression with one extra char is not special-cased: it runs as a JS regex over collapsed text
  assert.deepEqual(regexSplit("Hello wörld's 123", [gpt2 + '|\\s+']), ['Hello', ' wörld', "'s", ' 123']);
  // DeepSeek-coder: separate passes, \p{N} single digits
  assert.deepEqual(regexSplit('ab 12\n', ['[\r\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', '\\p{N}']), ['ab', ' ', '1', '2', '\n']);
  // llama.cpp's collapsed \p{S} has no '~'
  assert.deepEqual(regexSplit('a~b', ['\\p{S}+']), ['a~b']);
});

test('every llama.cpp pre-tokenizer name compiles and splits text losslessly', () => {
  const text = readCases(path.join(DATA, 'llama-vocab/ggml-vocab-qwen35.gguf.inp')).join('\n') +
    " 1234567 x ǅ ΣΊΣ ﬁ Ⅻ ½ ۱۲۳ ＡＢＣ \u00a0\u3000 e\u0301 <sentinel:12> IMGIMGABZ 東京 ภาษา 🚀\r\n\t";
  for (const name of knownPreTokenizers()) {
    const words = regexSplit(text, preTokenizerByName(name, 'test').group.exprs);
    assert.ok(words.length > 50, name);
    assert.equal(words.join(''), text, name);
  }
});

test('Oniguruma -> JS regex translation', () => {
  assert.equal(translateOnigRegex("(?i:'s|'t)"), "(?:'[sS]|'[tT])");
  assert.equal(translateOnigRegex('[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+'), '[^\\r\\n\\p{L}\\p{N}]?\\p{L}+');
  assert.equal(translateOnigRegex('\\p{N}{1,3}+x'), '\\p{N}{1,3}x');
  assert.equal(translateOnigRegex('\\p{Han}+'), '\\p{Script=Han}+');
  assert.ok(new RegExp(translateOnigRegex('\\s+(?!\\S)'), 'u').test('\u0085'), '\\s includes U+0085 as in Oniguruma');
  assert.ok(!new RegExp(translateOnigRegex('\\s'), 'u').test('\ufeff'), '\\s excludes U+FEFF');
});

test('HF tokenizer.json: WordPiece (BERT), SentencePiece-style BPE with byte fallback, Unigram', () => {
  const bert = tokenizerFromJSON({
    added_tokens: [
      { id: 0, content: '[PAD]', special: true }, { id: 1, content: '[UNK]', special: true },
      { id: 2, content: '[CLS]', special: true }, { id: 3, content: '[SEP]', special: true },
    ],
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }], special_tokens: { '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] } } },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100,
      vocab: { '[PAD]': 0, '[UNK]': 1, '[CLS]': 2, '[SEP]': 3, hello: 4, world: 5, '!': 6, un: 7, '##able': 8, cafe: 9 } },
  });
  assert.deepEqual(bert.encode('Hello unable WORLD! Café xyz'), [2, 4, 7, 8, 5, 6, 9, 1, 3]);
  assert.equal(bert.decode([2, 4, 7, 8, 5, 6, 3]), 'hello unable world!'); // the WordPiece decoder's cleanup
  assert.deepEqual([bert.bos, bert.eos, bert.addBos, bert.addEos], [2, 3, true, true]);

  const bytes = Object.fromEntries(Array.from({ length: 256 }, (_, b) => [`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 3 + b]));
  const spmBpe = tokenizerFromJSON({
    added_tokens: [{ id: 0, content: '<unk>', special: true }, { id: 1, content: '<s>', special: true }, { id: 2, content: '</s>', special: true }],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } } },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'BPE', byte_fallback: true, fuse_unk: true, unk_token: '<unk>',
      vocab: { '<unk>': 0, '<s>': 1, '</s>': 2, ...bytes, '▁': 259, h: 260, i: 261, '▁h': 262, '▁hi': 263 },
      merges: ['▁ h', '▁h i'] },
  }, { bos_token: '<s>', eos_token: '</s>', add_bos_token: true, add_eos_token: false });
  const ids = spmBpe.encode('hi hi é');
  assert.deepEqual(ids, [1, 263, 263, 259, 3 + 0xc3, 3 + 0xa9]);
  assert.equal(spmBpe.decode(ids), 'hi hi é');
  const stream = streamAll(spmBpe, ids);
  assert.deepEqual(stream, ['', ' hi', ' hi', ' ', '', 'é', '']);

  const uni = tokenizerFromJSON({
    added_tokens: [{ id: 0, content: '<unk>', special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    post_processor: null,
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 0, vocab: [['<unk>', 0], ['▁', -3], ['▁a', -2], ['b', -2], ['▁ab', -3.5], ['c', -2.5]] },
  });
  assert.deepEqual(uni.encode('ab abc xx'), [4, 4, 5, 1, 0]);
  assert.equal(uni.decode([4, 4, 5]), 'ab abc');
});

test('T5-style Unigram GGUF (llama.cpp UGM): merged whitespace, user-defined pieces score 0, fused unknowns, EOS added', () => {
  const tokens = ['<pad>', '</s>', '<unk>', '▁', '▁a', 'b', '▁ab', 'c', '<x>'];
  const meta = new Map<string, GGUFValue>([
    ['tokenizer.ggml.model', { type: GGUFType.STRING, value: 't5' }],
    ['tokenizer.ggml.tokens', { type: GGUFType.ARRAY, itemType: GGUFType.STRING, value: tokens }],
    ['tokenizer.ggml.scores', { type: GGUFType.ARRAY, itemType: GGUFType.FLOAT32, value: Float32Array.of(0, 0, 0, -3, -2, -2, -3.5, -2.5, 0) }],
    ['tokenizer.ggml.token_type', { type: GGUFType.ARRAY, itemType: GGUFType.INT32, value: Int32Array.of(3, 3, 2, 1, 1, 1, 1, 1, 4) }],
    ['tokenizer.ggml.add_space_prefix', { type: GGUFType.BOOL, value: true }],
    ['tokenizer.ggml.remove_extra_whitespaces', { type: GGUFType.BOOL, value: true }],
  ]);
  const t5 = tokenizerFromGGUF(meta, 't5.gguf');
  assert.deepEqual([t5.bos, t5.eos, t5.addBos, t5.addEos], [undefined, 1, false, true]);
  assert.deepEqual(t5.encode('ab  abc xx<x>'), [6, 6, 7, 3, 2, 8, 1]);
  assert.equal(t5.decode([6, 6, 7]), 'ab abc');
});

test('speed: stories260K encodes the 800 KB TinyStories validation text well under 5 s', () => {
  const tok = gguf(STORIES_GGUF);
  const text = readFileSync(path.join(DATA, 'text/tinystories/tinystories_val.txt'), 'utf8');
  const t0 = performance.now();
  const ids = tok.encode(text);
  const ms = performance.now() - t0;
  assert.ok(ids.length > 300_000);
  assert.ok(ms < 5000, `encode took ${ms.toFixed(0)} ms`);
  assert.equal(tok.decode(ids.slice(1)), text);
});
