// Hugging Face tokenizer.json (+ tokenizer_config.json) -> Tokenizer. The pipeline is HF's:
// added tokens split out first (vocab.ts), then normalizer -> pre-tokenizer -> model per fragment.
// BOS/EOS framing comes from the post-processor, overridden by add_bos_token / add_eos_token in
// the config as transformers does; token bytes follow the decoder chain.

import { TokenizerError } from '../core/errors.js';
import { detectEog } from './from-gguf.js';
import { modelFromJSON, modelVocab, type HfModel } from './hf-models.js';
import { normalizerFromJSON, type Normalizer } from './hf-normalizers.js';
import { preTokenizerFromJSON, type PreTokenizer } from './hf-pre-tokenizers.js';
import { literalRegex, onigRegex } from './hf-regex.js';
import { ATTR, type Tokenizer } from './types.js';
import { CHAR_TO_BYTE, utf8Encoder } from './unicode.js';
import { CoreTokenizer, Vocab, type TextModel } from './vocab.js';

type Json = Record<string, unknown>;

interface AddedToken { id: number; content: string; special?: boolean; lstrip?: boolean; rstrip?: boolean }

class HfPipeline implements TextModel {
  constructor(
    private readonly normalizer: Normalizer | undefined,
    private readonly pre: PreTokenizer | undefined,
    private readonly model: HfModel,
  ) {}

  encode(text: string, out: number[], _afterSpecial: boolean, atStart: boolean): void {
    const normalized = this.normalizer ? this.normalizer(text) : text;
    if (!normalized.length) return;
    const pieces = this.pre ? this.pre.split([{ text: normalized, first: atStart }]) : [{ text: normalized, first: atStart }];
    for (const p of pieces) this.model.tokenize(p.text, out);
  }
}

/** Per-token rendering from the decoder chain: string steps, then bytes. */
interface PieceRule {
  steps: ((t: string) => string)[];
  byteLevel: boolean;
  stripLeadingSpace: boolean;
}

function decoderRule(cfg: unknown, rule: PieceRule = { steps: [], byteLevel: false, stripLeadingSpace: false }): PieceRule {
  if (cfg === null || cfg === undefined) return rule;
  const d = cfg as Json;
  switch (d.type) {
    case 'Sequence':
      for (const s of (d.decoders as unknown[]) ?? []) decoderRule(s, rule);
      break;
    case 'ByteLevel':
      rule.byteLevel = true;
      break;
    case 'Metaspace': {
      const r = (d.replacement as string | undefined) ?? '\u2581';
      rule.steps.push((t) => t.replaceAll(r, ' '));
      const scheme = (d.prepend_scheme as string | undefined) ?? (d.add_prefix_space === false ? 'never' : 'always');
      if (scheme !== 'never') rule.stripLeadingSpace = true;
      break;
    }
    case 'Replace': {
      const p = d.pattern as { String?: string; Regex?: string };
      const re = p.Regex !== undefined ? onigRegex(p.Regex) : literalRegex(p.String ?? '');
      const content = (d.content as string) ?? '';
      rule.steps.push((t) => t.replace(re, () => content));
      break;
    }
    case 'Strip':
      if ((d.content ?? ' ') === ' ' && ((d.start as number | undefined) ?? 0) > 0) rule.stripLeadingSpace = true;
      break;
    case 'WordPiece': {
      // tokenizers cleans each token: of its patterns only " ." " ?" " !" " ," fit inside one WordPiece token
      const prefix = (d.prefix as string | undefined) ?? '##';
      const cleanup = d.cleanup !== false;
      rule.steps.push((t) => (t.startsWith(prefix) ? t.slice(prefix.length) : cleanup && /^[.?!,]$/.test(t) ? t : ' ' + t));
      rule.stripLeadingSpace = true;
      break;
    }
    case 'BPEDecoder': {
      const suffix = (d.suffix as string | undefined) ?? '</w>';
      rule.steps.push((t) => t.replaceAll(suffix, ' '));
      break;
    }
    case 'ByteFallback': // <0xXX> tokens are BYTE tokens already
    case 'Fuse':
      break;
    default:
      throw new TokenizerError(`unknown decoder type '${String(d.type)}' in tokenizer.json`);
  }
  return rule;
}

