import path from 'node:path';
import sharp from 'sharp';
import { TRAIN_DEFAULTS } from '../base/index.js';
import type { BaseName } from '../config.js';
import { detectorFor, loadFaceAligner } from '../faces/cropper.js';
import type { InputSpec } from '../faces/input-spec.js';
import type { Box } from '../faces/geometry.js';
import { readImageBytes } from '../image/decode.js';
import { readManifest } from '../model-dir/manifest.js';
import { facesAsSeen } from '../recognize/recognizer.js';
import { chooseRuntime } from '../runtime/choose.js';
import type { RuntimeName } from '../runtime/runtime.js';
import { writeFileAtomic } from '../util/fs.js';
import { inputSpecFor } from './train.js';

export interface CropOptions {
  /** Crop as this trained model sees faces; otherwise as a model trained on `base` would. */
  modelDir?: string;
  /** Default: the training default base. */
  base?: BaseName;
  engine?: RuntimeName;
}

/** One photo and the name its crops get under the output folder (without extension). */
export interface CropSource {
  file: string;
  name: string;
}

export interface CroppedPhoto {
  file: string;
  crops: { file: string; box: Box }[];
}

/**
 * Writes the aligned crops the model sees (`<out>/<name>-<i>.png`, largest face first), or the whole
 * photo resized for a whole-image model: for debugging a model, and for runtimes outside facetrain.
 * `onPhoto` gets each photo's crops, or the error that stopped that photo (the others go on).
 */
export async function writeFaceCrops(sources: CropSource[], outDir: string, options: CropOptions, onPhoto: (result: CroppedPhoto | Error, source: CropSource) => void): Promise<InputSpec> {
  const input = options.modelDir ? (await readManifest(options.modelDir)).input : inputSpecFor(options.base ?? TRAIN_DEFAULTS.base, true);
  const runtime = await chooseRuntime(options.engine);
  const detector = await detectorFor(input, runtime);
  const aligner = detector && (await loadFaceAligner(input, runtime));
  try {
    for (const source of sources) {
      try {
        const faces = await facesAsSeen(await readImageBytes(source.file), input, detector, aligner, { label: source.file });
        const crops = [];
        for (const [i, face] of faces.entries()) {
          const file = path.join(outDir, `${source.name}-${i}.png`);
          const png = await sharp(face.crop.data, { raw: { width: face.crop.width, height: face.crop.height, channels: 3 } }).png().toBuffer();
          await writeFileAtomic(file, png);
          crops.push({ file, box: face.box });
        }
        onPhoto({ file: source.file, crops }, source);
      } catch (err) {
        onPhoto(err as Error, source);
      }
    }
  } finally {
    detector?.dispose();
    aligner?.dispose();
  }
  return input;
}
