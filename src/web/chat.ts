// The chat page served at `/` by `lutra serve`: talks to the server's OpenAI API (SSE) or to an
// engine in this page (chat-worker.ts, model from a URL through the OPFS cache or from a local file).
// Chat mode uses the model's template; Complete mode sends raw text (models without a template).
// Structured output: a response_format (any JSON object, or JSON matching a schema) on both modes,
// and tools with a tool_choice in chat mode; calls are shown in the reply, and the next message
// after a reply with calls is sent as the calls' result (`tool` messages). Pictures (attached,
// pasted or dropped; decoded by the browser with createImageBitmap for the thumbnail and the checks)
// go with the next chat message as OpenAI image_url data URLs, to the server or to the page's engine
// (which needs a projector loaded beside the model).

import { checkImageSize, readImageHeader, sniffImageFormat } from '../vision/image.js';
import { base64, BITMAP_OPTIONS, thumbnail } from './image-bitmap.js';
import type { FromWorker, ModelInfo, ProjectorSource, ToWorker } from './protocol.js';

type Mode = 'chat' | 'text';
type Backend = 'server' | 'page';
interface ToolCall { id: string; type: 'function'; function: { name: string; arguments: string } }
type Part = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };
interface Message { role: 'system' | 'user' | 'assistant' | 'tool'; content: string | Part[]; tool_calls?: ToolCall[]; tool_call_id?: string }
/** A picture waiting for the next message: the data URL sent, and the thumbnail shown. */
interface Attachment { name: string; url: string; width: number; height: number; thumb: HTMLCanvasElement; note: string }
interface ImageTiming { slices: number; tokens: number; encode_ms: number }
interface ToolCallDelta { index: number; id?: string; function: { name?: string; arguments: string } }
interface Chunk { choices: { text?: string; delta?: { content?: string | null; tool_calls?: ToolCallDelta[] }; finish_reason: string | null }[]; timings?: { images?: ImageTiming[] } }

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $('status');
const log = $('log');
const promptBox = $<HTMLTextAreaElement>('prompt');
const sendBtn = $<HTMLButtonElement>('send');
const stopBtn = $<HTMLButtonElement>('stop');
const progress = $<HTMLProgressElement>('progress');
const pageInfo = $('page-info');

let backend: Backend = 'server';
let mode: Mode = 'chat';
let messages: Message[] = [];
let worker: Worker | undefined;
let pageModel: ModelInfo | undefined;
let serverModel: { id: string; chatTemplate: boolean; vision: boolean } | undefined;
let pending: Attachment[] = [];
let stopCurrent: (() => void) | undefined;
let nextId = 1;

function setStatus(state: string, text: string): void {
  status.dataset.state = state;
  status.textContent = text;
}

function radio(name: string): string {
  return (document.querySelector(`input[name=${name}]:checked`) as HTMLInputElement).value;
}

function setMode(m: Mode): void {
  mode = m;
  (document.querySelector(`input[name=mode][value=${m}]`) as HTMLInputElement).checked = true;
  promptBox.placeholder = m === 'chat' ? 'Type a message (Enter to send, Shift+Enter for a new line)' : 'Text to continue (Enter to send)';
}

/** The model behind the chosen engine decides the default mode: no chat template, no chat. */
function syncMode(): void {
  const hasTemplate = backend === 'server' ? serverModel?.chatTemplate : pageModel?.chatTemplate;
  if (hasTemplate === false) setMode('text');
}

/** The server's models (/v1/models) in the model list: each is the server's /model.gguf. */
async function loadModelList(): Promise<void> {
  try {
    const res = await fetch('/v1/models', { headers: authHeaders() });
    if (!res.ok) return;
    const list = $<HTMLSelectElement>('model-list');
    for (const m of ((await res.json()) as { data: { id: string }[] }).data) {
      const o = document.createElement('option');
      o.value = '/model.gguf';
      o.textContent = `${m.id} (this server)`;
      list.append(o);
    }
  } catch { /* no server: the URL field still works */ }
}

