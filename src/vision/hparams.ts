// ClipHparams from a projector file's metadata, read as mtmd's clip.cpp reads them (defaults
// included), refusing what lutra does not run by name: other projector types, other MiniCPM-V
// versions, files without a vision encoder. nEmbdOut comes from the tensors (projector.ts).

import { ModelError, UnsupportedError } from '../core/errors.js';
import type { GGUFValue } from '../formats/gguf.js';
import { Meta, positiveInt } from '../models/hparams.js';
import { CLIP } from './names.js';
import type { ClipHparams, ProjectorType, VisionFfnOp } from './types.js';

const TYPES: readonly ProjectorType[] = ['resampler', 'mlp', 'idefics3'];

/** MiniCPM-V versions mtmd knows: 2 = V2.5, 3 = V2.6, 4 = o-2.6, 5 = V4.0, 6 = V4.5, 100045 = o-4.5. */
export const MINICPMV_VERSIONS: readonly number[] = [2, 3, 4, 5, 6, 100045];

/** Tokens per slice when the file has no clip.minicpmv_query_num: 96 for V2.5, 64 for the later ones. */
export function defaultQueryNum(version: number): number {
  return version === 2 ? 96 : 64;
}

function rgb(meta: Meta, key: string): [number, number, number] {
  const v = meta.raw(key);
  const arr = v && ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>, Number) : [];
  if (arr.length < 3 || arr.slice(0, 3).some((x) => !Number.isFinite(x))) {
    throw new ModelError(`${meta.file}: metadata ${key} must hold 3 finite numbers (R, G, B)`);
  }
  return [arr[0]!, arr[1]!, arr[2]!];
}

export function readClipHparams(metadata: Map<string, GGUFValue>, file: string): Omit<ClipHparams, 'nEmbdOut'> {
  const meta = new Meta(metadata, file);
  const typeName = meta.str(CLIP.projectorType, undefined) ?? meta.str(CLIP.visionProjectorType, undefined);
  if (typeName === undefined) throw new ModelError(`${file}: missing metadata key ${CLIP.projectorType}: not a projector (mmproj) file`);
  if (!TYPES.includes(typeName as ProjectorType)) {
    throw new UnsupportedError(`${file}: projector type "${typeName}" is not supported (lutra runs ${TYPES.join(', ')})`);
  }
  const projectorType = typeName as ProjectorType;
  if (!meta.bool(CLIP.hasVision, true)) throw new UnsupportedError(`${file}: ${CLIP.hasVision} is false: lutra runs vision projectors only`);

  let minicpmvVersion = 0, queryNum = 0;
  if (projectorType === 'resampler') {
    minicpmvVersion = meta.num(CLIP.minicpmvVersion, 0) || 2;
    if (!MINICPMV_VERSIONS.includes(minicpmvVersion)) {
      throw new UnsupportedError(`${file}: ${CLIP.minicpmvVersion} = ${minicpmvVersion} is not a MiniCPM-V version lutra knows (${MINICPMV_VERSIONS.join(', ')})`);
    }
    queryNum = positiveInt(file, CLIP.minicpmvQueryNum, meta.num(CLIP.minicpmvQueryNum, 0) || defaultQueryNum(minicpmvVersion));
  }
  const useGelu = meta.bool(CLIP.useGelu, false), useSilu = meta.bool(CLIP.useSilu, false);
  if (useGelu && useSilu) throw new ModelError(`${file}: both ${CLIP.useGelu} and ${CLIP.useSilu} are true`);
  const ffnOp: VisionFfnOp = useGelu ? 'gelu' : useSilu ? 'silu' : 'gelu_quick';

  const nEmbd = positiveInt(file, CLIP.nEmbd, meta.num(CLIP.nEmbd));
  const nHead = positiveInt(file, CLIP.nHead, meta.num(CLIP.nHead));
  if (nEmbd % nHead !== 0) throw new ModelError(`${file}: ${CLIP.nEmbd} = ${nEmbd} is not a multiple of ${CLIP.nHead} = ${nHead}`);
  if (meta.has(CLIP.nHeadKv) && meta.num(CLIP.nHeadKv) !== nHead) {
    throw new UnsupportedError(`${file}: ${CLIP.nHeadKv} = ${meta.num(CLIP.nHeadKv)} differs from ${CLIP.nHead} (grouped-query vision attention is not supported)`);
  }
  const eps = meta.num(CLIP.eps);
  if (!(eps > 0 && eps < 1)) throw new ModelError(`${file}: metadata ${CLIP.eps} = ${eps} is out of range`);

  const pins = meta.raw(CLIP.gridPinpoints);
  const pinList = pins && ArrayBuffer.isView(pins) ? Array.from(pins as unknown as ArrayLike<number>, Number) : [];
  if (pinList.length % 2 !== 0) throw new ModelError(`${file}: ${CLIP.gridPinpoints} must have an even number of entries, has ${pinList.length}`);
  const gridPinpoints: [number, number][] = [];
  for (let i = 0; i < pinList.length; i += 2) gridPinpoints.push([pinList[i]!, pinList[i + 1]!]);

  const imageSize = positiveInt(file, CLIP.imageSize, meta.num(CLIP.imageSize));
  const patchSize = positiveInt(file, CLIP.patchSize, meta.num(CLIP.patchSize));
  if (patchSize > imageSize) throw new ModelError(`${file}: ${CLIP.patchSize} = ${patchSize} is larger than ${CLIP.imageSize} = ${imageSize}`);
  const scaleFactor = projectorType === 'idefics3' ? positiveInt(file, CLIP.scaleFactor, meta.num(CLIP.scaleFactor, 1)) : 1;
  return {
    projectorType, minicpmvVersion, queryNum, imageSize, patchSize,
    imageMean: rgb(meta, CLIP.imageMean), imageStd: rgb(meta, CLIP.imageStd),
    nEmbd, nFf: positiveInt(file, CLIP.nFf, meta.num(CLIP.nFf)), nLayer: positiveInt(file, CLIP.nLayer, meta.num(CLIP.nLayer)),
    nHead, eps, ffnOp, scaleFactor,
    preprocImageSize: projectorType === 'idefics3' ? meta.num(CLIP.preprocImageSize, 0) : 0,
    gridPinpoints,
  };
}
