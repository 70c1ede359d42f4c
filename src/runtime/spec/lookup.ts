// Prompt lookup (n-gram) drafting, llama.cpp's ngram-simple: the tokens that followed the most
// recent earlier occurrence of the sequence's last n tokens, trying the longest n first. No model:
// it pays off where the output quotes its context (edits, code, answers over a document).

import { ArgumentError } from '../../core/errors.js';

export interface LookupOptions {
  /** Shortest n-gram matched (default 2). */
  ngramMin?: number;
  /** Longest n-gram matched, tried first (default 4). */
  ngramMax?: number;
}

export function checkLookup(o: LookupOptions): { ngramMin: number; ngramMax: number } {
  const ngramMin = o.ngramMin ?? 2, ngramMax = o.ngramMax ?? Math.max(4, ngramMin);
  if (!Number.isInteger(ngramMin) || ngramMin < 1 || !Number.isInteger(ngramMax) || ngramMax < ngramMin) {
    throw new ArgumentError(`lookup n-gram sizes must be integers with 1 <= ngramMin <= ngramMax, got ${ngramMin}..${ngramMax}`);
  }
  return { ngramMin, ngramMax };
}

/** Up to nDraft tokens continuing `seq` as its last n-gram was continued before; [] when it never occurred. */
export function lookupDraft(seq: readonly number[], nDraft: number, ngramMin = 2, ngramMax = 4): number[] {
  const len = seq.length;
  for (let n = Math.min(ngramMax, len - 1); n >= ngramMin; n--) {
    // The latest earlier start j of the n-gram that has a continuation (j + n < len).
    for (let j = len - n - 1; j >= 0; j--) {
      let k = 0;
      while (k < n && seq[j + k] === seq[len - n + k]) k++;
      if (k === n) return seq.slice(j + n, Math.min(j + n + nDraft, len));
    }
  }
  return [];
}
