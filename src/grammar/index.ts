// Structured output: GBNF grammars, the pushdown matcher over code points and tokens, and JSON
// Schema -> GBNF. Re-exports only.

export { Grammar, GrammarError, parseGbnf, type GrammarOptions } from './gbnf.js';
export { matchesGrammar, StackSpace, TextMatcher, decodeUtf8, type PartialUtf8 } from './matcher.js';
export { grammarConstraint, TokenMatcher, vocabIndex, VocabIndex, type TokenMatcherState, type TokenVocab } from './token-matcher.js';
export { GbnfBuilder, SchemaError, schemaToGbnf, jsonGbnf, gbnfLiteral, type SchemaGrammarOptions } from './json-schema.js';
export { LazyGrammar, LazyMatcher, type LazyTriggers } from './lazy.js';
