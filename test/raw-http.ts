// A raw HTTP/1.1 client over one TCP socket, for requests that fetch() refuses to send: absolute-form
// targets, unencoded paths, odd Host headers, bodies that trickle in. Loopback only.

import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Milliseconds from the first byte written to the socket's close (or the response's end). */
  ms: number;
}

/**
 * Send `head` (request line and headers, without the blank line) and `body`, read the response
 * until the server closes the socket or `timeoutMs` passes (then status 0). `trickle` sends the
 * body one byte every `trickle` ms instead of at once.
 */
export function rawRequest(url: string, head: string, body = '', opts: { timeoutMs?: number; trickle?: number } = {}): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const t0 = performance.now();
    const sock = connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (trickleTimer) clearInterval(trickleTimer);
      sock.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const split = text.indexOf('\r\n\r\n');
      const headers: Record<string, string> = {};
      for (const line of text.slice(0, split < 0 ? text.length : split).split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      let payload = split < 0 ? '' : text.slice(split + 4);
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) payload = dechunk(payload);
      resolve({ status: m ? Number(m[1]) : 0, headers, body: Buffer.from(payload, 'latin1').toString('utf8'), ms: performance.now() - t0 });
    };
    const timer = setTimeout(finish, opts.timeoutMs ?? 10_000);
    let trickleTimer: NodeJS.Timeout | undefined;
    sock.on('data', (d) => {
      chunks.push(d);
      // A complete response with a content-length: no need to wait for the close.
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, split));
      if (split >= 0 && cl && Buffer.byteLength(text.slice(split + 4), 'latin1') >= Number(cl[1])) finish();
    });
    sock.on('close', finish);
    sock.on('error', finish);
    sock.on('connect', () => {
      sock.write(`${head}\r\n\r\n`);
      if (!opts.trickle) { if (body) sock.write(body); return; }
      let i = 0;
      trickleTimer = setInterval(() => { if (i < body.length && sock.writable) sock.write(body[i++]!); }, opts.trickle);
    });
  });
}

function dechunk(s: string): string {
  let out = '';
  for (let i = 0; i < s.length;) {
    const eol = s.indexOf('\r\n', i);
    if (eol < 0) break;
    const n = parseInt(s.slice(i, eol), 16);
    if (!(n > 0)) break;
    out += s.slice(eol + 2, eol + 2 + n);
    i = eol + 2 + n + 2;
  }
  return out;
}
