import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine, tf } from '../src/tfjs/backend.js';
import { TRAINING_KERNELS, registerTrainingKernels, stockCpuKernel } from '../src/tfjs/kernels/register.js';
import { fileSystemIO } from '../src/tfjs/model-io.js';
import { layersModelSession, loadOnnxRuntime } from '../src/runtime/onnxruntime.js';
import type { OnnxRuntime } from '../src/runtime/runtime.js';
import { createInferencePool, modelArtifacts } from '../src/runtime/pool.js';
import { MOBILENET_035_DIR } from '../test/support/shared.js';
import { buildMobileNetV2 } from '../src/base/mobilenetv2/mobilenetv2.js';
import { splitAtLayer } from '../src/graph/split.js';
import { buildClassicHead } from '../src/base/mobilenetv2/head.js';
import { dropoutMultipliers, OnnxTrainer } from '../src/train/onnx-step.js';
import { ReplicaGroup } from '../src/train/parallel.js';
import { packRows, shareTensor, type ReplicaModels, type SharedTensor } from '../src/train/replica.js';
import { round, timeMs } from './timing.js';

export interface EngineBenchOptions {
  /** Timed runs per measurement (median reported); default 5. */
  runs?: number;
  /** Worker threads for the pooled forward, replicas of the data-parallel fine-tune step; default os.availableParallelism(). */
  workers?: number;
  /** Also time one fine-tune step on stock tfjs-backend-cpu (minutes at alpha 1.0). */
  stockFineTune?: boolean;
  /** Classes of the head; default 5. */
  classes?: number;
}

/** Layers from this index on are trained when fine-tuning (Keras MobileNetV2 layout: block_11_expand_BN). */
const FIRST_TRAINABLE_LAYER = 100;
/** The frozen part hands over these two activations: block_11_expand's output and the residual input of block_11_add. */
const BOUNDARY_LAYERS = ['block_11_expand', 'block_10_project_BN'] as const;

export async function loadBaseModels(): Promise<Record<'alpha035' | 'alpha100', tfl.LayersModel>> {
  const alpha035 = await tfl.loadLayersModel(fileSystemIO(MOBILENET_035_DIR));
  // random weights: timing does not depend on the values, and tests never download the official ones
  return { alpha035, alpha100: buildMobileNetV2({ alpha: 1.0 }) };
}


function categoricalCrossentropy(labels: tf.Tensor, probabilities: tf.Tensor): tf.Scalar {
  const clipped = tf.clipByValue(probabilities, 1e-7, 1 - 1e-7);
  return tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.log(clipped)), -1))) as tf.Scalar;
}

function buildHead(inputShape: number[], classes: number): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape, filters: 32, kernelSize: 3, activation: 'relu' }),
      tfl.layers.dropout({ rate: 0.2 }),
      tfl.layers.globalAveragePooling2d({}),
      tfl.layers.dense({ units: classes, activation: 'softmax' }),
    ],
  });
}

function randomLabels(batch: number, classes: number): tf.Tensor2D {
  return tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % classes), 'int32'), classes) as tf.Tensor2D;
}

export interface TrainingStep {
  run(): void;
  dispose(): void;
}

/** A step that minimises `loss` over `variables` (all trainable ones when omitted) with Adam. */
function adamStep(learningRate: number, loss: () => tf.Scalar, variables: tf.Variable[] | undefined, release: () => void): TrainingStep {
  const optimizer = tf.train.adam(learningRate);
  return {
    run: () => {
      const value = optimizer.minimize(loss, true, variables);
      value!.dataSync();
      value!.dispose();
    },
    dispose: () => {
      optimizer.dispose();
      release();
    },
  };
}

/** One Adam step of the head alone on cached base features. */
export function headStep(features: tf.Tensor4D, classes: number): TrainingStep {
  const head = buildHead(features.shape.slice(1), classes);
  const labels = randomLabels(features.shape[0], classes);
  return adamStep(1e-3, () => categoricalCrossentropy(labels, head.apply(features, { training: true }) as tf.Tensor), undefined, () => {
    head.dispose();
    labels.dispose();
  });
}

