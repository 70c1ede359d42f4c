// GGUF tokenizer metadata -> Tokenizer, following llama_vocab::impl::load: model type defaults,
// pre-tokenizer flags, special ids (out-of-range ids keep the default), add_bos/add_eos, EOG and
// FIM detection by token text, and the token -> piece rules of token_to_piece.

import { TokenizerError } from '../core/errors.js';
import { plainValue, type GGUFValue } from '../formats/gguf.js';
import { GENERAL } from '../formats/gguf-names.js';
import { BpeModel, buildRanks } from './bpe.js';
import { preTokenizerByName } from './gguf-pre.js';
import { SpmModel } from './spm.js';
import { UgmModel } from './ugm.js';
import { ATTR, attrFromTokenType, type Tokenizer } from './types.js';
import { CHAR_TO_BYTE, utf8Encoder } from './unicode.js';
import { CoreTokenizer, Vocab, type TextModel } from './vocab.js';
import { WpmModel } from './wpm.js';

type Meta = Map<string, GGUFValue>;

function get(meta: Meta, key: string): unknown {
  const v = meta.get(key);
  return v === undefined ? undefined : plainValue(v);
}

function getString(meta: Meta, key: string, file: string): string | undefined {
  const v = get(meta, key);
  if (v !== undefined && typeof v !== 'string') throw new TokenizerError(`${file}: ${key} should be a string, file has ${typeof v}`);
  return v;
}

function getBool(meta: Meta, key: string): boolean | undefined {
  const v = get(meta, key);
  return v === undefined ? undefined : Boolean(v);
}

function getNumberArray(meta: Meta, key: string, n: number, file: string): ArrayLike<number> | undefined {
  const v = get(meta, key);
  if (v === undefined) return undefined;
  if (!(ArrayBuffer.isView(v) || Array.isArray(v))) throw new TokenizerError(`${file}: ${key} should be an array`);
  const arr = v as ArrayLike<number>;
  if (arr.length < n) throw new TokenizerError(`${file}: ${key} has ${arr.length} entries for ${n} tokens`);
  return arr;
}

// Texts llama.cpp uses to find EOT / EOM / FIM tokens when the ids are not in the metadata.
const EOT_TEXTS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '_<EOT>', '[EOT]', '<｜end▁of▁sentence｜>', '<end_of_utterance>'];
const EOM_TEXTS = ['<|eom_id|>'];
const FIM_PAD_TEXTS = ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]'];
const FIM_REP_TEXTS = ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'];
const FIM_SEP_TEXTS = ['<|file_sep|>'];
// The other FIM roles only get their CONTROL attribute fixed; they are not end-of-generation.
const FIM_OTHER_TEXTS = [
  ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>'],
  ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>'],
  ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>'],
];
const EOG_TEXTS = [
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>', '<|endoftext|>',
  '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>', '<end_of_utterance>', '<eos>', '<turn|>',
  '<|tool_response>', '<｜end▁of▁sentence｜>',
];

type ModelKind = 'spm' | 'bpe' | 'wpm' | 'ugm';

const TOKEN_TYPE_NORMAL = 1;
const TOKEN_TYPE_MAX = 6;