/** "12.3 / 45.6 MB · 7.8 MB/s · 4 s left" for a download that started at t0. */
function progressText(phase: string, loaded: number, total: number, t0: number): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const s = (performance.now() - t0) / 1000;
  const rate = s > 0.2 ? loaded / s : 0;
  const eta = rate > 0 && total > loaded ? ` · ${Math.ceil((total - loaded) / rate)} s left` : '';
  return `${phase} ${mb(loaded)} / ${mb(total)} MB${rate ? ` · ${mb(rate)} MB/s` : ''}${eta}`;
}

async function loadServerInfo(): Promise<void> {
  try {
    const h = await (await fetch('/health')).json() as { model: string; chat_template: boolean; vision?: boolean; slots_idle: number; slots_processing: number };
    serverModel = { id: h.model, chatTemplate: h.chat_template, vision: h.vision === true };
    $('server-info').textContent = `${h.model} · ${h.chat_template ? 'chat template' : 'no chat template: Complete mode'}${h.vision ? ' · pictures' : ''}\n${h.slots_idle + h.slots_processing} slot(s)`;
    // The server's projector is at /mmproj.gguf: the page's own engine can load it beside /model.gguf.
    const mm = $<HTMLInputElement>('mmproj-url');
    if (h.vision && !mm.value) mm.value = '/mmproj.gguf';
    syncMode();
  } catch {
    $('server-info').textContent = 'no lutra server answering at this address';
  }
}

function authHeaders(): Record<string, string> {
  const key = $<HTMLInputElement>('api-key').value.trim();
  return key ? { authorization: `Bearer ${key}` } : {};
}

async function* fromServer(kind: Mode, body: object, signal: AbortSignal): AsyncGenerator<Chunk> {
  const res = await fetch(kind === 'chat' ? '/v1/chat/completions' : '/v1/completions', {
    method: 'POST', signal, headers: { 'content-type': 'application/json', ...authHeaders() }, body: JSON.stringify({ ...body, stream: true }),
  });
  if (!res.ok) throw new Error(((await res.json()) as { error: { message: string } }).error.message);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = event.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (data === '[DONE]') return;
      const parsed = JSON.parse(data) as Chunk & { error?: { message: string } };
      if (parsed.error) throw new Error(parsed.error.message);
      yield parsed;
    }
  }
}

async function* fromPage(kind: Mode, body: object, signal: AbortSignal): AsyncGenerator<Chunk> {
  if (!worker || !pageModel) throw new Error('load a model first');
  const id = nextId++;
  const queue: FromWorker[] = [];
  let wake: (() => void) | undefined;
  const onMessage = (e: MessageEvent<FromWorker>) => {
    if ('id' in e.data && e.data.id === id) { queue.push(e.data); wake?.(); }
  };
  worker.addEventListener('message', onMessage);
  const onAbort = () => worker!.postMessage({ type: 'abort', id } satisfies ToWorker);
  signal.addEventListener('abort', onAbort);
  worker.postMessage({ type: 'request', id, kind, body: body as Record<string, unknown> } satisfies ToWorker);
  try {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((r) => { wake = r; });
      const m = queue.shift()!;
      if (m.type === 'chunk') yield m.chunk as Chunk;
      else if (m.type === 'done') return;
      else if (m.type === 'error') throw new Error(m.message);
    }
  } finally {
    worker.removeEventListener('message', onMessage);
    signal.removeEventListener('abort', onAbort);
  }
}

/** The request fields of the Structured output panel; throws naming the box whose JSON does not parse. */
function structuredFields(kind: Mode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const parse = (box: string, text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new Error(`${box}: not JSON (${(e as Error).message})`);
    }
  };
  const format = $<HTMLSelectElement>('output-format').value;
  if (format === 'json_object') out.response_format = { type: 'json_object' };
  else if (format === 'json_schema') {
    const schema = parse('JSON Schema', $<HTMLTextAreaElement>('json-schema').value.trim() || '{}');
    out.response_format = { type: 'json_schema', json_schema: { name: 'page', schema, strict: true } };
  }
  const toolsText = $<HTMLTextAreaElement>('tools').value.trim();
  if (kind === 'chat' && toolsText) {
    const tools = parse('tools', toolsText);
    if (!Array.isArray(tools)) throw new Error('tools: a JSON array of tools is expected');
    // Bare functions ({name, parameters}) are wrapped as OpenAI tools.
    out.tools = tools.map((t: { type?: string; name?: string }) => (t && t.type === undefined && typeof t.name === 'string' ? { type: 'function', function: t } : t));
    out.tool_choice = $<HTMLSelectElement>('tool-choice').value;
  }
  return out;
}