/** Runs the base model's layers from FIRST_TRAINABLE_LAYER on, fed by the cached boundary activations. */
function runTrainablePart(model: tfl.LayersModel, boundary: Map<string, tf.Tensor>): tf.Tensor {
  const values = new Map(boundary);
  for (const layer of model.layers.slice(FIRST_TRAINABLE_LAYER)) {
    const inputs = layer.inboundNodes[0]!.inboundLayers.map((l) => values.get(l.name)!);
    // BatchNormalization stays in inference mode (moving statistics), as when fine-tuning Keras models.
    values.set(layer.name, layer.apply(inputs.length === 1 ? inputs[0]! : inputs, { training: false }) as tf.Tensor);
  }
  return values.get(model.layers[model.layers.length - 1]!.name)!;
}

/** One Adam step of layers >= 100 plus the head, starting from the cached boundary activations. */
export function fineTuneStep(model: tfl.LayersModel, images: tf.Tensor4D, classes: number): TrainingStep {
  const frozen = tfl.model({ inputs: model.inputs, outputs: BOUNDARY_LAYERS.map((name) => model.getLayer(name).output as tfl.SymbolicTensor) });
  const boundaryTensors = frozen.predict(images) as tf.Tensor[];
  const boundary = new Map(BOUNDARY_LAYERS.map((name, i) => [name, boundaryTensors[i]!]));
  const head = buildHead(model.outputs[0]!.shape.slice(1) as number[], classes);
  const labels = randomLabels(images.shape[0], classes);
  const variables = [...model.layers.slice(FIRST_TRAINABLE_LAYER).flatMap((l) => l.trainableWeights), ...head.trainableWeights]
    .map((w) => w.read() as tf.Variable);
  const loss = (): tf.Scalar => categoricalCrossentropy(labels, head.apply(runTrainablePart(model, boundary), { training: true }) as tf.Tensor);
  return adamStep(1e-4, loss, variables, () => {
    head.dispose();
    labels.dispose();
    tf.dispose(boundaryTensors);
  });
}

/**
 * The same fine-tune step as the recipe runs it (split at FIRST_TRAINABLE_LAYER, classic head), on
 * `parts` replicas: this thread plus parts - 1 workers, each taking its share of the batch.
 */
export async function replicatedFineTuneMs(model: tfl.LayersModel, images: tf.Tensor4D, classes: number, parts: number, runs: number): Promise<{ startMs: number; stepMs: number }> {
  const { frozen, tail } = splitAtLayer(model, FIRST_TRAINABLE_LAYER);
  const boundary = frozen.predict(images) as tf.Tensor[];
  const batch = images.shape[0];
  const train = { inputs: boundary.map(shareTensor), labels: Array.from({ length: batch }, (_, i) => i % classes), views: 1 };
  tf.dispose(boundary);
  const head = buildClassicHead({ numClasses: classes, inputShape: model.outputs[0]!.shape.slice(1) as number[], seed: 1 });
  const started = performance.now();
  const group = await ReplicaGroup.start({ models: { tail, head }, train, numClasses: classes, learningRate: 1e-4, parts });
  const startMs = performance.now() - started;
  try {
    const rows = [...train.labels.keys()];
    let step = 0;
    return { startMs, stepMs: await timeMs(runs, () => group.step({ rows, classes: train.labels, dropoutSeed: step++ })) };
  } finally {
    await group.dispose();
    head.dispose();
  }
}

