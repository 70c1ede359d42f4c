// Image bytes -> 8-bit RGB pixels: PNG (fast-png) and JPEG (jpeg-js), both pure JavaScript. The
// header is read first and the size checked against limits before a pixel is allocated, so a
// 20000x20000 PNG of a few hundred bytes costs nothing. Channels are reduced to RGB as llama.cpp's
// stb_image does with three channels asked (alpha dropped, gray replicated, 16 bits >> 8, low-bit
// gray scaled to 0..255). Not here: resizing and normalization (resize.ts, preprocess.ts), reading
// files (the CLI and server do that) and the browser, which decodes with createImageBitmap.

import { decode as decodePng } from 'fast-png';
import { decode as decodeJpeg } from 'jpeg-js';
import { FormatError, LutraError } from '../core/errors.js';

/** Interleaved 8-bit RGB, row-major: data[(y * width + x) * 3 + c]. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export type ImageFormat = 'png' | 'jpeg';

export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

export interface ImageLimits {
  /** Most pixels (width x height) an image may have; decoding allocates ~4 bytes each. */
  maxPixels: number;
  /** Longest side in pixels. */
  maxSide: number;
}

/** 40 Mpx (a 7300x5500 photo) and 32768 pixels a side: far past what any projector looks at. */
export const DEFAULT_IMAGE_LIMITS: ImageLimits = { maxPixels: 40_000_000, maxSide: 32_768 };

/** The image is larger than the limits allow (checked from its header). */
export class ImageTooLargeError extends LutraError {
  constructor(message: string) {
    super('E_IMAGE_TOO_LARGE', message);
  }
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Which format the bytes start like, or undefined. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

const u16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number) => ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);

function pngHeader(bytes: Uint8Array, name: string): ImageHeader {
  // IHDR must be the first chunk: length 13, then width, height (big-endian u32), depth, color type.
  if (bytes.length < 33) throw new FormatError(name, `PNG truncated in its header (${bytes.length} bytes)`);
  if (u32(bytes, 8) !== 13 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') {
    throw new FormatError(name, 'PNG does not start with an IHDR chunk', 8);
  }
  const width = u32(bytes, 16), height = u32(bytes, 20), depth = bytes[24]!, colorType = bytes[25]!;
  const depths: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
  if (!depths[colorType]?.includes(depth)) {
    throw new FormatError(name, `PNG color type ${colorType} with bit depth ${depth} is not valid`, 24);
  }
  return { format: 'png', width, height };
}

// SOF0..SOF15 less DHT (C4), JPG (C8) and DAC (CC): the markers that carry the frame size.
const JPEG_SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

function jpegHeader(bytes: Uint8Array, name: string): ImageHeader {
  let o = 2;
  while (o + 4 <= bytes.length) {
    if (bytes[o] !== 0xff) throw new FormatError(name, `JPEG marker expected, found byte 0x${bytes[o]!.toString(16)}`, o);
    const marker = bytes[o + 1]!;
    if (marker === 0xff) { o += 1; continue; } // fill byte
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { o += 2; continue; } // no length
    if (marker === 0xd9 || marker === 0xda) break; // end of image / start of scan before any frame
    const len = u16(bytes, o + 2);
    if (len < 2) throw new FormatError(name, `JPEG segment 0x${marker.toString(16)} has length ${len}`, o + 2);
    if (JPEG_SOF.has(marker)) {
      if (o + 9 > bytes.length) break;
      const height = u16(bytes, o + 5), width = u16(bytes, o + 7);
      if (height === 0) throw new FormatError(name, 'JPEG height is 0 (defined later by a DNL marker): not supported', o + 5);
      return { format: 'jpeg', width, height };
    }
    o += 2 + len;
  }
  throw new FormatError(name, 'JPEG truncated or corrupt: no frame header (SOF) before the image data', Math.min(o, bytes.length));
}

/** Format and size from the first bytes, without decoding; throws FormatError naming `name`. */
export function readImageHeader(bytes: Uint8Array, name: string): ImageHeader {
  const format = sniffImageFormat(bytes);
  if (format === 'png') return pngHeader(bytes, name);
  if (format === 'jpeg') return jpegHeader(bytes, name);
  throw new FormatError(name, 'not a PNG or JPEG image (unknown signature)');
}