function bubble(cls: string, html?: string): HTMLDivElement {
  const d = document.createElement('div');
  d.className = `msg ${cls}`;
  if (html !== undefined) d.textContent = html;
  log.appendChild(d);
  log.scrollTop = log.scrollHeight;
  return d;
}

/** lutra serve takes 4 MiB bodies by default and base64 adds a third: larger pictures are re-encoded smaller. */
const SEND_LIMIT = 2.5 * 2 ** 20;
/** Longest side of a re-encoded large picture (past what any projector looks at: MiniCPM-V's 9 slices are 1344 a side). */
const SEND_SIDE = 2048;

async function blobUrl(b: Blob): Promise<string> {
  return `data:${b.type};base64,${base64(new Uint8Array(await b.arrayBuffer()))}`;
}

/** A picture the server does not take as it is (not PNG/JPEG, or too large) as PNG, or as a JPEG at most SEND_SIDE a side. */
async function reencode(bitmap: ImageBitmap): Promise<{ url: string; note: string }> {
  const draw = (w: number, h: number) => {
    const c = new OffscreenCanvas(w, h);
    c.getContext('2d')!.drawImage(bitmap, 0, 0, w, h);
    return c;
  };
  const png = await draw(bitmap.width, bitmap.height).convertToBlob({ type: 'image/png' });
  if (png.size <= SEND_LIMIT) return { url: await blobUrl(png), note: ' · sent as PNG' };
  const s = Math.min(1, SEND_SIDE / Math.max(bitmap.width, bitmap.height));
  const w = Math.max(1, Math.round(bitmap.width * s)), h = Math.max(1, Math.round(bitmap.height * s));
  return { url: await blobUrl(await draw(w, h).convertToBlob({ type: 'image/jpeg', quality: 0.92 })), note: ` · sent as a ${w}x${h} JPEG` };
}

/** Why a picture cannot go with the next message right now, or undefined. */
function pictureRefusal(): string | undefined {
  if (mode !== 'chat') return 'pictures go with chat messages: switch to Chat mode';
  if (backend === 'server' && serverModel && !serverModel.vision) return 'the server\'s model takes no pictures: start lutra serve with --mmproj FILE (its projector)';
  if (backend === 'page' && pageModel && pageModel.vision === undefined) return 'the model in this page has no projector: load it again with a projector (mmproj) to send pictures';
  return undefined;
}

/** Decode a picture with the browser (header checked first), keep it for the next message and show its thumbnail. */
async function attach(file: Blob, name: string): Promise<void> {
  try {
    const refusal = pictureRefusal();
    if (refusal) throw new Error(refusal);
    const bytes = new Uint8Array(await file.arrayBuffer());
    const format = sniffImageFormat(bytes);
    if (format) checkImageSize(readImageHeader(bytes, name), name);
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(file, BITMAP_OPTIONS);
    } catch {
      throw new Error(`${name}: ${format ? `${format.toUpperCase()} is truncated or corrupt (the browser could not decode it)` : 'not a picture this browser can decode'}`);
    }
    try {
      const sent = format && bytes.length <= SEND_LIMIT ? { url: `data:image/${format};base64,${base64(bytes)}`, note: '' } : await reencode(bitmap);
      pending.push({ name, ...sent, width: bitmap.width, height: bitmap.height, thumb: thumbnail(bitmap) });
    } finally {
      bitmap.close();
    }
    renderPending();
  } catch (e) {
    bubble('error', (e as Error).message);
    setStatus('error', 'error');
  }
}

async function attachAll(files: Iterable<File>): Promise<void> {
  for (const f of files) await attach(f, f.name || 'pasted picture');
}