export function tokenizerFromGGUF(metadata: Map<string, GGUFValue>, file = '<gguf>'): Tokenizer {
  const modelName = getString(metadata, 'tokenizer.ggml.model', file);
  if (modelName === undefined) throw new TokenizerError(`${file}: no tokenizer (tokenizer.ggml.model is missing)`);
  let preName = getString(metadata, 'tokenizer.ggml.pre', file);

  let kind: ModelKind;
  // llama_vocab::impl::load defaults per model type
  let bos: number | undefined, eos: number | undefined, unk: number | undefined;
  let sep: number | undefined;
  let addSpacePrefix = false, addBos = false, addEos = false, cleanSpaces = false;
  switch (modelName) {
    case 'llama':
      kind = 'spm'; bos = 1; eos = 2; unk = 0;
      addSpacePrefix = true; addBos = true;
      break;
    case 'bert':
      kind = 'wpm'; bos = 101; unk = 100; sep = 102;
      addBos = true; cleanSpaces = true;
      break;
    case 'gpt2':
      kind = 'bpe'; bos = 11; eos = 11;
      cleanSpaces = true;
      break;
    case 'gemma4':
      kind = 'bpe'; preName = 'gemma4'; cleanSpaces = true;
      break;
    case 't5':
      kind = 'ugm'; eos = 1; unk = 2;
      addEos = true;
      break;
    case 'none':
    case 'no_vocab':
      throw new TokenizerError(`${file}: the model has no vocabulary (tokenizer.ggml.model = '${modelName}')`);
    default:
      throw new TokenizerError(`${file}: unknown tokenizer model tokenizer.ggml.model = '${modelName}' (supported: llama, gpt2, gemma4, bert, t5)`);
  }

  const pre = kind === 'bpe' ? preTokenizerByName(preName, file) : undefined;
  let escapeWhitespaces = false;
  let lowercase = true;
  if (pre) {
    if (!pre.cleanSpaces) cleanSpaces = false;
    if (pre.addBos) addBos = true;
    if (pre.noBos) bos = undefined;
    if (pre.lowercase === false) lowercase = false;
    escapeWhitespaces = pre.escapeWhitespaces;
  }
  addSpacePrefix = getBool(metadata, 'tokenizer.ggml.add_space_prefix') ?? addSpacePrefix;

  // --- token table
  const tokensRaw = get(metadata, 'tokenizer.ggml.tokens');
  if (!Array.isArray(tokensRaw)) throw new TokenizerError(`${file}: tokenizer.ggml.tokens is missing or not a string array`);
  const tokens = (tokensRaw as string[]).map((t, i) => (t.length ? t : `[EMPTY_${i}]`));
  const n = tokens.length;
  const scores = getNumberArray(metadata, 'tokenizer.ggml.scores', n, file);
  const types = getNumberArray(metadata, 'tokenizer.ggml.token_type', n, file);
  if (scores) {
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(Number(scores[i]))) throw new TokenizerError(`${file}: tokenizer.ggml.scores[${i}] = ${String(scores[i])} (token ${JSON.stringify(tokens[i])}) is not a finite number`);
    }
  }
  const attrs = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const t = types ? Number(types[i]) : TOKEN_TYPE_NORMAL;
    // llama_token_type: 0 undefined, 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    if (!(t >= 0 && t <= TOKEN_TYPE_MAX && Number.isInteger(t))) {
      throw new TokenizerError(`${file}: tokenizer.ggml.token_type[${i}] = ${t} (token ${JSON.stringify(tokens[i])}) is not a llama.cpp token type (0..${TOKEN_TYPE_MAX})`);
    }
    attrs[i] = attrFromTokenType(t);
  }
  const vocab = new Vocab(tokens, attrs, file);

  // --- special ids: a key holding an id outside the vocabulary keeps the default (as llama.cpp warns and does)
  const idKey = (key: string, def: number | undefined): number | undefined => {
    const v = get(metadata, key);
    if (typeof v !== 'number' || !(v >= 0 && v < n)) return def;
    return v;
  };
  bos = idKey('tokenizer.ggml.bos_token_id', bos);
  eos = idKey('tokenizer.ggml.eos_token_id', eos);
  const eot = idKey('tokenizer.ggml.eot_token_id', undefined);
  const eom = idKey('tokenizer.ggml.eom_token_id', undefined);
  unk = idKey('tokenizer.ggml.unknown_token_id', unk);
  sep = idKey('tokenizer.ggml.seperator_token_id', sep);
  const fimPad = idKey('tokenizer.ggml.fim_pad_token_id', undefined);
  const fimRep = idKey('tokenizer.ggml.fim_rep_token_id', undefined);
  const fimSep = idKey('tokenizer.ggml.fim_sep_token_id', undefined);
  addBos = getBool(metadata, 'tokenizer.ggml.add_bos_token') ?? addBos;
  addEos = getBool(metadata, 'tokenizer.ggml.add_eos_token') ?? addEos;
  if (pre?.type === 'gemma4' && !addBos) addBos = true; // llama.cpp's Gemma 4 workaround
  lowercase = getBool(metadata, 'tokenizer.ggml.normalizer.lowercase') ?? lowercase;
  const stripAccents = getBool(metadata, 'tokenizer.ggml.normalizer.strip_accents') ?? lowercase;

  const eog = detectEog(vocab, { eos, eot, eom, fimPad, fimRep, fimSep });

  // --- per-model strip attributes (llama.cpp sets them by model / pre / architecture name)
  const modelNameLc = (getString(metadata, GENERAL.name, file) ?? '').toLowerCase();
  const arch = getString(metadata, GENERAL.architecture, file) ?? '';
  const pre0 = preName ?? '';
  const setAttr = (text: string, attr: number, on: boolean): void => {
    const id = vocab.id(text);
    if (id >= 0) attrs[id] = on ? attrs[id]! | attr : attrs[id]! & ~attr;
  };
  if (['jina-v2-de', 'jina-v2-es', 'jina-v2-code'].some((s) => pre0.includes(s)) || ['nomic-bert-moe', 'jina-bert-v3'].some((s) => arch.includes(s))) {
    setAttr('<mask>', ATTR.LSTRIP, true);
  } else if (modelNameLc.includes('phi-3') || modelNameLc.includes('phi3')) {
    for (let id = 0; id < n; id++) if (attrs[id]! & (ATTR.CONTROL | ATTR.USER_DEFINED | ATTR.UNKNOWN)) attrs[id] = attrs[id]! | ATTR.RSTRIP;
    setAttr('</s>', ATTR.RSTRIP, true);
    for (const t of ['<unk>', '<s>', '<|endoftext|>']) setAttr(t, ATTR.RSTRIP, false);
  } else if (modelNameLc.includes('modern-bert')) {
    setAttr('[MASK]', ATTR.LSTRIP, true);
  }

  // --- the model
  let model: TextModel;
  if (kind === 'spm') {
    model = new SpmModel(vocab, { scores: scores ?? new Float32Array(n), addSpacePrefix, unk });
  } else if (kind === 'wpm') {
    model = new WpmModel(vocab, { lowercase, stripAccents, unk: unk ?? 100 });
  } else if (kind === 'ugm') {
    const cm = get(metadata, 'tokenizer.ggml.precompiled_charsmap');
    if (cm !== undefined && !ArrayBuffer.isView(cm)) throw new TokenizerError(`${file}: tokenizer.ggml.precompiled_charsmap should be a byte array`);
    if (unk === undefined) throw new TokenizerError(`${file}: Unigram tokenizer without an unknown token`);
    model = new UgmModel(vocab, {
      scores: scores ?? new Float32Array(n),
      charsmap: cm ? new Uint8Array(cm.buffer, cm.byteOffset, cm.byteLength) : undefined,
      addSpacePrefix,
      removeExtraWhitespaces: getBool(metadata, 'tokenizer.ggml.remove_extra_whitespaces') ?? false,
      escapeWhitespaces: true,
      treatWhitespaceAsSuffix: false,
      unk,
    });
  } else {
    const merges = get(metadata, 'tokenizer.ggml.merges');
    if (merges !== undefined && !Array.isArray(merges)) throw new TokenizerError(`${file}: tokenizer.ggml.merges should be a string array`);
    if (merges === undefined && pre!.type !== 'kimi_k2') throw new TokenizerError(`${file}: BPE tokenizer without tokenizer.ggml.merges`);
    model = new BpeModel(vocab, {
      exprs: pre!.group.exprs,
      byteEncode: pre!.group.byteEncode ?? true,
      ignoreMerges: pre!.ignoreMerges,
      escapeWhitespaces,
      newlineWordsWhole: pre!.type === 'gemma4',
      ranks: buildRanks((merges ?? []) as string[]),
    });
  }

  const pieceBytes = (id: number): Uint8Array => ggufPieceBytes(vocab, kind, escapeWhitespaces, id);
  const prefix: number[] = [];
  const suffix: number[] = [];
  if (kind === 'wpm') {
    if (bos === undefined) throw new TokenizerError(`${file}: BERT tokenizer without a [CLS] (bos) token`);
    prefix.push(bos);
    if (sep === undefined) throw new TokenizerError(`${file}: BERT tokenizer without a [SEP] token`);
    suffix.push(sep);
  } else {
    if (addBos) {
      if (bos === undefined) throw new TokenizerError(`${file}: add_bos_token is set but the vocabulary has no BOS token`);
      prefix.push(bos);
    }
    if (addEos) {
      if (eos === undefined) throw new TokenizerError(`${file}: add_eos_token is set but the vocabulary has no EOS token`);
      suffix.push(eos);
    }
  }

  return new CoreTokenizer({
    vocab, model, pieceBytes, bos, eos, addBos, addEos, prefix, suffix, eog,
    removeLeadingSpace: addSpacePrefix ? 'first-token' : 'no',
    cleanSpaces: cleanSpaces ? 'llama' : 'no',
    chatTemplate: getString(metadata, 'tokenizer.chat_template', file),
  });
}