/** Bytes of a byte-level string, or undefined if some char is not a byte-level char. */
function byteLevelBytes(t: string): Uint8Array | undefined {
  const out = new Uint8Array(t.length);
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    const b = c < 512 ? CHAR_TO_BYTE[c]! : -1;
    if (b < 0) return undefined;
    out[i] = b;
  }
  return out;
}

/** "<s>", {content: "<s>"} (AddedToken dicts) or null. */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

/** Special ids the post-processor puts around a single sequence. */
function framing(pp: unknown, vocab: Vocab): { prefix: number[]; suffix: number[] } {
  const none = { prefix: [], suffix: [] };
  if (pp === null || pp === undefined) return none;
  const c = pp as Json;
  const idOf = (pair: unknown, what: string): number => {
    const [text, id] = pair as [string, number];
    if (typeof id === 'number') return id;
    const found = vocab.id(text);
    if (found < 0) throw new TokenizerError(`post_processor ${what} token ${JSON.stringify(text)} is not in the vocabulary`);
    return found;
  };
  switch (c.type) {
    case 'TemplateProcessing': {
      const specials = (c.special_tokens as Record<string, { ids: number[] }> | undefined) ?? {};
      const prefix: number[] = [], suffix: number[] = [];
      let seenSeq = false;
      for (const item of (c.single as Json[]) ?? []) {
        if (item.Sequence) { seenSeq = true; continue; }
        const st = item.SpecialToken as { id: string } | undefined;
        if (!st) continue;
        const ids = specials[st.id]?.ids ?? [vocab.id(st.id)];
        if (ids.some((i) => i < 0)) throw new TokenizerError(`post_processor special token ${JSON.stringify(st.id)} is not in the vocabulary`);
        (seenSeq ? suffix : prefix).push(...ids);
      }
      return { prefix, suffix };
    }
    case 'BertProcessing':
    case 'RobertaProcessing':
      return { prefix: [idOf(c.cls, 'cls')], suffix: [idOf(c.sep, 'sep')] };
    case 'Sequence': {
      for (const p of (c.processors as unknown[]) ?? []) {
        const f = framing(p, vocab);
        if (f.prefix.length || f.suffix.length) return f;
      }
      return none;
    }
    case 'ByteLevel':
      return none;
    default:
      throw new TokenizerError(`unknown post_processor type '${String(c.type)}' in tokenizer.json`);
  }
}

function chatTemplateOf(cfg: Json): string | undefined {
  const t = cfg.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t as { name: string; template: string }[];
    return (named.find((x) => x.name === 'default') ?? named[0])?.template;
  }
  return undefined;
}

