// Resizing, padding and cropping of 8-bit RGB images, bit for bit as llama.cpp's mtmd (img_tool in
// mtmd-image.cpp) does them: Pillow's separable resampler (bilinear, bicubic with a = -0.5,
// Lanczos-3) with weights in 22-bit fixed point, horizontal pass first; the aspect-preserving
// letterbox (PAD_CEIL / PAD_NEAREST) with a fill colour. Float steps are rounded to float32 where
// the C++ computes in float. Not here: which algorithm a projector uses (preprocess.ts).

import type { RgbImage } from './image.js';

export type ResizeAlgo = 'bilinear' | 'bicubic' | 'lanczos';
/** none: stretch to the target; ceil / nearest: keep the aspect, centre it, fill the rest (mtmd's PAD_*). */
export type PadStyle = 'none' | 'ceil' | 'nearest';
export type Rgb = readonly [number, number, number];

const f = Math.fround;
const PRECISION_BITS = 32 - 8 - 2;
const SUPPORT: Record<ResizeAlgo, number> = { bilinear: 1, bicubic: 2, lanczos: 3 };

function sinc(v: number): number {
  if (v === 0) return 1;
  const piV = v * 3.141592653589793;
  return Math.sin(piV) / piV;
}

function filter(algo: ResizeAlgo, x: number): number {
  if (algo === 'lanczos') return -3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0;
  if (x < 0) x = -x;
  if (algo === 'bilinear') return x < 1 ? 1 - x : 0;
  const a = -0.5;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coefficients {
  ksize: number;
  /** Per output pixel: first input index, count. */
  bounds: Int32Array;
  /** Per output pixel, ksize fixed-point weights. */
  weights: Int32Array;
}

/** Pillow's precompute_coeffs: a filter widened by the scale when shrinking, normalized, then fixed point. */
function coefficients(inSize: number, outSize: number, algo: ResizeAlgo): Coefficients {
  const scale = inSize / outSize;
  const filterScale = scale < 1 ? 1 : scale;
  const support = SUPPORT[algo] * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const pre = new Float64Array(outSize * ksize);
  const bounds = new Int32Array(outSize * 2);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter(algo, (x + xmin - center + 0.5) * ss);
      pre[xx * ksize + x] = w;
      ww += w;
    }
    if (ww !== 0) for (let x = 0; x < xmax; x++) pre[xx * ksize + x]! /= ww;
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  const weights = new Int32Array(outSize * ksize);
  const one = 2 ** PRECISION_BITS;
  for (let i = 0; i < weights.length; i++) weights[i] = Math.trunc(pre[i]! * one + (pre[i]! < 0 ? -0.5 : 0.5));
  return { ksize, bounds, weights };
}

const clip8 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);
const HALF = 1 << (PRECISION_BITS - 1);

function horizontal(src: Uint8Array, inW: number, h: number, outW: number, c: Coefficients): Uint8Array {
  const out = new Uint8Array(outW * h * 3);
  for (let y = 0; y < h; y++) {
    const row = y * inW * 3, dst = y * outW * 3;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = c.bounds[xx * 2]!, n = c.bounds[xx * 2 + 1]!, k = xx * c.ksize;
      let s0 = HALF, s1 = HALF, s2 = HALF;
      for (let x = 0, p = row + xmin * 3; x < n; x++, p += 3) {
        const w = c.weights[k + x]!;
        s0 += src[p]! * w; s1 += src[p + 1]! * w; s2 += src[p + 2]! * w;
      }
      out[dst + xx * 3] = clip8(s0 >> PRECISION_BITS);
      out[dst + xx * 3 + 1] = clip8(s1 >> PRECISION_BITS);
      out[dst + xx * 3 + 2] = clip8(s2 >> PRECISION_BITS);
    }
  }
  return out;
}

function vertical(src: Uint8Array, w: number, outH: number, c: Coefficients): Uint8Array {
  const rowLen = w * 3;
  const out = new Uint8Array(rowLen * outH);
  const acc = new Int32Array(rowLen);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = c.bounds[yy * 2]!, n = c.bounds[yy * 2 + 1]!, k = yy * c.ksize;
    acc.fill(HALF);
    for (let y = 0; y < n; y++) {
      const row = (ymin + y) * rowLen, wt = c.weights[k + y]!;
      for (let i = 0; i < rowLen; i++) acc[i]! += src[row + i]! * wt;
    }
    const dst = yy * rowLen;
    for (let i = 0; i < rowLen; i++) out[dst + i] = clip8(acc[i]! >> PRECISION_BITS);
  }
  return out;
}

/** Stretch to width x height with Pillow's resampler (mtmd's resize_pillow). */
export function resample(img: RgbImage, width: number, height: number, algo: ResizeAlgo): RgbImage {
  let data = img.data;
  if (width !== img.width) data = horizontal(data, img.width, img.height, width, coefficients(img.width, width, algo));
  if (height !== img.height) data = vertical(data, width, height, coefficients(img.height, height, algo));
  return { width, height, data: data === img.data ? data.slice() : data };
}

/** An image of one colour. */
export function filled(width: number, height: number, color: Rgb): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) { data[i] = color[0]; data[i + 1] = color[1]; data[i + 2] = color[2]; }
  return { width, height, data };
}

/** mtmd's img_tool::resize: to width x height, stretched (pad 'none') or letterboxed in `padColor`. */
export function resize(img: RgbImage, width: number, height: number, algo: ResizeAlgo, pad: PadStyle = 'ceil', padColor: Rgb = [0, 0, 0]): RgbImage {
  if (img.width === width && img.height === height) return { width, height, data: img.data.slice() };
  if (pad === 'none') return resample(img, width, height, algo);
  const scale = Math.min(f(width / img.width), f(height / img.height));
  const round = pad === 'nearest' ? Math.round : Math.ceil; // std::round on halves away from 0; sizes are positive
  const newW = Math.min(round(f(img.width * scale)), width);
  const newH = Math.min(round(f(img.height * scale)), height);
  const inner = resample(img, newW, newH, algo);
  const out = filled(width, height, padColor);
  const ox = pad === 'nearest' ? Math.round(f((width - newW) / 2)) : Math.trunc((width - newW) / 2);
  const oy = pad === 'nearest' ? Math.round(f((height - newH) / 2)) : Math.trunc((height - newH) / 2);
  for (let y = 0; y < newH; y++) {
    const dy = y + oy;
    if (dy < 0 || dy >= height) continue;
    for (let x = 0; x < newW; x++) {
      const dx = x + ox;
      if (dx < 0 || dx >= width) continue;
      const s = (y * newW + x) * 3, d = (dy * width + dx) * 3;
      out.data[d] = inner.data[s]!; out.data[d + 1] = inner.data[s + 1]!; out.data[d + 2] = inner.data[s + 2]!;
    }
  }
  return out;
}

/** The w x h rectangle at (x, y); it must lie inside the image. */
export function crop(img: RgbImage, x: number, y: number, w: number, h: number): RgbImage {
  if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > img.width || y + h > img.height) {
    throw new RangeError(`crop ${w}x${h} at (${x}, ${y}) is outside the ${img.width}x${img.height} image`);
  }
  const data = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) data.set(img.data.subarray(((y + r) * img.width + x) * 3, ((y + r) * img.width + x + w) * 3), r * w * 3);
  return { width: w, height: h, data };
}
