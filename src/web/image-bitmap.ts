// Pictures in the browser, decoded by the browser (createImageBitmap), not by the pure-JavaScript
// decoders Node uses: RGB from a bitmap for the engine (chat-worker.ts's ImageDecoder), and the
// page's attachments (chat.ts: thumbnail, size, the bytes a data URL carries). No imports, so the
// page and the worker each bundle it without the engine.

/** Decoding options that keep the file's values: no color-space conversion, alpha not premultiplied. */
export const BITMAP_OPTIONS: ImageBitmapOptions = { colorSpaceConversion: 'none', premultiplyAlpha: 'none' };

/** Interleaved 8-bit RGB of a bitmap, alpha dropped (as stb_image does with three channels asked). */
export function bitmapToRgb(bitmap: ImageBitmap): { width: number; height: number; data: Uint8Array } {
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const g = canvas.getContext('2d', { willReadFrequently: true });
  if (!g) throw new Error('no 2D canvas to read the picture\'s pixels');
  g.drawImage(bitmap, 0, 0);
  const rgba = g.getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < data.length; i += 3, j += 4) { data[i] = rgba[j]!; data[i + 1] = rgba[j + 1]!; data[i + 2] = rgba[j + 2]!; }
  return { width, height, data };
}

/** Longest side of the thumbnails shown in the conversation, CSS pixels. */
const THUMB = 96;

/** A small canvas with the picture scaled to fit THUMB x THUMB. */
export function thumbnail(bitmap: ImageBitmap): HTMLCanvasElement {
  const s = Math.min(1, THUMB / Math.max(bitmap.width, bitmap.height));
  const c = document.createElement('canvas');
  c.width = Math.max(1, Math.round(bitmap.width * s));
  c.height = Math.max(1, Math.round(bitmap.height * s));
  c.getContext('2d')!.drawImage(bitmap, 0, 0, c.width, c.height);
  return c;
}

/** base64 of bytes, in chunks (String.fromCharCode on a whole photo overflows the argument stack). */
export function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
