export function tokenizerFromJSON(_j: unknown, _c?: unknown, _f?: string): import('./types.js').Tokenizer { throw new Error('todo'); }
