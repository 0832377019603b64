import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { OnnxRuntime } from '../runtime/runtime.js';
import { childSeed, createRandom } from '../util/random.js';
import { runPhase, scoreProbabilities, type EpochMetrics, type Stepper } from './phase.js';
import { Adam } from './onnx-adam.js';
import { buildStepGraph, type StepGraph } from './onnx-step-graph.js';
import type { ParallelPhaseOptions } from './parallel.js';
import { packRows, replicaWeights, type ReplicaModels } from './replica.js';

type Session = Awaited<ReturnType<OnnxRuntime['InferenceSession']['create']>>;

/** One batch as the step graph takes it. */
export interface StepBatch {
  /** The batch's rows of each boundary tensor (NHWC), in the graph's boundary order. */
  boundary: Float32Array[];
  classes: number[];
  /** One multiplier per Dropout layer (0 or 1/(1-rate) per element, NHWC); see `dropoutMultipliers`. */
  dropout: Float32Array[];
}

export interface StepResult {
  loss: number;
  /** [rows, classes], row-major. */
  probabilities: Float32Array;
  /** One per trainable weight, in its Keras shape. */
  gradients: Float32Array[];
}

export interface OnnxTrainerOptions {
  models: ReplicaModels;
  numClasses: number;
  learningRate: number;
  /** onnxruntime intra-op threads; default os.availableParallelism(). Results are reproducible for a fixed count. */
  threads?: number;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Seeded dropout multipliers: each element kept (as 1/(1-rate), float32 like tf.dropout) with probability 1 - rate. */
export function dropoutMultipliers(specs: StepGraph['dropout'], rows: number, seed: number): Float32Array[] {
  return specs.map(({ shape, rate }, k) => {
    const random = createRandom(childSeed(seed, `dropout:${k}`));
    const kept = Math.fround(1 / Math.fround(1 - rate));
    const out = new Float32Array(rows * size(shape));
    for (let i = 0; i < out.length; i++) out[i] = rate > 0 && random() < rate ? 0 : kept;
    return out;
  });
}

/**
 * Fine-tuning on onnxruntime: the training step graph (forward, loss and every gradient) runs
 * natively, Adam runs here on Float32Array copies of the weights, and `writeBack` puts the trained
 * values into the models' variables.
 */
export class OnnxTrainer {
  private readonly adam: Adam;

  private constructor(
    private readonly ort: OnnxRuntime,
    readonly graph: StepGraph,
    private readonly forward: StepGraph,
    private readonly stepSession: Session,
    private readonly forwardSession: Session,
    private readonly variables: tfl.LayerVariable[],
    /** Current weights, Keras layout, in `trainableWeights` order. */
    readonly weights: Float32Array[],
    learningRate: number,
  ) {
    this.adam = new Adam(weights.map((w) => w.length), learningRate);
  }

  static async create(ort: OnnxRuntime, o: OnnxTrainerOptions): Promise<OnnxTrainer> {
    const options = { intraOpNumThreads: o.threads ?? availableParallelism(), interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' } as const;
    const graph = buildStepGraph(o.models, true);
    const forward = buildStepGraph(o.models, false);
    const [stepSession, forwardSession] = await Promise.all([ort.InferenceSession.create(graph.bytes, options), ort.InferenceSession.create(forward.bytes, options)]);
    const variables = replicaWeights(o.models);
    const weights = variables.map((v) => Float32Array.from(v.read().dataSync() as Float32Array));
    return new OnnxTrainer(ort, graph, forward, stepSession, forwardSession, variables, weights, o.learningRate);
  }

  private feeds(graph: StepGraph, boundary: Float32Array[], rows: number): Record<string, InstanceType<OnnxRuntime['Tensor']>> {
    const feeds: Record<string, InstanceType<OnnxRuntime['Tensor']>> = {};
    graph.boundary.forEach(({ name, shape }, k) => (feeds[name] = new this.ort.Tensor('float32', boundary[k]!, [rows, ...shape])));
    graph.weights.forEach((name, k) => (feeds[name] = new this.ort.Tensor('float32', this.weights[k]!, this.variables[k]!.shape as number[])));
    return feeds;
  }

  /** Loss, probabilities and gradients of one batch at the current weights. */
  async compute(batch: StepBatch): Promise<StepResult> {
    const rows = batch.classes.length;
    const feeds = this.feeds(this.graph, batch.boundary, rows);
    const labels = new Float32Array(rows * this.graph.classes);
    batch.classes.forEach((c, i) => (labels[i * this.graph.classes + c] = 1));
    feeds[this.graph.labels] = new this.ort.Tensor('float32', labels, [rows, this.graph.classes]);
    this.graph.dropout.forEach(({ name, shape }, k) => (feeds[name] = new this.ort.Tensor('float32', batch.dropout[k]!, [rows, ...shape])));
    const out = await this.stepSession.run(feeds);
    return {
      loss: (out[this.graph.loss]!.data as Float32Array)[0]!,
      probabilities: out[this.graph.probabilities]!.data as Float32Array,
      gradients: this.graph.gradients.map((name) => out[name]!.data as Float32Array),
    };
  }

  /** One Adam step with these gradients. */
  apply(gradients: Float32Array[]): void {
    this.adam.apply(this.weights, gradients);
  }

  /** Class probabilities of the given boundary rows, without dropout. */
  async predict(boundary: Float32Array[], rows: number): Promise<Float32Array> {
    const out = await this.forwardSession.run(this.feeds(this.forward, boundary, rows));
    return out[this.forward.probabilities]!.data as Float32Array;
  }

  /** Copies the trained weights into the models' variables. */
  writeBack(): void {
    tf.tidy(() => this.variables.forEach((v, k) => v.write(tf.tensor(this.weights[k]!, v.shape as number[]))));
  }

  async release(): Promise<void> {
    await Promise.allSettled([this.stepSession.release(), this.forwardSession.release()]);
  }
}

export type OnnxPhaseOptions = Omit<ParallelPhaseOptions, 'parts'> & { ort: OnnxRuntime; threads?: number };

/** A phase's batches and validation rows on the ONNX trainer. */
function onnxStepper(trainer: OnnxTrainer, o: OnnxPhaseOptions): Stepper {
  return {
    step: async ({ rows, classes, dropoutSeed }) => {
      const dropout = dropoutMultipliers(trainer.graph.dropout, classes.length, dropoutSeed);
      const result = await trainer.compute({ boundary: packRows(o.train.inputs, rows), classes, dropout });
      trainer.apply(result.gradients);
      return scoreProbabilities(result.probabilities, classes);
    },
    score: async (rows) => {
      const val = o.val!;
      return scoreProbabilities(await trainer.predict(packRows(val.inputs, rows), rows.length), rows.map((r) => val.labels[r]!));
    },
    finish: () => trainer.writeBack(),
    dispose: () => trainer.release(),
  };
}

/**
 * `runParallelPhase` on onnxruntime: the same seeded batches, events and metrics, one native step
 * per batch; dropout multipliers come from each batch's seed. Weights are written back at the end.
 */
export async function runOnnxPhase(o: OnnxPhaseOptions): Promise<EpochMetrics[]> {
  return runPhase(o, onnxStepper(await OnnxTrainer.create(o.ort, o), o));
}