function renderPending(): void {
  $('attachments').replaceChildren(...pending.map((a, i) => {
    const d = document.createElement('div');
    d.className = 'pending';
    d.dataset.testid = 'pending-image';
    d.title = `${a.name} · ${a.width}x${a.height}${a.note}`;
    const x = Object.assign(document.createElement('button'), { type: 'button', textContent: '×', title: `remove ${a.name}` });
    x.addEventListener('click', () => { pending.splice(i, 1); renderPending(); });
    d.append(a.thumb, x);
    return d;
  }));
}

async function send(): Promise<void> {
  const text = promptBox.value;
  if ((!text.trim() && pending.length === 0) || stopCurrent) return;
  if (pending.length && mode !== 'chat') {
    bubble('error', pictureRefusal()!);
    setStatus('error', 'error');
    return;
  }
  let extra: Record<string, unknown>;
  try {
    extra = structuredFields(mode);
  } catch (e) {
    bubble('error', (e as Error).message);
    setStatus('error', 'error');
    return;
  }
  promptBox.value = '';
  const temperature = Number($<HTMLInputElement>('temperature').value);
  const maxTokens = Number($<HTMLInputElement>('max-tokens').value);
  const ac = new AbortController();
  stopCurrent = () => ac.abort();
  sendBtn.disabled = true;
  stopBtn.disabled = false;
  let out: HTMLElement;
  let body: object;
  let sent = 0;
  let images: Attachment[] = [];
  if (mode === 'chat') {
    // After a reply with tool calls, the message is the calls' result (pictures wait for a user message).
    const calls = messages.at(-1)?.tool_calls;
    if (!calls?.length) [images, pending] = [pending, []];
    const content: Message['content'] = images.length ? [...images.map((a): Part => ({ type: 'image_url', image_url: { url: a.url } })), { type: 'text', text }] : text;
    const turn: Message[] = calls?.length ? calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: text })) : [{ role: 'user', content }];
    messages.push(...turn);
    sent = turn.length;
    const b = bubble(calls?.length ? 'user tool-result' : 'user', images.length ? undefined : text);
    if (images.length) {
      const thumbs = document.createElement('div');
      thumbs.className = 'thumbs';
      thumbs.dataset.testid = 'sent-images';
      thumbs.append(...images.map((a) => { a.thumb.title = `${a.name} · ${a.width}x${a.height}${a.note}`; return a.thumb; }));
      b.append(thumbs, document.createTextNode(text));
    }
    renderPending();
    const system = $<HTMLTextAreaElement>('system').value.trim();
    body = { messages: system ? [{ role: 'system', content: system }, ...messages] : messages, temperature, max_tokens: maxTokens, ...extra };
    out = bubble('assistant');
  } else {
    body = { prompt: text, temperature, max_tokens: maxTokens, ...extra };
    const b = bubble('completion');
    const p = document.createElement('b');
    p.textContent = text;
    out = document.createElement('span');
    out.dataset.testid = 'completion';
    b.append(p, out);
  }
  out.classList.add('output');
  setStatus('generating', 'generating…');
  const t0 = performance.now();
  let pieces = 0;
  let reply = '';
  let finish: string | null = null;
  let imageTimings: ImageTiming[] | undefined;
  const calls: ToolCall[] = [];
  const callViews: HTMLElement[] = [];
  const text0 = document.createElement('span');
  out.append(text0);
  try {
    const stream = backend === 'server' ? fromServer(mode, body, ac.signal) : fromPage(mode, body, ac.signal);
    for await (const c of stream) {
      const choice = c.choices[0];
      if (!choice) continue;
      const piece = mode === 'chat' ? choice.delta?.content ?? '' : choice.text ?? '';
      if (piece) { reply += piece; pieces++; text0.textContent = reply; log.scrollTop = log.scrollHeight; }
      for (const d of choice.delta?.tool_calls ?? []) {
        const call = (calls[d.index] ??= { id: d.id ?? `call_${d.index}`, type: 'function', function: { name: d.function.name ?? '', arguments: '' } });
        call.function.arguments += d.function.arguments;
        const view = (callViews[d.index] ??= out.appendChild(Object.assign(document.createElement('span'), { className: 'tool-call' })));
        view.dataset.testid = 'tool-call';
        view.dataset.name = call.function.name;
        view.dataset.arguments = call.function.arguments;
        view.textContent = `→ ${call.function.name}(${call.function.arguments})`;
      }
      finish = choice.finish_reason ?? finish;
      imageTimings = c.timings?.images ?? imageTimings;
    }
    if (mode === 'chat') messages.push({ role: 'assistant', content: reply, ...(calls.length ? { tool_calls: calls } : {}) });
    const s = (performance.now() - t0) / 1000;
    const meta = document.createElement('span');
    meta.className = 'meta';
    const pictures = imageTimings?.map((im) => `picture: ${im.slices} slice${im.slices === 1 ? '' : 's'} encoded in ${im.encode_ms.toFixed(0)} ms`).join(' · ');
    meta.dataset.testid = 'meta';
    meta.textContent = `${pieces} tokens · ${(pieces / s).toFixed(1)} tokens/s · ${finish ?? 'stopped'} · ${backend === 'server' ? 'server' : `in page (${pageModel!.kernels})`}${pictures ? ` · ${pictures}` : ''}`;
    out.parentElement!.appendChild(meta);
    setStatus('done', 'done');
  } catch (e) {
    if (ac.signal.aborted) {
      if (mode === 'chat') messages.push({ role: 'assistant', content: reply });
      setStatus('done', 'stopped');
    } else {
      if (mode === 'chat') messages.splice(messages.length - sent, sent);
      // The pictures wait for the next try.
      if (images.length) { pending = [...images, ...pending]; renderPending(); }
      bubble('error', (e as Error).message);
      setStatus('error', 'error');
    }
  } finally {
    stopCurrent = undefined;
    sendBtn.disabled = false;
    stopBtn.disabled = true;
  }
}

