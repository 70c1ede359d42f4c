// Errors of the Hugging Face Hub client. Each names the URL or the cache path it concerns and,
// for network faults, the system error code (ECONNREFUSED, ETIMEDOUT), never a bare "fetch failed".

import { LutraError } from '../core/errors.js';

export type HubErrorCode =
  | 'E_HUB_REF' // a reference lutra cannot parse, or one that picks no file / several files
  | 'E_HUB_NETWORK' // connect / read failure, timeout, too many redirects, cut connection
  | 'E_HUB_HTTP' // an HTTP status the client has no better words for
  | 'E_HUB_AUTH' // 401 / 403: gated or private repo, or a token without access
  | 'E_HUB_NOT_FOUND' // 404: repo, revision or file
  | 'E_HUB_INTEGRITY' // size or checksum differs from what the Hub announced
  | 'E_HUB_OFFLINE' // HF_HUB_OFFLINE is set and the cache does not hold what was asked for
  | 'E_HUB_CACHE'; // the cache folder cannot be read or written, or another process holds a download

export class HubError extends LutraError {
  constructor(code: HubErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9`, from an error or the error it wraps. */
export function describeCause(e: unknown): string {
  const seen = new Set<unknown>();
  let cur: unknown = e;
  while (cur instanceof Error && !seen.has(cur)) {
    seen.add(cur);
    const code = (cur as NodeJS.ErrnoException).code;
    if (code && !(cur instanceof LutraError)) return cur.message.includes(code) ? cur.message : `${code}: ${cur.message}`;
    if (!cur.cause) break;
    cur = cur.cause;
  }
  return e instanceof Error ? e.message : String(e);
}