export interface EogIds {
  eos?: number | undefined; eot?: number | undefined; eom?: number | undefined;
  fimPad?: number | undefined; fimRep?: number | undefined; fimSep?: number | undefined;
}

/**
 * llama.cpp's text-based detection of EOT / EOM / FIM tokens and of the end-of-generation set; what
 * it finds becomes CONTROL, and the vocabulary's attributes are adjusted as llama.cpp adjusts them.
 * addedOnly (tokenizer.json): only added tokens qualify, so an ordinary piece such as Qwen's "</s>"
 * stays text, as in tokenizers.
 */
export function detectEog(vocab: Vocab, known: EogIds, addedOnly = false): Set<number> {
  const attrs = vocab.attrs, tokens = vocab.tokens;
  const makeControl = (id: number): void => { attrs[id] = attrs[id]! | ATTR.CONTROL; };
  const lookup = (t: string): number => {
    const id = vocab.id(t);
    return id >= 0 && (!addedOnly || vocab.has(id, ATTR.CONTROL | ATTR.USER_DEFINED | ATTR.UNKNOWN)) ? id : -1;
  };
  const detect = (cur: number | undefined, texts: string[]): number | undefined => {
    if (cur !== undefined) return cur;
    for (const t of texts) {
      const id = lookup(t);
      if (id >= 0) { makeControl(id); return id; }
    }
    return undefined;
  };
  const eot = detect(known.eot, EOT_TEXTS);
  const eom = detect(known.eom, EOM_TEXTS);
  for (const texts of FIM_OTHER_TEXTS) detect(undefined, texts);
  const fimPad = detect(known.fimPad, FIM_PAD_TEXTS);
  const fimRep = detect(known.fimRep, FIM_REP_TEXTS);
  const fimSep = detect(known.fimSep, FIM_SEP_TEXTS);

  for (let id = 0; id < vocab.size; id++) {
    if ((attrs[id]! & ATTR.CONTROL) && tokens[id]!.includes('unused')) attrs[id] = attrs[id]! | ATTR.UNUSED;
  }

  const eog = new Set<number>();
  for (const id of [fimPad, fimRep, fimSep]) if (id !== undefined) eog.add(id);
  for (const t of EOG_TEXTS) {
    const id = lookup(t);
    if (id >= 0) { eog.add(id); makeControl(id); }
  }
  // gpt-oss: always render these
  for (const t of ['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>']) {
    const id = lookup(t);
    if (id >= 0) attrs[id] = ATTR.USER_DEFINED;
  }
  for (const id of [known.eos, eot, eom]) if (id !== undefined) eog.add(id);

  const inEog = (t: string): number | undefined => [...eog].find((id) => tokens[id] === t);
  // o200k_harmony / solar-open: <|end|> ends a message, not the generation, when <|return|>+<|call|> (or <|calls|>+<|flush|>) exist
  const endId = inEog('<|end|>');
  if (endId !== undefined && (inEog('<|call|>') !== undefined || inEog('<|calls|>') !== undefined) &&
      (inEog('<|return|>') !== undefined || inEog('<|flush|>') !== undefined)) {
    eog.delete(endId);
    attrs[endId] = ATTR.USER_DEFINED;
  }
  // Gemma 4 / PaddleOCR: </s> is not the end of generation next to <|tool_response>
  const sId = inEog('</s>');
  if (sId !== undefined && inEog('<|tool_response>') !== undefined) {
    eog.delete(sId);
    attrs[sId] = ATTR.NORMAL;
  }
  return eog;
}