// The Hub token lives in this tab's sessionStorage only (never localStorage, never sent to the
// server): the worker sends it to the Hub endpoint's origin and nowhere else.
const TOKEN_KEY = 'lutra.hubToken';
const hubToken = $<HTMLInputElement>('hub-token');
hubToken.value = sessionStorage.getItem(TOKEN_KEY) ?? '';
hubToken.addEventListener('input', () => {
  if (hubToken.value.trim()) sessionStorage.setItem(TOKEN_KEY, hubToken.value.trim());
  else sessionStorage.removeItem(TOKEN_KEY);
});

function loadInPage(): void {
  worker ??= new Worker('/web/chat-worker.js', { type: 'module' });
  const files = Array.from($<HTMLInputElement>('model-file').files ?? []);
  const file = files[0];
  const url = $<HTMLInputElement>('model-url').value.trim();
  const isServerModel = !file && new URL(url, location.href).pathname === '/model.gguf';
  const hub = { endpoint: $<HTMLInputElement>('hub-endpoint').value.trim() || undefined, token: hubToken.value.trim() || undefined };
  const mmprojFile = $<HTMLInputElement>('mmproj-file').files?.[0];
  const mmprojUrl = $<HTMLInputElement>('mmproj-url').value.trim();
  const mmproj: ProjectorSource | undefined = mmprojFile ? { file: mmprojFile } : mmprojUrl ? { url: mmprojUrl, headers: authHeaders() } : undefined;
  const msg: ToWorker = {
    type: 'load',
    // The server's API key goes only to this page's own origin (the worker checks each URL).
    source: files.length > 1 ? { files } : file ? { file } : { url, headers: authHeaders(), hub },
    cache: $<HTMLInputElement>('use-cache').checked,
    name: isServerModel ? serverModel?.id : undefined,
    mmproj,
    backend: $<HTMLSelectElement>('page-backend').value as 'auto' | 'wasm' | 'webgpu',
  };
  pageModel = undefined;
  progress.hidden = false;
  progress.value = 0;
  const what = files.length > 1 ? `${files.length} files` : file ? file.name : url;
  setStatus('loading', `loading ${what}…`);
  pageInfo.textContent = '';
  pageInfo.classList.remove('error');
  let t0 = performance.now(), phase = '';
  $<HTMLButtonElement>('load').disabled = true;
  worker.onmessage = (e: MessageEvent<FromWorker>) => {
    const m = e.data;
    if (m.type === 'progress') {
      if (m.phase !== phase) { phase = m.phase; t0 = performance.now(); }
      progress.max = Math.max(1, m.total);
      progress.value = m.loaded;
      pageInfo.textContent = progressText(m.phase, m.loaded, m.total, t0);
    } else if (m.type === 'loaded') {
      pageModel = m.info;
      progress.hidden = true;
      $<HTMLButtonElement>('load').disabled = false;
      pageInfo.dataset.fromCache = String(m.info.fromCache);
      pageInfo.dataset.files = String(m.info.files);
      pageInfo.textContent = `${m.info.id} · ${m.info.arch} · context ${m.info.nCtx}${m.info.files > 1 ? ` · ${m.info.files} shards` : ''}\nkernels: ${m.info.kernels}\nbackend: ${m.info.backendNote}\n` +
        `${m.info.fromCache ? 'from the OPFS cache' : 'downloaded'} in ${Math.round(m.info.loadMs)} ms\n` +
        `cross-origin isolated: ${m.info.crossOriginIsolated ? 'yes (threads)' : 'no (one thread)'}\n` +
        `pictures: ${m.info.vision ?? 'no (no projector loaded)'}`;
      setStatus('ready', `${m.info.id} ready in this page`);
      syncMode();
    } else if (m.type === 'load-error') {
      progress.hidden = true;
      $<HTMLButtonElement>('load').disabled = false;
      pageInfo.classList.add('error');
      pageInfo.textContent = `Could not load ${what}:\n${m.message}`;
      setStatus('error', 'load failed (see the Engine panel)');
    }
  };
  worker.postMessage(msg);
}

