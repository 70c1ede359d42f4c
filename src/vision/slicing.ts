// From RGB pixels to what the encoder eats, as llama.cpp's mtmd does it for the projectors lutra
// runs: the size arithmetic (MiniCPM-V's LLaVA-UHD grid, refined size and slice rectangles;
// idefics3's longest-edge tiling; LLaVA's fixed square), the resizes (resize.ts), normalization
// with the file's mean/std into CHW float planes, and the special tokens around and between the
// slices (ImageLayout). Geometry is kept apart from pixels (sliceInstructions) so the layout of a
// 20000-pixel-wide image can be checked without one. Float steps mirror the C++ float arithmetic.

import { UnsupportedError } from '../core/errors.js';
import type { RgbImage } from './image.js';
import { crop, resize, type PadStyle, type ResizeAlgo, type Rgb } from './resize.js';
import type { ClipHparams, ImageLayout, LayoutItem, PreparedImage, PreparedSlice } from './types.js';

const f = Math.fround;

export interface Size { width: number; height: number }
export interface Rect extends Size { x: number; y: number }

/** How one image is cut: the overview's size, then (when sliced) the refined image and its grid of rectangles. */
export interface SliceInstructions {
  overview: Size;
  /** 0 x 0 when the image is not sliced. */
  refined: Size;
  gridCols: number;
  gridRows: number;
  slices: Rect[];
  /** Where the overview goes among the slices' tokens: mtmd's ov_img_first. */
  overviewFirst: boolean;
  /** idefics3 with a preprocessor size: the aspect-preserving size the image is scaled to before the refined one. */
  resized?: Size;
}

/** The resampler versions mtmd knows (`clip.minicpmv_version`); others are refused. */
const MINICPMV_VERSIONS = new Set([2, 3, 4, 5, 6, 100045]);
/** LLaVA's letterbox colour (mtmd sets it for every mlp projector). */
const LLAVA_PAD: Rgb = [122, 116, 104];
const MAX_SLICE_NUMS = 9;

// ---- LLaVA-UHD size arithmetic (mtmd_image_preprocessor_llava_uhd) ----

function ensureDivide(length: number, patch: number): number {
  return Math.max(Math.round(f(length / patch)) * patch, patch);
}

function bestResize(size: Size, scaleResolution: number, patch: number, allowUpscale: boolean): Size {
  let { width, height } = size;
  if (width * height > scaleResolution * scaleResolution || allowUpscale) {
    const r = f(width / height);
    height = Math.trunc(f(scaleResolution / f(Math.sqrt(r))));
    width = Math.trunc(f(height * r));
  }
  return { width: ensureDivide(width, patch), height: ensureDivide(height, patch) };
}

function refineSize(size: Size, gridCols: number, gridRows: number, scaleResolution: number, patch: number): Size {
  const cell = { width: ensureDivide(size.width, gridCols) / gridCols, height: ensureDivide(size.height, gridRows) / gridRows };
  // C++ divides ints: the refined width is a multiple of the grid only up to truncation.
  const best = bestResize({ width: Math.trunc(cell.width), height: Math.trunc(cell.height) }, scaleResolution, patch, true);
  return { width: best.width * gridCols, height: best.height * gridRows };
}

/** The (columns, rows) among splits of multiple-1 .. multiple+1 slices whose aspect is closest in log space. */
function bestGrid(multiple: number, logRatio: number): { cols: number; rows: number } {
  let best = { cols: 1, rows: 1 };
  let minError = Infinity;
  for (const n of [multiple - 1, multiple, multiple + 1]) {
    if (n === 1 || n > MAX_SLICE_NUMS) continue;
    for (let m = 1; m <= n; m++) {
      if (n % m !== 0) continue;
      const error = f(Math.abs(logRatio - Math.log(m / (n / m))));
      if (error < minError) { best = { cols: m, rows: n / m }; minError = error; }
    }
  }
  return best;
}

