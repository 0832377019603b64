import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type GraphModel, loadGraphModel } from '@tensorflow/tfjs-converter';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { initEngine } from '../../src/tfjs/backend.js';
import { fileSystemIO } from '../../src/tfjs/model-io.js';
import type { ExportableRecognizer, InputSpec } from '../../src/export/types.js';
import { readImageFile, resizeSquare } from '../../src/image/decode.js';
import { FIVE_CELEBRITIES, MOBILENET_035_DIR } from './shared.js';

/** Real models and photos the export tests compare runtimes on. */

export const MOBILENET_INPUT: InputSpec = { size: 224, mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] };
export const FACERES_INPUT: InputSpec = { size: 224, mean: [0, 0, 0], std: [1, 1, 1] };
export const FACERES_EMBEDDING = 'global_pooling/Mean';

export async function celebrityLabels(): Promise<string[]> {
  return (await readdir(path.join(FIVE_CELEBRITIES, 'train'))).sort();
}

export interface Photos {
  /** Normalised model inputs, [count, size, size, 3]. */
  inputs: tf.Tensor4D;
  /** Index into the sorted labels. */
  classes: number[];
}

/** Every photo of a split, resized and normalised as `spec` says. */
export async function loadPhotos(split: 'train' | 'val', spec: InputSpec, limitPerClass = Infinity): Promise<Photos> {
  await initEngine();
  const labels = await celebrityLabels();
  const pixels: Float32Array[] = [];
  const classes: number[] = [];
  for (const [index, label] of labels.entries()) {
    const dir = path.join(FIVE_CELEBRITIES, split, label);
    const files = (await readdir(dir)).sort().slice(0, limitPerClass);
    for (const file of files) {
      const image = await resizeSquare(await readImageFile(path.join(dir, file)), spec.size);
      const data = new Float32Array(image.data.length);
      for (let i = 0; i < data.length; i++) data[i] = (image.data[i] - spec.mean[i % 3]) / spec.std[i % 3];
      pixels.push(data);
      classes.push(index);
    }
  }
  const all = new Float32Array(pixels.length * spec.size * spec.size * 3);
  pixels.forEach((p, i) => all.set(p, i * p.length));
  return { inputs: tf.tensor4d(all, [pixels.length, spec.size, spec.size, 3]), classes };
}

/** Row i of a [N, ...] tensor as a [1, ...] tensor. */
export function row(batch: tf.Tensor4D, i: number): tf.Tensor4D {
  return tf.slice(batch, [i, 0, 0, 0], [1, -1, -1, -1]);
}

const seeded = (seed: number) => tfl.initializers.glorotUniform({ seed });

/** The classic transfer-learning head on MobileNetV2 0.35: Conv2D(32, 3x3, relu) -> Dropout -> GAP -> Dense(softmax). */
export function classicHead(featureShape: number[], classes: number, seed = 7): tfl.LayersModel {
  const input = tfl.input({ shape: featureShape });
  let x = tfl.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', padding: 'valid', kernelInitializer: seeded(seed), name: 'head_conv' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.dropout({ rate: 0.2 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const output = tfl.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: seeded(seed + 1), name: 'head_dense' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: output, name: 'head' });
}

/** Base and head as ONE LayersModel, the base nested as a layer, as facetrain saves it. */
export async function mobilenetRecognizer(classes: number, head?: tfl.LayersModel): Promise<{ model: tfl.LayersModel; base: tfl.LayersModel; head: tfl.LayersModel }> {
  await initEngine();
  const base = await tfl.loadLayersModel(fileSystemIO(MOBILENET_035_DIR));
  base.trainable = false;
  const chosenHead = head ?? classicHead(base.outputs[0].shape.slice(1) as number[], classes);
  const input = tfl.input({ shape: [224, 224, 3] });
  const output = chosenHead.apply(base.apply(input)) as tfl.SymbolicTensor;
  return { model: tfl.model({ inputs: input, outputs: output, name: 'recognizer' }), base, head: chosenHead };
}

export async function loadFaceRes(): Promise<GraphModel> {
  await initEngine();
  // The package exports only its bundles (dist/...); the models sit beside dist/.
  const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models');
  const json = JSON.parse(await readFile(path.join(dir, 'faceres.json'), 'utf8')) as { modelTopology: {}; weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] };
  const bin = await readFile(path.join(dir, 'faceres.bin'));
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  return loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData }));
}

export function faceHead(classes: number, seed = 11): tfl.LayersModel {
  return tfl.sequential({
    name: 'face_head',
    layers: [
      tfl.layers.dropout({ rate: 0.2, inputShape: [1024] }),
      tfl.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: seeded(seed), biasInitializer: 'zeros' }),
    ],
  });
}

/** TF.js probabilities of a recognizer: the ground truth every exported file is compared with. */
export function referenceProbabilities(recognizer: ExportableRecognizer, inputs: tf.Tensor4D): Float32Array {
  const { model } = recognizer;
  return tf.tidy(() => {
    if ('graph' in model && 'head' in model) {
      const embedding = model.graph.execute(inputs, model.outputNode) as tf.Tensor2D;
      const norm = tf.sqrt(tf.maximum(tf.sum(tf.square(embedding), -1, true), 1e-12));
      return (model.head.predict(tf.div(embedding, norm)) as tf.Tensor).dataSync() as Float32Array;
    }
    return (model.predict(inputs) as tf.Tensor).dataSync() as Float32Array;
  });
}

export function argmaxRows(values: ArrayLike<number>, classes: number): number[] {
  const result: number[] = [];
  for (let r = 0; r * classes < values.length; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (values[r * classes + c] > values[r * classes + best]) best = c;
    result.push(best);
  }
  return result;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