document.querySelectorAll<HTMLInputElement>('input[name=backend]').forEach((r) => r.addEventListener('change', () => {
  backend = radio('backend') as Backend;
  $('server-panel').hidden = backend !== 'server';
  $('page-panel').hidden = backend !== 'page';
  syncMode();
}));
document.querySelectorAll<HTMLInputElement>('input[name=mode]').forEach((r) => r.addEventListener('change', () => setMode(radio('mode') as Mode)));
$('load').addEventListener('click', loadInPage);
$('model-list').addEventListener('change', () => {
  const v = $<HTMLSelectElement>('model-list').value;
  if (v) $<HTMLInputElement>('model-url').value = v;
});
$('clear-cache').addEventListener('click', async () => {
  const root = await navigator.storage.getDirectory();
  await root.removeEntry('lutra-models', { recursive: true }).catch(() => {});
  pageInfo.textContent = 'cache cleared';
});
$('new-chat').addEventListener('click', () => { messages = []; log.textContent = ''; pending = []; renderPending(); });
$('attach').addEventListener('click', () => $<HTMLInputElement>('image-file').click());
$('image-file').addEventListener('change', () => {
  const input = $<HTMLInputElement>('image-file');
  void attachAll(Array.from(input.files ?? [])).then(() => { input.value = ''; });
});
// A picture pasted anywhere on the page, or dropped on the conversation, goes with the next message.
document.addEventListener('paste', (e) => {
  const files = Array.from(e.clipboardData?.files ?? []).filter((f) => f.type.startsWith('image/'));
  if (files.length) { e.preventDefault(); void attachAll(files); }
});
const convo = log.parentElement!;
convo.addEventListener('dragover', (e) => { if (e.dataTransfer?.types.includes('Files')) { e.preventDefault(); convo.classList.add('dragging'); } });
convo.addEventListener('dragleave', () => convo.classList.remove('dragging'));
convo.addEventListener('drop', (e) => {
  convo.classList.remove('dragging');
  if (!e.dataTransfer?.files.length) return;
  e.preventDefault();
  void attachAll(Array.from(e.dataTransfer.files));
});
$('output-format').addEventListener('change', () => { $('schema-panel').hidden = $<HTMLSelectElement>('output-format').value !== 'json_schema'; });
$('composer').addEventListener('submit', (e) => { e.preventDefault(); void send(); });
promptBox.addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); void send(); } });
stopBtn.addEventListener('click', () => stopCurrent?.());
setStatus('idle', '');
void loadServerInfo();
void loadModelList();
