import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadMobileNetV2 } from './mobilenetv2.js';
import { splitAtLayer } from '../../graph/split.js';
import type { Runtime } from '../../runtime/runtime.js';
import type { TrainedClassifier } from '../row.js';
import type { TrainConfig } from '../../config.js';
import type { PreparedPhoto } from '../../dataset/prepare.js';
import type { EventSink } from '../../events.js';
import type { RgbImage } from '../../image/decode.js';
import { applyHead, attachHead } from '../../train/head.js';
import { buildClassicHead } from './head.js';
import { childSeed, createRandom } from '../../util/random.js';
import { applyJitter, viewJitters } from '../../train/augment.js';
import { computeFrozenOutputs } from './features.js';
import { runTfjsPhase, type PhaseData } from '../../train/loop.js';
import type { EpochMetrics } from '../../train/phase.js';
import { runOnnxPhase } from '../../train/onnx-step.js';
import { runParallelPhase, type ParallelPhaseOptions } from '../../train/parallel.js';
import { variablesOf, type ReplicaModels, type SharedPhaseData, type SharedTensor } from '../../train/replica.js';

/** Every training photo's views, view-major (row = view * photos + photo), as the loop expects. */
function trainingViews(photos: PreparedPhoto[], config: TrainConfig): RgbImage[] {
  const count = config.augment ? config.augmentViews : 1;
  const random = createRandom(childSeed(config.seed, 'augment'));
  const jitters = photos.map(() => viewJitters(count, random));
  const views: RgbImage[] = [];
  for (let v = 0; v < count; v++) for (const [p, photo] of photos.entries()) views.push(applyJitter(photo.crop, jitters[p]![v]!));
  return views;
}

/** The head phase on TF.js wasm: its ~35 ms step does not pay for splitting across threads. */
async function runHeadOnThisThread(o: Omit<ParallelPhaseOptions, 'parts'>): Promise<EpochMetrics[]> {
  const { head } = o.models;
  const tensors = (data: SharedPhaseData): PhaseData => ({ ...data, inputs: data.inputs.map((t) => tf.tensor(t.values, t.shape)) });
  const train = tensors(o.train);
  const val = o.val && tensors(o.val);
  try {
    return await runTfjsPhase({
      ...o,
      train,
      val,
      forward: ([x], seed) => applyHead(head, x!, seed),
      variables: variablesOf(head.trainableWeights),
    });
  } finally {
    tf.dispose([...train.inputs, ...(val?.inputs ?? [])]);
  }
}

/** A phase as every runner takes it: the cores to spread over are the runner's business. */
type Phase = Omit<ParallelPhaseOptions, 'parts'>;

/** How each phase runs on `runtime`: onnxruntime runs the whole step natively on every core; TF.js runs the head here and one wasm replica per core for fine-tuning. */
function phaseRunners(runtime: Runtime): { head(o: Phase): Promise<EpochMetrics[]>; fineTune(o: Phase): Promise<EpochMetrics[]> } {
  const { ort } = runtime;
  if (ort) return { head: (o) => runOnnxPhase({ ...o, ort }), fineTune: (o) => runOnnxPhase({ ...o, ort }) };
  return { head: (o) => runHeadOnThisThread(o), fineTune: (o) => runParallelPhase({ ...o, parts: availableParallelism() }) };
}

/**
 * The classic recipe: frozen ImageNet MobileNetV2 + Conv2D/Dropout/GAP/Dense head for `epochs`,
 * then layers from `fineTuneAt` on unfrozen (BatchNorm kept in inference mode) with a small
 * learning rate. Frozen layers run once per view: the head trains on cached base outputs and
 * fine-tuning on cached activations at the `fineTuneAt` boundary: both phases on onnxruntime when
 * that is the runtime, else on wasm, fine-tuning data-parallel over the cores. Either way `seed` reproduces a
 * model bit for bit on machines with the same os.availableParallelism() and engine.
 */
export async function trainClassic(
  train: PreparedPhoto[], val: PreparedPhoto[], people: string[], config: TrainConfig, emit: EventSink, runtime: Runtime, prebuiltBase?: tfl.LayersModel,
): Promise<TrainedClassifier> {
  const base = prebuiltBase ?? (await loadMobileNetV2({ alpha: config.alpha, weights: config.weights }));
  const fineTune = config.fineTuneEpochs > 0;
  const { frozen, tail } = fineTune ? splitAtLayer(base, config.fineTuneAt) : { frozen: base, tail: undefined };
  const classOf = new Map(people.map((p, i) => [p, i]));
  const views = config.augment ? config.augmentViews : 1;
  const trainImages = trainingViews(train, config);
  const total = trainImages.length + val.length;
  const progress = (offset: number) => (done: number) => emit({ type: 'progress', stage: 'features', done: offset + done, total });
  // One pass gives both caches: the boundary tensors fine-tuning starts from, and the base output the
  // head trains on (before fine-tuning, the tail computes exactly that from the boundary).
  const cached = tfl.model({ inputs: base.inputs, outputs: tail ? [...frozen.outputs, ...base.outputs] : base.outputs, name: `${base.name}_cached` });
  const cache = async (images: RgbImage[], offset: number) => {
    const outputs = await computeFrozenOutputs(cached, images, config.batchSize, runtime, progress(offset));
    return { boundary: outputs.slice(0, -1), baseOut: outputs.at(-1)! };
  };
  const trainCache = await cache(trainImages, 0);
  const valCache = val.length > 0 ? await cache(val.map((p) => p.crop), trainImages.length) : undefined;
  const labelsOf = (photos: PreparedPhoto[]) => photos.map((p) => classOf.get(p.person)!);
  // the caches are in shared memory: every training thread reads them, none gets its own copy
  const phaseData = (inputs: SharedTensor[], photos: PreparedPhoto[], v: number): SharedPhaseData => ({ inputs, labels: labelsOf(photos), views: v });

  const head = buildClassicHead({ numClasses: people.length, inputShape: trainCache.baseOut.shape.slice(1), dropout: config.dropout, seed: config.seed });
  const common = { numClasses: people.length, batchSize: config.batchSize, seed: config.seed };
  const phase = (name: string, inputs: (c: typeof trainCache) => SharedTensor[], models: ReplicaModels, learningRate: number, epochs: number) => ({
    ...common,
    name,
    train: phaseData(inputs(trainCache), train, views),
    val: valCache && phaseData(inputs(valCache), val, 1),
    models,
    learningRate,
    epochs,
    onBatch: (b: { epoch: number; batch: number; batches: number; loss: number }) => emit({ type: 'batch', phase: name, epochs, ...b }),
    onEpoch: (m: EpochMetrics) => emit({ type: 'epoch', phase: name, epochs, ...m }),
  });
  const history: TrainedClassifier['history'] = { phases: [] };
  const headPhase = phase('head', (c) => [c.baseOut], { head }, config.learningRate, config.epochs);
  const runners = phaseRunners(runtime);
  history.phases.push({ name: 'head', epochs: await runners.head(headPhase) });
  if (tail) {
    const fineTune = phase('fine-tune', (c) => c.boundary, { tail, head }, config.fineTuneLearningRate, config.fineTuneEpochs);
    history.phases.push({ name: 'fine-tune', epochs: await runners.fineTune(fineTune) });
  }
  const model = tfl.model({ name: 'facetrain_mobilenetv2', inputs: base.inputs, outputs: attachHead(head, base.outputs[0]!) });
  return { model, history };
}
