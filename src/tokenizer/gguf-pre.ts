// llama.cpp's BPE pre-tokenizers, keyed by the GGUF `tokenizer.ggml.pre` value: which regex list
// (run by regex-split.ts) and which vocab flags each name implies (llama_vocab::impl::load). The regex
// strings are llama.cpp's adapted forms (no inline (?i:..), no possessive quantifiers), kept verbatim
// because several are matched by exact text to a hand-written splitter.

import { TokenizerError } from '../core/errors.js';

export interface PreGroup {
  readonly exprs: readonly string[];
  /** false: SPM-style BPE on raw UTF-8 (Gemma 4, Sarvam) instead of GPT-2 byte-level chars. */
  readonly byteEncode?: boolean;
}

// One entry per LLAMA_VOCAB_PRE_TYPE_* with its own regex list; names sharing a list map to one group below.
const GROUPS: Record<string, PreGroup> = {
  // llama3
  llama3: { exprs: [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ] },
  // jais2
  jais2: { exprs: [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
  ] },
  // dbrx, smaug
  dbrx: { exprs: [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ] },
  // deepseek_llm
  deepseek_llm: { exprs: [
    "[\r\n]",
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+",
  ] },
  // deepseek3_llm, hunyuan_dense, joyai_llm
  deepseek3_llm: { exprs: [
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
  ] },
  // youtu
  youtu: { exprs: [
    "[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ] },
  // deepseek_coder
  deepseek_coder: { exprs: [
    "[\r\n]",
    "\\s?\\p{L}+",
    "\\s?\\p{P}+",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}",
  ] },
  // falcon
  falcon: { exprs: [
    "[\\p{P}\\$\\+<=>\\^~\\|`]+",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    "[0-9][0-9][0-9]",
  ] },
  // starcoder, refact, command_r, smollm, codeshell, exaone, minerva, mellum2
  starcoder: { exprs: [
    "\\p{N}",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
  ] },
  // gpt2, mpt, olmo, jais, trillion, granite_docling
  gpt2: { exprs: [
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
  ] },
  // stablelm2, qwen2, hunyuan, solar_open
  stablelm2: { exprs: [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ] },
  // qwen35
  qwen35: { exprs: [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ] },
  // poro, bloom, gpt3_finnish
  poro: { exprs: [
    " ?[^(\\s|.,!?…。，、।۔،)]+",
  ] },
  // chatglm4
  chatglm4: { exprs: [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ] },
  // viking
  viking: { exprs: [
    " ?[^(\\s|.,!?…。，、।۔،)]+",
    "\\p{N}",
  ] },
  // tekken
  tekken: { exprs: [
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ] },
  // chameleon
  chameleon: { exprs: [
    "<sentinel:[0-9]+>",
    "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
    "([\\t\\n]|    |  )",
    "\\p{N}",
    "[\\p{P}!-/:-@\\[-`{-~]",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
  ] },
  // gpt4o, minimax_m2
  gpt4o: { exprs: [
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ] },
  // granite_emb_multi
  granite_emb_multi: { exprs: [
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ] },
  // tiny_aya
  tiny_aya: { exprs: [
    "\\d{1,3}(?=(?:\\d{3})*\\b)",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ] },
  // kimi_k2
  kimi_k2: { exprs: [
    "\\p{Han}+",
  ] },
  // superbpe
  superbpe: { exprs: [
    "\\p{N}+",
    "(?=(\\d{3})+(?!\\d))",
  ] },
  // bailingmoe
  bailingmoe: { exprs: [
    "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
  ] },
  // seed_coder
  seed_coder: { exprs: [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ] },
  // grok_2
  grok_2: { exprs: [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ] },
  // afmoe
  afmoe: { exprs: [
    "\\p{AFMoE_digits}",
    "[一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ] },
  // exaone_moe
  exaone_moe: { exprs: [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
  ] },
  // gemma4
  gemma4: { exprs: [
    "[^\\n]+|[\\n]+",
  ], byteEncode: false },
  // sarvam_moe
  sarvam_moe: { exprs: [
    "[^\\n]+|[\\n]+",
  ], byteEncode: false },
  // minicpm5
  minicpm5: { exprs: [
    "\\p{N}{1,3}",
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ] },
  // whitespace
  whitespace: { exprs: [
    "\\S+",
  ], byteEncode: false },
  // default
  default: { exprs: [
    "[\\p{P}\\$\\+<=>\\^~\\|]+",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    "\\p{N}+",
    "[0-9][0-9][0-9]",
  ] },};

export interface PreSpec {
  readonly name: string;
  readonly group: PreGroup;
  /** Type name as in llama.cpp (LLAMA_VOCAB_PRE_TYPE_<TYPE>), used where behaviour depends on it. */
  readonly type: string;
  readonly ignoreMerges: boolean;
  readonly cleanSpaces: boolean;
  readonly addBos: boolean;
  readonly escapeWhitespaces: boolean;
  readonly noBos: boolean;
  readonly lowercase?: boolean;
}

// addSep (jina/roberta) only matters to llama.cpp's embedding callers, which append SEP themselves.
type Flag = 'ignoreMerges' | 'noClean' | 'addBos' | 'addSep' | 'escapeWs' | 'noBos' | 'noLowercase';

// [names, pre type, flags]: the if/else chain of llama_vocab::impl::load, in its order.
const NAMES: [string[], string, Flag[]][] = [
  [['default'], 'default', []],
  [['minicpm5'], 'minicpm5', ['ignoreMerges']],
  [['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2', 'jina-v5-nano'], 'llama3', ['ignoreMerges', 'addBos']],
  [['deepseek-llm'], 'deepseek_llm', ['noClean']],
  [['deepseek-coder'], 'deepseek_coder', ['noClean']],
  [['deepseek-v3'], 'deepseek3_llm', ['noClean']],
  [['youtu'], 'youtu', ['noClean', 'ignoreMerges']],
  [['falcon'], 'falcon', []],
  [['mpt'], 'mpt', []],
  [['starcoder'], 'starcoder', []],
  [['gpt-2', 'phi-2', 'jina-es', 'jina-de', 'gigachat', 'jina-v2-es', 'jina-v2-de', 'a.x-4.0', 'mellum', 'modern-bert'], 'gpt2', []],
  [['jais-2'], 'jais2', []],
  [['gemma4', 'granite-embed-multi-311m'], 'gemma4', ['escapeWs']],
  [['sarvam-moe'], 'sarvam_moe', ['escapeWs', 'noClean']],
  [['jina-v1-en', 'jina-v2-code', 'roberta-bpe'], 'gpt2', ['addSep']],
  [['whitespace'], 'whitespace', ['noLowercase']],
  [['refact'], 'refact', []],
  [['command-r'], 'command_r', ['noClean']],
  [['qwen2', 'deepseek-r1-qwen', 'kormo', 'f2llmv2', 'megrez'], 'qwen2', ['noClean']],
  [['qwen35'], 'qwen35', ['noClean']],
  [['stablelm2'], 'stablelm2', []],
  [['olmo'], 'olmo', []],
  [['dbrx'], 'dbrx', []],
  [['smaug-bpe'], 'smaug', []],
  [['poro-chat'], 'poro', ['noClean']],
  [['glm4', 'chatglm-bpe'], 'chatglm4', ['noBos']],
  [['viking'], 'viking', ['noClean']],
  [['jais'], 'jais', []],
  [['tekken'], 'tekken', ['noClean', 'ignoreMerges', 'addBos']],
  [['smollm'], 'smollm', ['noClean']],
  [['codeshell'], 'codeshell', []],
  [['bloom'], 'bloom', []],
  [['gpt3-finnish'], 'gpt3_finnish', []],
  [['exaone'], 'exaone', []],
  [['exaone4'], 'gpt2', []],
  [['exaone-moe'], 'exaone_moe', []],
  [['chameleon'], 'chameleon', ['addBos', 'noClean']],
  [['minerva-7b'], 'minerva', []],
  [['gpt-4o', 'llama4', 'kanana2', 'talkie'], 'gpt4o', ['noClean']],
  [['granite-embed-multi-97m'], 'granite_emb_multi', ['noClean', 'ignoreMerges']],
  [['tiny_aya', 'cohere2moe'], 'tiny_aya', ['noClean']],
  [['superbpe'], 'superbpe', ['noClean']],
  [['trillion'], 'trillion', ['noClean']],
  [['granite-docling'], 'granite_docling', ['noClean']],
  [['bailingmoe', 'bailingmoe2', 'llada-moe'], 'bailingmoe', ['noClean']],
  [['seed-coder'], 'seed_coder', ['noClean']],
  [['hunyuan'], 'hunyuan', ['noClean']],
  [['hunyuan-dense'], 'hunyuan_dense', ['noClean']],
  [['joyai-llm'], 'joyai_llm', ['noClean']],
  [['kimi-k2'], 'kimi_k2', ['noClean']],
  [['grok-2'], 'grok_2', ['noClean']],
  [['afmoe'], 'afmoe', ['noClean']],
  [['minimax-m2'], 'minimax_m2', ['noClean']],
  [['solar-open'], 'solar_open', ['noClean']],
  [['mellum2'], 'mellum2', []],
];

// pre types that reuse another type's regex list (the shared `case` labels in llm_tokenizer_bpe)
const SAME_LIST: Record<string, string> = {
  smaug: 'dbrx', hunyuan_dense: 'deepseek3_llm', joyai_llm: 'deepseek3_llm',
  refact: 'starcoder', command_r: 'starcoder', smollm: 'starcoder', codeshell: 'starcoder', exaone: 'starcoder',
  minerva: 'starcoder', mellum2: 'starcoder',
  mpt: 'gpt2', olmo: 'gpt2', jais: 'gpt2', trillion: 'gpt2', granite_docling: 'gpt2',
  qwen2: 'stablelm2', hunyuan: 'stablelm2', solar_open: 'stablelm2',
  bloom: 'poro', gpt3_finnish: 'poro', minimax_m2: 'gpt4o',
};

const BY_NAME = new Map<string, PreSpec>();
for (const [names, type, flags] of NAMES) {
  const group = GROUPS[SAME_LIST[type] ?? type];
  if (!group) throw new Error(`pre-tokenizer table: no regex list for type ${type}`);
  for (const name of names) {
    BY_NAME.set(name, {
      name, group, type,
      ignoreMerges: flags.includes('ignoreMerges'),
      cleanSpaces: !flags.includes('noClean'),
      addBos: flags.includes('addBos'),
      escapeWhitespaces: flags.includes('escapeWs'),
      noBos: flags.includes('noBos'),
      ...(flags.includes('noLowercase') ? { lowercase: false } : {}),
    });
  }
}

/** The pre-tokenizer llama.cpp would pick for `tokenizer.ggml.pre` (absent: "default", as llama.cpp with a warning). */
export function preTokenizerByName(name: string | undefined, file: string): PreSpec {
  const spec = BY_NAME.get(name ?? 'default');
  if (!spec) throw new TokenizerError(`${file}: unknown pre-tokenizer tokenizer.ggml.pre = '${name}' (known: ${[...BY_NAME.keys()].join(', ')})`);
  return spec;
}

export const knownPreTokenizers = (): string[] => [...BY_NAME.keys()];