/** MiniCPM-V's slicing (LLaVA-UHD without pinpoints), exactly as mtmd computes it. */
export function llavaUhdInstructions(size: Size, sliceSize: number, patch: number): SliceInstructions {
  const { width, height } = size;
  if (width <= sliceSize && height <= sliceSize) {
    return { overview: { width: sliceSize, height: sliceSize }, refined: { width: 0, height: 0 }, gridCols: 0, gridRows: 0, slices: [], overviewFirst: true };
  }
  const overview = bestResize(size, sliceSize, patch, false);
  const logRatio = f(Math.log(f(width / height)));
  const ratio = f(f(width * height) / (sliceSize * sliceSize));
  const multiple = Math.min(Math.ceil(ratio), MAX_SLICE_NUMS);
  const grid = bestGrid(multiple, logRatio);
  const refined = refineSize(size, grid.cols, grid.rows, sliceSize, patch);
  const cellW = Math.trunc(refined.width / grid.cols), cellH = Math.trunc(refined.height / grid.rows);
  const slices: Rect[] = [];
  for (let y = 0, r = 0; y < refined.height && r < grid.rows; y += cellH, r++) {
    for (let x = 0, c = 0; x < refined.width && c < grid.cols; x += cellW, c++) slices.push({ x, y, width: cellW, height: cellH });
  }
  return { overview, refined, gridCols: grid.cols, gridRows: grid.rows, slices, overviewFirst: true };
}

/** idefics3 (SmolVLM) tiling: mtmd_image_preprocessor_idefics3. */
export function idefics3Instructions(size: Size, tile: number, longestEdge: number): SliceInstructions {
  if (longestEdge > 0) {
    // The image is first scaled so its longer side is longestEdge (shorter side made even), then
    // stretched up to whole tiles; the overview is that refined image shrunk to one tile.
    const aspect = size.width / size.height;
    const resized = size.width >= size.height
      ? { width: longestEdge, height: Math.trunc(longestEdge / aspect) }
      : { width: Math.trunc(longestEdge * aspect), height: longestEdge };
    if (size.width >= size.height) resized.height += resized.height % 2;
    else resized.width += resized.width % 2;
    const cols = Math.ceil(resized.width / tile), rows = Math.ceil(resized.height / tile);
    const slices: Rect[] = [];
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) slices.push({ x: c * tile, y: r * tile, width: tile, height: tile });
    return { overview: { width: tile, height: tile }, refined: { width: cols * tile, height: rows * tile }, gridCols: cols, gridRows: rows, slices, overviewFirst: false, resized };
  }
  // No preprocessor size in the file: round each side to whole tiles (at least one).
  const refined = { width: Math.max(tile, Math.round(f(size.width / tile)) * tile), height: Math.max(tile, Math.round(f(size.height / tile)) * tile) };
  const slices: Rect[] = [];
  for (let y = 0; y < refined.height; y += tile) {
    for (let x = 0; x < refined.width; x += tile) slices.push({ x, y, width: Math.min(tile, refined.width - x), height: Math.min(tile, refined.height - y) });
  }
  return { overview: { width: tile, height: tile }, refined, gridCols: Math.ceil(f(refined.width / tile)), gridRows: Math.ceil(f(refined.height / tile)), slices, overviewFirst: false };
}

/** The geometry mtmd would use for an image of `size` with this projector. */
export function sliceInstructions(size: Size, hp: ClipHparams): SliceInstructions {
  if (size.width <= 0 || size.height <= 0) throw new RangeError(`image size ${size.width}x${size.height} is empty`);
  switch (hp.projectorType) {
    case 'resampler':
      if (!MINICPMV_VERSIONS.has(hp.minicpmvVersion)) throw new UnsupportedError(`projector resampler: minicpmv_version ${hp.minicpmvVersion} is not supported (2, 3, 4, 5, 6, 100045 are)`);
      return llavaUhdInstructions(size, hp.imageSize, hp.patchSize);
    case 'mlp':
      if (hp.gridPinpoints.length > 0) throw new UnsupportedError('projector mlp: image_grid_pinpoints (LLaVA-1.6 any-resolution) is not supported');
      return { overview: { width: hp.imageSize, height: hp.imageSize }, refined: { width: 0, height: 0 }, gridCols: 0, gridRows: 0, slices: [], overviewFirst: true };
    case 'idefics3':
      return idefics3Instructions(size, hp.imageSize, hp.preprocImageSize);
    default:
      throw new UnsupportedError(`projector type ${String((hp as { projectorType: unknown }).projectorType)} is not supported`);
  }
}

// ---- token layout (mtmd's add_media) ----

