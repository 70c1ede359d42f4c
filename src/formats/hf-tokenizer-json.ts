// A GGUF SentencePiece vocabulary (tokenizer.ggml.model = "llama") -> a standard HF tokenizer.json,
// the file transformers' LlamaConverter (convert_slow_tokenizer.py) produces: a byte-fallback BPE
// whose merges are derived from the piece scores, the legacy Prepend/Replace normalizer, and the
// Replace/ByteFallback/Fuse/Strip decoder. Writes only; reading tokenizer.json lives in tokenizer/.

export interface SpmVocab {
  tokens: string[];
  scores: ArrayLike<number>;
  /** ggml token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  types?: ArrayLike<number>;
  unkId?: number;
  bosId?: number;
  eosId?: number;
  addBos?: boolean;
  addEos?: boolean;
  /** SentencePiece's add_dummy_prefix (tokenizer.ggml.add_space_prefix); true unless stated. */
  addSpacePrefix?: boolean;
}

const SPACE = '\u2581';
const TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_USER_DEFINED = 4;

/**
 * transformers' generate_merges(vocab, vocab_scores) with LlamaConverter's vocab (the first three
 * pieces scored 0): every split of every piece into two pieces that are both in the vocabulary,
 * ordered by the merged piece's score, then by the lengths of the left and right pieces (all
 * descending, stable), ties broken by vocabulary ids of the parts.
 */
export function spmMerges(tokens: string[], scores: ArrayLike<number>): Array<[string, string]> {
  const vocab = new Map<string, number>();
  tokens.forEach((t, i) => vocab.set(t, i));
  const vocabScores = new Map<string, number>();
  tokens.forEach((t, i) => vocabScores.set(t, i < 3 ? 0 : scores[i]!));
  const merges: Array<{ l: string; r: string; score: number; nl: number; nr: number }> = [];
  for (const [piece, score] of vocabScores) {
    const cps = Array.from(piece);
    const local: typeof merges = [];
    for (let i = 1; i < cps.length; i++) {
      const l = cps.slice(0, i).join(''), r = cps.slice(i).join('');
      if (vocab.has(l) && vocab.has(r)) local.push({ l, r, score, nl: i, nr: cps.length - i });
    }
    local.sort((a, b) => vocab.get(a.l)! - vocab.get(b.l)! || vocab.get(a.r)! - vocab.get(b.r)!);
    for (const m of local) merges.push(m);
  }
  merges.sort((a, b) => b.score - a.score || b.nl - a.nl || b.nr - a.nr);
  return merges.map((m) => [m.l, m.r]);
}

/** The tokenizer.json object (serialize with JSON.stringify). */
export function spmTokenizerJson(v: SpmVocab): Record<string, unknown> {
  const { tokens } = v;
  const unkId = v.unkId ?? 0;
  const addSpacePrefix = v.addSpacePrefix ?? true;
  const addBos = v.addBos ?? true;
  const addEos = v.addEos ?? false;

  // A null-prototype object, so a piece named "__proto__" is just a key.
  const vocab: Record<string, number> = Object.create(null);
  tokens.forEach((t, i) => (vocab[t] = i)); // a repeated piece keeps its last id, as in transformers
  const merges = spmMerges(tokens, v.scores);
  const mergesOut = merges.some(([l, r]) => l.includes(' ') || r.includes(' ')) ? merges : merges.map(([l, r]) => `${l} ${r}`);

  const specialIds = new Set([v.unkId, v.bosId, v.eosId].filter((x): x is number => x !== undefined && x >= 0 && x < tokens.length));
  const added: Array<Record<string, unknown>> = [];
  for (let i = 0; i < tokens.length; i++) {
    const type = v.types?.[i];
    const isSpecial = specialIds.has(i) || type === TYPE_CONTROL || type === TYPE_UNKNOWN;
    if (!isSpecial && type !== TYPE_USER_DEFINED) continue;
    added.push({ id: i, content: tokens[i], single_word: false, lstrip: false, rstrip: false, normalized: false, special: isSpecial });
  }

  const bos = v.bosId !== undefined ? tokens[v.bosId] : undefined;
  const eos = v.eosId !== undefined ? tokens[v.eosId] : undefined;
  const seq = (id: 'A' | 'B', typeId: number): unknown => ({ Sequence: { id, type_id: typeId } });
  const special = (tok: string, typeId: number): unknown => ({ SpecialToken: { id: tok, type_id: typeId } });
  const single: unknown[] = [], pair: unknown[] = [];
  const specialTokens: Record<string, unknown> = Object.create(null);
  if (addBos && bos !== undefined) {
    single.push(special(bos, 0));
    specialTokens[bos] = { id: bos, ids: [v.bosId], tokens: [bos] };
  }
  single.push(seq('A', 0));
  if (addEos && eos !== undefined) {
    single.push(special(eos, 0));
    specialTokens[eos] = { id: eos, ids: [v.eosId], tokens: [eos] };
  }
  pair.push(...single);
  if (addBos && bos !== undefined) pair.push(special(bos, 1));
  pair.push(seq('B', 1));
  if (addEos && eos !== undefined) pair.push(special(eos, 1));

  const normalizers: unknown[] = [];
  if (addSpacePrefix) normalizers.push({ type: 'Prepend', prepend: SPACE });
  normalizers.push({ type: 'Replace', pattern: { String: ' ' }, content: SPACE });
  const decoders: unknown[] = [
    { type: 'Replace', pattern: { String: SPACE }, content: ' ' },
    { type: 'ByteFallback' },
    { type: 'Fuse' },
  ];
  if (addSpacePrefix) decoders.push({ type: 'Strip', content: ' ', start: 1, stop: 0 });

  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'Sequence', normalizers },
    pre_tokenizer: null,
    post_processor: { type: 'TemplateProcessing', single, pair, special_tokens: specialTokens },
    decoder: { type: 'Sequence', decoders },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: tokens[unkId] ?? '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: mergesOut,
    },
  };
}