const hexByte = (text: string): number => parseInt(text.slice(3, 5), 16);

/** llama_vocab::impl::token_to_piece with special = true. */
function ggufPieceBytes(vocab: Vocab, kind: ModelKind, escapeWhitespaces: boolean, id: number): Uint8Array {
  const text = vocab.tokens[id]!;
  const attr = vocab.attrs[id]!;
  if (attr & (ATTR.UNKNOWN | ATTR.CONTROL | ATTR.USER_DEFINED)) return utf8Encoder.encode(text);
  if (attr & ATTR.NORMAL) {
    if (kind !== 'bpe' || escapeWhitespaces) return utf8Encoder.encode(text.replaceAll('\u2581', ' '));
    return byteLevelDecode(text);
  }
  if (attr & ATTR.BYTE) return Uint8Array.of(hexByte(text));
  return new Uint8Array(0);
}

/** GPT-2 byte-level chars -> bytes; llama_decode_text spells a char with no byte as [UNK_BYTE_0x..]. */
export function byteLevelDecode(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    const b = c < 512 ? CHAR_TO_BYTE[c]! : -1;
    if (b >= 0) { out.push(b); continue; }
    const hex = [...utf8Encoder.encode(ch)].map((x) => x.toString(16).padStart(2, '0')).join('');
    for (const x of utf8Encoder.encode(`[UNK_BYTE_0x${hex}${text}]`)) out.push(x);
  }
  return Uint8Array.from(out);
}