/** Where each slice's embeddings go among special tokens; slice 0 is the overview, slice k the k-th grid cell. */
export function imageLayout(inst: SliceInstructions, hp: ClipHparams): ImageLayout {
  const items: LayoutItem[] = [];
  const tok = (text: string) => items.push({ kind: 'token', text });
  const cols = inst.gridCols, rows = inst.gridRows;
  if (hp.projectorType === 'mlp') {
    items.push({ kind: 'slice', index: 0 });
    return { items, gridCols: 0, gridRows: 0 };
  }
  const v25 = hp.projectorType === 'resampler' && hp.minicpmvVersion === 2;
  const overview = () => {
    if (hp.projectorType === 'idefics3') { tok('\n\n'); tok('<fake_token_around_image>'); tok('<global-img>'); }
    else tok('<image>');
    items.push({ kind: 'slice', index: 0 });
    tok(hp.projectorType === 'idefics3' ? '<fake_token_around_image>' : '</image>');
  };
  if (inst.overviewFirst) overview();
  if (inst.slices.length > 0) {
    if (v25) tok('<slice>');
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        if (hp.projectorType === 'idefics3') items.push({ kind: 'text', text: `<fake_token_around_image><row_${y + 1}_col_${x + 1}>` });
        else tok(v25 ? '<image>' : '<slice>');
        items.push({ kind: 'slice', index: 1 + y * cols + x });
        if (hp.projectorType === 'resampler') tok(v25 ? '</image>' : '</slice>');
      }
      if (y !== rows - 1) tok('\n');
    }
    if (v25) tok('</slice>');
  }
  if (!inst.overviewFirst) overview();
  return { items, gridCols: cols, gridRows: rows };
}

/** Embedding rows the encoder makes of one slice (mtmd's clip_n_output_tokens). */
export function sliceTokens(hp: ClipHparams, slice: Size): number {
  const patches = Math.trunc(slice.width / hp.patchSize) * Math.trunc(slice.height / hp.patchSize);
  if (hp.projectorType === 'resampler') return hp.queryNum;
  if (hp.projectorType === 'idefics3') return Math.trunc(patches / (hp.scaleFactor * hp.scaleFactor));
  return patches;
}

// ---- pixels ----

/** u8 HWC -> normalized float CHW planes, in float32 as mtmd's from_u8 + normalize. */
export function normalize(img: RgbImage, mean: readonly number[], std: readonly number[]): PreparedSlice {
  const plane = img.width * img.height;
  const data = new Float32Array(plane * 3);
  const m = mean.map(f), s = std.map(f);
  for (let c = 0; c < 3; c++) {
    const mc = m[c]!, sc = s[c]!;
    for (let i = 0; i < plane; i++) data[c * plane + i] = f(f(f(img.data[i * 3 + c]! / 255) - mc) / sc);
  }
  return { data, width: img.width, height: img.height };
}

interface ResizePlan { algo: ResizeAlgo; pad: PadStyle; color: Rgb }

/** Resizes the image as mtmd would for this projector: the u8 overview and slices, before normalization. */
export function sliceImage(image: RgbImage, hp: ClipHparams): { inst: SliceInstructions; images: RgbImage[] } {
  const inst = sliceInstructions({ width: image.width, height: image.height }, hp);
  const black: Rgb = [0, 0, 0];
  if (hp.projectorType === 'mlp') {
    return { inst, images: [resize(image, hp.imageSize, hp.imageSize, 'bicubic', 'ceil', LLAVA_PAD)] };
  }
  if (hp.projectorType === 'idefics3' && hp.preprocImageSize > 0) {
    const resized = resize(image, inst.resized!.width, inst.resized!.height, 'lanczos', 'none');
    const refined = resize(resized, inst.refined.width, inst.refined.height, 'lanczos', 'none');
    const overview = resize(refined, hp.imageSize, hp.imageSize, 'lanczos', 'none');
    return { inst, images: [overview, ...inst.slices.map((r) => crop(refined, r.x, r.y, r.width, r.height))] };
  }
  // mtmd's slice_image with the llava-uhd defaults: overview stretched, refined letterboxed in black.
  const ov: ResizePlan = { algo: 'bicubic', pad: 'none', color: black };
  const rf: ResizePlan = { algo: 'bicubic', pad: 'ceil', color: black };
  const overview = resize(image, inst.overview.width, inst.overview.height, ov.algo, ov.pad, ov.color);
  if (inst.slices.length === 0) return { inst, images: [overview] };
  const refined = resize(image, inst.refined.width, inst.refined.height, rf.algo, rf.pad, rf.color);
  return { inst, images: [overview, ...inst.slices.map((r) => crop(refined, r.x, r.y, r.width, r.height))] };
}

/** RGB image -> normalized slices (overview first) and their token layout. */
export function preprocessImage(image: RgbImage, hp: ClipHparams): PreparedImage {
  const { inst, images } = sliceImage(image, hp);
  return { slices: images.map((img) => normalize(img, hp.imageMean, hp.imageStd)), layout: imageLayout(inst, hp) };
}
