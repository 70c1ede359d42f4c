// One HTTP(S) request with the bounds a download needs: a connect timeout, an idle timeout while
// headers or body bytes are awaited, and an AbortSignal. Redirects are the caller's (download.ts
// reads the Hub's 302 headers before following it). Node's http/https rather than fetch: fetch
// has no connect timeout of its own and reports every network fault as "fetch failed".

import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { AbortError } from '../core/errors.js';
import { HubError, describeCause } from './errors.js';

export interface HttpBounds {
  /** Milliseconds to open the connection (TCP and TLS). */
  connectTimeoutMs: number;
  /** Milliseconds without a byte from the server before giving up. */
  idleTimeoutMs: number;
  signal?: AbortSignal;
}

export const DEFAULT_BOUNDS: HttpBounds = { connectTimeoutMs: 10_000, idleTimeoutMs: 30_000 };
/** Redirects followed for one file (the Hub's 302 to its CDN is one). */
export const MAX_REDIRECTS = 5;

function timeoutError(what: string, ms: number): Error {
  return Object.assign(new Error(`${what} timed out after ${ms} ms`), { code: 'ETIMEDOUT' });
}

/** Sends one request; resolves with the response head, its body not yet read (the socket stays bounded by the idle timeout). */
export function send(url: URL, method: 'GET' | 'HEAD', headers: Record<string, string>, bounds: HttpBounds): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
    if (!lib) {
      reject(new HubError('E_HUB_NETWORK', `${url.href}: only http and https URLs can be fetched`));
      return;
    }
    let req: http.ClientRequest;
    try {
      req = lib.request(url, { method, headers: { 'user-agent': 'lutra', ...headers }, signal: bounds.signal });
    } catch (e) {
      reject(new HubError('E_HUB_NETWORK', `${method} ${url.href} failed: ${describeCause(e)}`, { cause: e }));
      return;
    }
    req.on('socket', (socket) => {
      if (!socket.connecting) return;
      const t = setTimeout(() => req.destroy(timeoutError('connecting', bounds.connectTimeoutMs)), bounds.connectTimeoutMs);
      socket.once('connect', () => clearTimeout(t));
      socket.once('close', () => clearTimeout(t));
    });
    req.setTimeout(bounds.idleTimeoutMs, () => req.destroy(timeoutError('waiting for data', bounds.idleTimeoutMs)));
    req.on('error', (e) => {
      if (bounds.signal?.aborted) reject(new AbortError(`${method} ${url.href} interrupted`));
      else reject(new HubError('E_HUB_NETWORK', `${method} ${url.href} failed: ${describeCause(e)}`, { cause: e }));
    });
    req.on('response', resolve);
    req.end();
  });
}

/** The body of a small response (API JSON, error text), refused beyond maxBytes. */
export async function readBody(res: IncomingMessage, url: URL, maxBytes: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of res) {
      n += (chunk as Buffer).length;
      if (n > maxBytes) {
        res.destroy();
        throw new HubError('E_HUB_HTTP', `${url.href}: response larger than ${maxBytes} bytes`);
      }
      parts.push(chunk as Buffer);
    }
  } catch (e) {
    if (e instanceof HubError) throw e;
    throw new HubError('E_HUB_NETWORK', `${url.href}: reading the response failed: ${describeCause(e)}`, { cause: e });
  }
  return Buffer.concat(parts);
}

/** Discards a response's body so its socket is released. */
export function drain(res: IncomingMessage): void {
  res.resume();
  res.on('error', () => {});
}

export function header(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
