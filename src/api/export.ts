import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { BASE_ROWS } from '../base/index.js';
import { initEngine } from '../tfjs/backend.js';
import { WEIGHTS_FILE, fileSystemIO } from '../tfjs/model-io.js';
import { labelledPhotos } from './evaluate.js';
import { preparePhotos } from '../dataset/prepare.js';
import { cropperFor, detectorFor, loadFaceAligner } from '../faces/cropper.js';
import { normalisedPixels } from '../image/normalise.js';
import { perChannelInput } from '../faces/input-spec.js';
import { LABELS_FILE, MANIFEST_FILE, labelsText, modelVersion, readManifest, type ModelManifest } from '../model-dir/manifest.js';
import { FacetrainError, invalidOption } from '../errors.js';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import { saveKerasH5 } from '../export/keras/index.js';
import { writeExport } from '../export/export-model.js';
import type { ExportableRecognizer, ExportFormat } from '../export/types.js';
import type { FaceEmbedder } from '../faces/embedder.js';
import { buildPipelineExport, modelGalleries, PIPELINE_FORMATS, type PipelineFormat, pipelineKerasAttributes, pipelineKerasModel, writePipelineFiles } from './export-pipeline.js';
import { writeTfjsPipeline } from '../export/tfjs-pipeline.js';
import type { PipelineNetworks } from '../export/pipeline.js';

export const ALL_FORMATS = Object.freeze(['tfjs', 'h5', 'onnx', 'tflite', 'tflite-fp16', 'tflite-int8'] as const);
export type ModelFormat = (typeof ALL_FORMATS)[number];

const FILE_NAMES: Record<ModelFormat, string> = {
  tfjs: 'tfjs',
  h5: 'model.h5',
  onnx: 'model.onnx',
  tflite: 'model.tflite',
  'tflite-fp16': 'model-fp16.tflite',
  'tflite-int8': 'model-int8.tflite',
};

export interface ExportDirOptions {
  /** Where the files go; default `<model-dir>/export`. */
  outDir?: string;
  /** Photos (`<person>/*`) to calibrate int8 activations on; needed for tflite-int8. */
  calibration?: string;
  /** Called per file written: a recognizer with its format, a shared pipeline file with the runtime that reads it ('pipeline': pipeline.json). */
  onWritten?: (format: ModelFormat | 'pipeline', file: string) => void;
}

/** `all`, or a comma list of formats, checked: the error lists what exists. */
export function parseFormats(value: string): ModelFormat[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.includes('all')) return [...ALL_FORMATS];
  for (const n of names) if (!(ALL_FORMATS as readonly string[]).includes(n)) throw invalidOption('format', `all or a comma list of ${ALL_FORMATS.join(', ')}`, n);
  if (names.length === 0) throw invalidOption('format', `all or a comma list of ${ALL_FORMATS.join(', ')}`, value);
  return names as ModelFormat[];
}

interface Exportable {
  /** The classifier TF.js (and a classifier base's every format) writes; absent for an embedding network that is no TF.js graph (then the pipeline's formats only). */
  recognizer?: ExportableRecognizer;
  /** An embedding model's networks and templates (gallery.json, read once), for the pipeline exports. */
  networks?: PipelineNetworks & { embedder: FaceEmbedder };
}

function isPipelineFormat(format: ModelFormat): format is PipelineFormat {
  return (PIPELINE_FORMATS as readonly string[]).includes(format);
}

async function exportable(modelDir: string, manifest: ModelManifest): Promise<Exportable> {
  const model = await tfl.loadLayersModel(fileSystemIO(modelDir));
  const input = perChannelInput(manifest.input);
  const base = BASE_ROWS[manifest.base.name];
  const name = `facetrain-${manifest.base.name}`;
  if (base.kind === 'classifier') return { recognizer: { model, labels: manifest.labels, input, name } };
  const galleries = await modelGalleries(modelDir, manifest);
  const embedder = await base.loadEmbedder();
  const networks = { embedder, head: model, galleries };
  if (!embedder.model || !embedder.outputNode) return { networks };
  return { networks, recognizer: { model: { graph: embedder.model, outputNode: embedder.outputNode, head: model }, labels: manifest.labels, input, name } };
}

/** Photos int8 calibration and bias correction run on: enough that every layer's mean error is measured, few enough to stay quick. */
const CALIBRATION_PHOTOS = 64;

/** Up to `count` photos taken in turn from each person, so every person's look is represented, not just the first folders'. */
export function spreadAcrossPeople<T extends { person: string | null }>(photos: T[], count: number): T[] {
  const byPerson = new Map<string | null, T[]>();
  for (const p of photos) byPerson.set(p.person, [...(byPerson.get(p.person) ?? []), p]);
  const queues = [...byPerson.values()];
  const chosen: T[] = [];
  for (let i = 0; chosen.length < Math.min(count, photos.length); i++) for (const q of queues) if (i < q.length && chosen.length < count) chosen.push(q[i]);
  return chosen;
}