/** A training step on onnxruntime (the generated training graph on every core, Adam in JS) of `models` fed `inputs`. */
async function onnxStepMs(ort: OnnxRuntime, models: ReplicaModels, inputs: SharedTensor[], classes: number, runs: number): Promise<number> {
  const batch = inputs[0]!.shape[0]!;
  const labels = Array.from({ length: batch }, (_, i) => i % classes);
  const trainer = await OnnxTrainer.create(ort, { models, numClasses: classes, learningRate: 1e-4 });
  try {
    const rows = packRows(inputs, [...labels.keys()]);
    let step = 0;
    return await timeMs(runs, async () => {
      const result = await trainer.compute({ boundary: rows, classes: labels, dropout: dropoutMultipliers(trainer.graph.dropout, batch, step++) });
      trainer.apply(result.gradients);
    });
  } finally {
    await trainer.release();
  }
}

/** The fine-tune step (layers >= 100 + head) on onnxruntime, from the cached boundary activations. */
export async function onnxFineTuneMs(ort: OnnxRuntime, model: tfl.LayersModel, images: tf.Tensor4D, classes: number, runs: number): Promise<number> {
  const { frozen, tail } = splitAtLayer(model, FIRST_TRAINABLE_LAYER);
  const boundary = (frozen.predict(images) as tf.Tensor[]).map(shareTensor);
  const head = buildClassicHead({ numClasses: classes, inputShape: model.outputs[0]!.shape.slice(1) as number[], seed: 1 });
  try {
    return await onnxStepMs(ort, { tail, head }, boundary, classes, runs);
  } finally {
    head.dispose();
  }
}

/** The head step on onnxruntime, from cached base outputs. */
async function onnxHeadStepMs(ort: OnnxRuntime, features: tf.Tensor4D, classes: number, runs: number): Promise<number> {
  const head = buildClassicHead({ numClasses: classes, inputShape: features.shape.slice(1), seed: 1 });
  try {
    return await onnxStepMs(ort, { head }, [shareTensor(features)], classes, runs);
  } finally {
    head.dispose();
  }
}

/** Runs `fn` on the cpu backend with tfjs-backend-cpu's own convolution gradients, then restores ours. */
async function onStockCpu<T>(fn: () => Promise<T>): Promise<T> {
  for (const { kernelName } of TRAINING_KERNELS) {
    const stock = stockCpuKernel(kernelName)!;
    tf.unregisterKernel(kernelName, 'cpu');
    tf.registerKernel({ kernelName, backendName: 'cpu', kernelFunc: stock });
  }
  await tf.setBackend('cpu');
  try {
    return await fn();
  } finally {
    registerTrainingKernels();
    await tf.setBackend('wasm');
  }
}

function randomImages(batch: number): tf.Tensor4D {
  return tf.randomUniform([batch, 224, 224, 3], -1, 1, 'float32', 7);
}

function forwardMsPerImage(model: tfl.LayersModel, batch: number, runs: number): Promise<number> {
  const images = randomImages(batch);
  return timeMs(runs, () => tf.tidy(() => (model.predict(images) as tf.Tensor).dataSync())).then((ms) => {
    images.dispose();
    return ms / batch;
  });
}

/** Median ms per image of `predict` on a random NHWC batch given as plain values, then `release`. */
async function plainInputMsPerImage(batch: number, runs: number, predict: (values: Float32Array, shape: number[]) => Promise<unknown>, release: () => unknown): Promise<number> {
  try {
    const input = randomImages(batch);
    const values = input.dataSync() as Float32Array;
    input.dispose();
    return (await timeMs(runs, () => predict(values, [batch, 224, 224, 3]))) / batch;
  } finally {
    await release();
  }
}

async function pooledMsPerImage(model: tfl.LayersModel, batch: number, runs: number, workers?: number): Promise<number> {
  const pool = await createInferencePool(await modelArtifacts(model), { workers });
  return plainInputMsPerImage(batch, runs, (values, shape) => pool.predict(values, shape), () => pool.dispose());
}

async function onnxMsPerImage(ort: OnnxRuntime, model: tfl.LayersModel, batch: number, runs: number): Promise<number> {
  const session = await layersModelSession(ort, model);
  return plainInputMsPerImage(batch, runs, (values, shape) => session.run(values, shape), () => session.release());
}

