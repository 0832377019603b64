import * as tf from '@tensorflow/tfjs-core';
import { evaluateIr } from '../graph/interpret.js';
import type { IrGraph } from '../graph/ir.js';

/** Bins of a tensor's histogram; its range doubles (merging bin pairs) whenever a value falls outside. */
const BINS = 2048;

/** What calibration saw of one tensor: exact min/max and a histogram over [-limit, limit]. */
export interface TensorStats {
  min: number;
  max: number;
  limit: number;
  counts: Float64Array;
}

/** Statistics of every IR tensor over the representative inputs. */
export type ActivationStats = Map<string, TensorStats>;

function newStats(values: Float32Array): TensorStats {
  let peak = 0;
  for (const v of values) peak = Math.max(peak, Math.abs(v));
  return { min: Infinity, max: -Infinity, limit: peak > 0 ? peak : 1, counts: new Float64Array(BINS) };
}

function widen(stats: TensorStats): void {
  const merged = new Float64Array(BINS);
  for (let i = 0; i < BINS; i++) merged[BINS / 4 + (i >> 1)] += stats.counts[i];
  stats.counts = merged;
  stats.limit *= 2;
}

function record(stats: TensorStats, values: Float32Array): void {
  for (const v of values) {
    if (v < stats.min) stats.min = v;
    if (v > stats.max) stats.max = v;
    while (Math.abs(v) >= stats.limit && Number.isFinite(v)) widen(stats);
    stats.counts[Math.floor(((v + stats.limit) / (2 * stats.limit)) * BINS)]++;
  }
}

/** Runs the float IR one sample at a time (bounded memory) and records each tensor's range and histogram. */
export function calibrate(graph: IrGraph, inputs: tf.Tensor4D): ActivationStats {
  const all: ActivationStats = new Map();
  for (let i = 0; i < inputs.shape[0]; i++) {
    tf.tidy(() => {
      const sample = tf.slice(inputs, [i, 0, 0, 0], [1, -1, -1, -1]);
      evaluateIr(graph, sample, (name, value) => {
        const values = value.dataSync() as Float32Array;
        let stats = all.get(name);
        if (!stats) all.set(name, (stats = newStats(values)));
        record(stats, values);
      });
    });
  }
  return all;
}

/** Quantization error (sum of squares, in histogram counts) of clamping to [lo, hi] on 256 levels. */
function rangeError(stats: TensorStats, lo: number, hi: number): number {
  const step = (hi - lo) / 255;
  const width = (2 * stats.limit) / BINS;
  let error = 0;
  for (let i = 0; i < BINS; i++) {
    const n = stats.counts[i];
    if (n === 0) continue;
    const v = -stats.limit + (i + 0.5) * width;
    error += n * (v < lo ? (v - lo) ** 2 : v > hi ? (v - hi) ** 2 : (step * step) / 12);
  }
  return error;
}

/**
 * The [lo, hi] to quantize a tensor on: its calibrated min/max shrunk by the factor that
 * minimises the expected squared error (rounding inside, clamping outside), as TF's
 * HISTOGRAM_MSE calibration does. Rare outliers then no longer coarsen the grid for every value.
 */
export function mseRange(stats: TensorStats): [number, number] {
  const lo = Math.min(stats.min, 0);
  const hi = Math.max(stats.max, 0);
  let best: [number, number] = [lo, hi];
  let bestError = rangeError(stats, lo, hi);
  for (let k = 99; k >= 10; k--) {
    const f = k / 100;
    const error = rangeError(stats, lo * f, hi * f);
    if (error < bestError) [best, bestError] = [[lo * f, hi * f], error];
  }
  return best;
}