export function tokenizerFromJSON(tokenizerJson: unknown, tokenizerConfig?: unknown, file = 'tokenizer.json'): Tokenizer {
  if (!tokenizerJson || typeof tokenizerJson !== 'object') throw new TokenizerError(`${file}: not a tokenizer.json object`);
  const j = tokenizerJson as Json;
  const cfg = (tokenizerConfig && typeof tokenizerConfig === 'object' ? tokenizerConfig : {}) as Json;
  const m = j.model as Json | undefined;
  if (!m || typeof m !== 'object') throw new TokenizerError(`${file}: tokenizer.json has no "model"`);

  // --- token table: model vocabulary, then added tokens (which may reuse model ids)
  const { pieces, scores } = modelVocab(m);
  const added = ((j.added_tokens as AddedToken[] | undefined) ?? []);
  let size = 0;
  for (const [, id] of pieces) size = Math.max(size, id + 1);
  for (const a of added) size = Math.max(size, a.id + 1);
  const tokens: string[] = new Array(size);
  const attrs = new Uint16Array(size);
  for (const [p, id] of pieces) { tokens[id] = p; attrs[id] = ATTR.NORMAL; }
  if (m.byte_fallback === true) {
    for (const [p, id] of pieces) if (/^<0x[0-9A-F]{2}>$/.test(p)) attrs[id] = ATTR.BYTE;
  }
  const unkText = typeof m.unk_token === 'string' ? m.unk_token : typeof m.unk_id === 'number' ? tokens[m.unk_id] : undefined;
  for (const a of added) {
    tokens[a.id] = a.content;
    attrs[a.id] = (a.special ? (a.content === unkText ? ATTR.UNKNOWN : ATTR.CONTROL) : ATTR.USER_DEFINED) |
      (a.lstrip ? ATTR.LSTRIP : 0) | (a.rstrip ? ATTR.RSTRIP : 0);
  }
  for (let i = 0; i < size; i++) {
    if (tokens[i] === undefined) { tokens[i] = `[UNUSED_${i}]`; attrs[i] = ATTR.UNUSED; }
  }
  if (unkText !== undefined && !added.some((a) => a.content === unkText)) {
    const id = tokens.indexOf(unkText);
    if (id >= 0) attrs[id] = ATTR.UNKNOWN;
  }
  const vocab = new Vocab(tokens, attrs, file);

  // --- pipeline
  const model = modelFromJSON(m, vocab, scores);
  const pipeline = new HfPipeline(normalizerFromJSON(j.normalizer), preTokenizerFromJSON(j.pre_tokenizer), model);

  // --- BOS / EOS framing
  const idOfConfig = (key: string): number | undefined => {
    const text = tokenString(cfg[key]);
    if (text === undefined) return undefined;
    const id = vocab.id(text);
    if (id < 0) throw new TokenizerError(`${file}: tokenizer_config ${key} ${JSON.stringify(text)} is not in the vocabulary`);
    return id;
  };
  let bos = idOfConfig('bos_token');
  let eos = idOfConfig('eos_token');
  let { prefix, suffix } = framing(j.post_processor, vocab);
  if (bos === undefined && prefix.length === 1) bos = prefix[0];
  if (eos === undefined && suffix.length === 1) eos = suffix[suffix.length - 1];
  if (cfg.add_bos_token === true && bos !== undefined && !prefix.includes(bos)) prefix = [bos, ...prefix];
  if (cfg.add_bos_token === false) prefix = prefix.filter((id) => id !== bos);
  if (cfg.add_eos_token === true && eos !== undefined && !suffix.includes(eos)) suffix = [...suffix, eos];
  if (cfg.add_eos_token === false) suffix = suffix.filter((id) => id !== eos);

  const eog = detectEog(vocab, { eos }, true);

  // --- token bytes from the decoder
  const rule = decoderRule(j.decoder);
  const pieceBytes = (id: number): Uint8Array => {
    const a = vocab.attrs[id]!;
    const text = vocab.tokens[id]!;
    if (a & (ATTR.UNKNOWN | ATTR.CONTROL)) return utf8Encoder.encode(text);
    if (a & ATTR.BYTE) return Uint8Array.of(parseInt(text.slice(3, 5), 16));
    if (!(a & (ATTR.NORMAL | ATTR.USER_DEFINED))) return new Uint8Array(0);
    const t = rule.steps.reduce((acc, f) => f(acc), text);
    // tokenizers' ByteLevel decoder keeps a token's own UTF-8 when a char has no byte (added tokens)
    return (rule.byteLevel && byteLevelBytes(t)) || utf8Encoder.encode(t);
  };

  return new CoreTokenizer({
    vocab, model: pipeline, pieceBytes, bos, eos,
    addBos: prefix.length > 0, addEos: suffix.length > 0, prefix, suffix, eog,
    removeLeadingSpace: rule.stripLeadingSpace ? 'first-text' : 'no',
    cleanSpaces: cfg.clean_up_tokenization_spaces === true ? 'transformers' : 'no',
    chatTemplate: chatTemplateOf(cfg),
  });
}