/** Normalised calibration inputs for int8: up to 64 photos spread across people, cropped and normalised as the recognizer's input spec says. */
async function calibrationInputs(dir: string, manifest: ModelManifest): Promise<tf.Tensor4D> {
  const photos = spreadAcrossPeople(await labelledPhotos(dir, manifest.labels), CALIBRATION_PHOTOS).map((p) => ({ file: p.file, person: p.person ?? '' }));
  const detector = await detectorFor(manifest.input);
  // the aligner the model was trained with (a landmark network for a template base), so int8 calibrates on the crops it will see
  const aligner = await loadFaceAligner(manifest.input);
  const crops = (await preparePhotos(photos, cropperFor(manifest.input, detector, aligner), () => {})).map((p) => p.crop);
  aligner.dispose();
  detector?.dispose();
  if (crops.length === 0) throw new FacetrainError('FT_ERR_DATASET', `${dir}: no usable photo to calibrate tflite-int8 on; set \`calibration\` to a folder of <person>/photos`);
  const { size, mean, std } = manifest.input;
  return tf.tensor4d(normalisedPixels(crops, mean, std), [crops.length, size, size, 3]);
}

/**
 * A TF.js copy any page or Node program loads: a whole-image model with its labels and input spec;
 * for an embedding model the whole pipeline as graph models (export/tfjs-pipeline.ts), which the
 * served page runs in the browser.
 */
async function writeTfjs(modelDir: string, manifest: ModelManifest, out: string, networks?: Exportable['networks']): Promise<void> {
  await writeDirAtomic(
    out,
    async (dir) => {
      await writeFile(path.join(dir, LABELS_FILE), labelsText(manifest.labels));
      if (networks) {
        const { base, labels, threshold, input } = manifest;
        await writeTfjsPipeline(dir, { base: base.name, labels, threshold, input, modelVersion: modelVersion(manifest), networks });
        return;
      }
      for (const f of ['model.json', WEIGHTS_FILE]) await copyFile(path.join(modelDir, f), path.join(dir, f));
      await writeFile(path.join(dir, 'preprocess.json'), JSON.stringify({ input: manifest.input, base: manifest.base, threshold: manifest.threshold }, null, 2));
    },
    { force: true },
  );
}

/** Formats that cannot be written with these options or for this model (with the reason a user reads). */
export function unavailableFormats(options: Pick<ExportDirOptions, 'calibration'>): Map<ModelFormat, string> {
  const reasons = new Map<ModelFormat, string>();
  if (!options.calibration) {
    reasons.set('tflite-int8', 'tflite-int8 needs photos to calibrate on: set `calibration` to a photos folder (a few dozen of the training photos)');
  }
  return reasons;
}

/** Writes the chosen formats of a trained model, each with labels.txt beside it; every write is atomic. */
export async function exportModelDir(modelDir: string, formats: ModelFormat[], options: ExportDirOptions = {}): Promise<string[]> {
  await initEngine();
  const manifest = await readManifest(modelDir);
  const outDir = options.outDir ?? path.join(modelDir, 'export');
  await mkdir(outDir, { recursive: true });
  const unavailable = unavailableFormats(options);
  for (const f of formats) if (unavailable.has(f)) throw new FacetrainError('FT_ERR_INVALID_OPTION', unavailable.get(f)!);
  const { recognizer: classifier, networks } = await exportable(modelDir, manifest);
  const representativeInputs = formats.includes('tflite-int8') ? await calibrationInputs(options.calibration!, manifest) : undefined;
  try {
    // an embedding model's ONNX, TFLite and .h5 files are the whole pipeline: recognizer with the unknown score, detector, description
    const pipelineFormats = formats.filter((f) => isPipelineFormat(f) || f === 'h5');
    const pipeline = pipelineFormats.length > 0 && networks
      ? await buildPipelineExport(manifest, networks, Object.fromEntries(pipelineFormats.map((f) => [f, FILE_NAMES[f]])), representativeInputs)
      : undefined;
    // every base has it but a pipeline-only one, whose formats (checked above) are the pipeline's
    const recognizer = classifier!;
    const written: string[] = [];
    for (const format of formats) {
      const out = path.join(outDir, FILE_NAMES[format]);
      if (format === 'tfjs') await writeTfjs(modelDir, manifest, out, networks);
      else if (isPipelineFormat(format) && pipeline) {
        await writeFileAtomic(out, pipeline.recognizers[format]!);
        await writeFileAtomic(path.join(outDir, LABELS_FILE), labelsText(manifest.labels));
      } else if (format === 'h5' && pipeline) {
        const keras = pipelineKerasModel(pipeline, `facetrain-${manifest.base.name}-pipeline`);
        try {
          // the probabilities (second output) are per label
          await saveKerasH5(keras, out, { labels: manifest.labels, labelsOutput: 1, attributes: pipelineKerasAttributes(pipeline) });
        } finally {
          keras.dispose();
        }
        await writeFileAtomic(path.join(outDir, LABELS_FILE), labelsText(manifest.labels));
      } else if (format === 'h5') {
        // a classifier base's model is a Keras model already
        await saveKerasH5(recognizer.model as tfl.LayersModel, out, { labels: manifest.labels });
        await writeFileAtomic(path.join(outDir, LABELS_FILE), labelsText(manifest.labels));
      } else {
        await writeExport(recognizer, format as ExportFormat, out, { representativeInputs });
      }
      written.push(out);
      options.onWritten?.(format, out);
    }
    // the detector, landmarks and pipeline.json, once, beside the recognizers
    if (pipeline) for (const { format, file } of await writePipelineFiles(outDir, pipeline)) options.onWritten?.(format, file);
    await writeFileAtomic(path.join(outDir, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
    return written;
  } finally {
    representativeInputs?.dispose();
  }
}