async function stepMs(makeStep: () => TrainingStep, runs: number): Promise<number> {
  const step = makeStep();
  try {
    return await timeMs(runs, () => step.run());
  } finally {
    step.dispose();
  }
}


export async function benchEngine(opts: EngineBenchOptions = {}): Promise<Record<string, unknown>> {
  const runs = opts.runs ?? 5;
  const classes = opts.classes ?? 5;
  await initEngine('wasm');
  const models = await loadBaseModels();
  const ort = await loadOnnxRuntime();
  const results: Record<string, unknown> = {
    backend: tf.getBackend(),
    alpha100Weights: 'random (buildMobileNetV2); alpha 0.35: the shared ImageNet weights',
  };
  for (const [name, model] of Object.entries(models)) {
    results[`forward_${name}_b1_msPerImage`] = round(await forwardMsPerImage(model, 1, runs));
    results[`forward_${name}_b16_msPerImage`] = round(await forwardMsPerImage(model, 16, runs));
    results[`forward_${name}_b16_pool_msPerImage`] = round(await pooledMsPerImage(model, 16, runs, opts.workers));
    if (ort) {
      results[`forward_${name}_b1_onnx_msPerImage`] = round(await onnxMsPerImage(ort, model, 1, runs));
      results[`forward_${name}_b16_onnx_msPerImage`] = round(await onnxMsPerImage(ort, model, 16, runs));
    }
  }
  const features = tf.randomUniform([16, 7, 7, 1280], 0, 6, 'float32', 3) as tf.Tensor4D;
  const images = randomImages(16);
  results.headStep_b16_ms = round(await stepMs(() => headStep(features, classes), runs));
  if (ort) results.headStep_b16_onnx_ms = round(await onnxHeadStepMs(ort, features, classes, runs));
  results.fineTuneStep_alpha100_b16_ms = round(await stepMs(() => fineTuneStep(models.alpha100, images, classes), runs));
  results.fineTuneStep_alpha035_b16_ms = round(await stepMs(() => fineTuneStep(models.alpha035, images, classes), runs));
  const parts = opts.workers ?? availableParallelism();
  for (const [name, model] of Object.entries(models)) {
    for (const replicas of [1, parts]) {
      const { startMs, stepMs: ms } = await replicatedFineTuneMs(model, images, classes, replicas, runs);
      results[`fineTuneStep_${name}_b16_replicas${replicas}_ms`] = round(ms);
      if (replicas > 1) results[`fineTuneReplicas${replicas}_${name}_startMs`] = round(startMs);
    }
    if (ort) results[`fineTuneStep_${name}_b16_onnx_ms`] = round(await onnxFineTuneMs(ort, model, images, classes, runs));
  }

  await onStockCpu(async () => {
    results.stockCpu_forward_alpha035_b16_msPerImage = round(await forwardMsPerImage(models.alpha035, 16, 1));
    results.stockCpu_headStep_b16_ms = round(await stepMs(() => headStep(features, classes), 1));
    if (opts.stockFineTune) results.stockCpu_fineTuneStep_alpha100_b16_ms = round(await stepMs(() => fineTuneStep(models.alpha100, images, classes), 1));
  });
  results.speedup_headStep = round((results.stockCpu_headStep_b16_ms as number) / (results.headStep_b16_ms as number));
  if (opts.stockFineTune) {
    results.speedup_fineTuneStep = round((results.stockCpu_fineTuneStep_alpha100_b16_ms as number) / (results.fineTuneStep_alpha100_b16_ms as number));
  }
  results.peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
  tf.dispose([features, images]);
  Object.values(models).forEach((m) => m.dispose());
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const results = await benchEngine({ stockFineTune: process.argv.includes('--stock-finetune') });
  console.log(JSON.stringify(results, null, 2));
  console.table(Object.entries(results).map(([measure, value]) => ({ measure, value })));
}