/** Throws ImageTooLargeError (naming the image) when the header's size is past the limits or zero. */
export function checkImageSize(header: ImageHeader, name: string, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): void {
  const { width, height } = header;
  if (width === 0 || height === 0) throw new FormatError(name, `${header.format.toUpperCase()} has an empty size ${width}x${height}`);
  if (width > limits.maxSide || height > limits.maxSide || width * height > limits.maxPixels) {
    throw new ImageTooLargeError(
      `${name}: image is ${width}x${height} (${(width * height / 1e6).toFixed(1)} Mpx); the limit is ` +
      `${(limits.maxPixels / 1e6).toFixed(1)} Mpx and ${limits.maxSide} pixels a side`);
  }
}

/** PNG or JPEG bytes -> RGB. `name` (a file name or "image 2 of the request") is in every error. */
export function decodeImage(bytes: Uint8Array, name: string, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): RgbImage {
  const header = readImageHeader(bytes, name);
  checkImageSize(header, name, limits);
  try {
    return header.format === 'png' ? pngToRgb(bytes, header) : jpegToRgb(bytes, header, limits);
  } catch (e) {
    if (e instanceof LutraError) throw e;
    throw new FormatError(name, `${header.format.toUpperCase()} ${header.width}x${header.height} is truncated or corrupt: ${(e as Error).message}`);
  }
}

function pngToRgb(bytes: Uint8Array, header: ImageHeader): RgbImage {
  const png = decodePng(bytes);
  const { width, height, depth, channels } = png;
  if (width !== header.width || height !== header.height) throw new Error(`decoded size ${width}x${height} differs from the header`);
  // fast-png keeps depths below 8 packed, one row padded to a byte; unpack to one sample a value.
  const rowSamples = width * channels;
  const rowBytes = depth < 8 ? Math.ceil(rowSamples * depth / 8) : rowSamples;
  if (png.data.length < rowBytes * height) throw new Error(`image data ends after ${png.data.length} of ${rowBytes * height} samples`);
  const sample = (y: number, i: number): number => {
    if (depth === 8) return png.data[y * rowBytes + i]!;
    if (depth === 16) return png.data[y * rowBytes + i]! >> 8;
    const bit = i * depth, byte = png.data[y * rowBytes + (bit >> 3)]!;
    return (byte >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
  };
  const out = new Uint8Array(width * height * 3);
  const palette = png.palette;
  // stb_image scales low-bit gray to the full range (1 bit x255, 2 bits x85, 4 bits x17).
  const grayScale = palette || depth >= 8 ? 1 : 255 / ((1 << depth) - 1);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3, s = x * channels;
      if (palette) {
        const entry = palette[sample(y, s)];
        if (!entry) throw new Error(`palette index ${sample(y, s)} past the palette's ${palette.length} entries`);
        out[o] = entry[0]!; out[o + 1] = entry[1]!; out[o + 2] = entry[2]!;
      } else if (channels >= 3) {
        out[o] = sample(y, s); out[o + 1] = sample(y, s + 1); out[o + 2] = sample(y, s + 2);
      } else {
        out[o] = out[o + 1] = out[o + 2] = sample(y, s) * grayScale;
      }
    }
  }
  return { width, height, data: out };
}

function jpegToRgb(bytes: Uint8Array, header: ImageHeader, limits: ImageLimits): RgbImage {
  const img = decodeJpeg(bytes, {
    useTArray: true, formatAsRGBA: false, tolerantDecoding: false,
    maxResolutionInMP: limits.maxPixels / 1e6,
    // jpeg-js counts its component planes and the output; ~8 bytes a pixel covers 4:4:4 with room.
    maxMemoryUsageInMB: Math.max(64, Math.ceil(limits.maxPixels * 8 / 2 ** 20)),
  });
  if (img.width !== header.width || img.height !== header.height) throw new Error(`decoded size ${img.width}x${img.height} differs from the header`);
  return { width: img.width, height: img.height, data: img.data };
}
