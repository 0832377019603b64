import { test } from 'node:test';
import assert from 'node:assert/strict';
// tfjs-core alone registers no gradient functions; tfjs-layers registers all of them on import.
import '@tensorflow/tfjs-layers';
import { initEngine, tf } from '../../src/tfjs/backend.js';
import { TRAINING_KERNELS, WASM_SPEEDUPS, registerTrainingKernels, stockCpuKernel } from '../../src/tfjs/kernels/register.js';

await initEngine('wasm');

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface Operand { values: Float32Array; shape: number[] }

function randomOperand(shape: number[], seed: number): Operand {
  let state = seed * 7919 + 17;
  const values = new Float32Array(tf.util.sizeFromShape(shape));
  for (let i = 0; i < values.length; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    values[i] = state / 1073741824 - 1;
  }
  return { values, shape };
}

/** Runs a kernel function straight on a backend, bypassing the engine, and reads the result back. */
function runKernelOn(backendName: 'wasm' | 'cpu', kernelFunc: tf.KernelFunc, inputs: Record<string, Operand>, attrs: tf.NamedAttrMap): Operand {
  const backend = tf.findBackend(backendName)!;
  const infos: tf.NamedTensorInfoMap = {};
  for (const [name, { values, shape }] of Object.entries(inputs) as [string, Operand][]) {
    infos[name] = { dataId: backend.write(values.slice(), shape, 'float32'), shape, dtype: 'float32' };
  }
  const result = kernelFunc({ inputs: infos, attrs, backend });
  const out = (Array.isArray(result) ? result[0] : result) as tf.TensorInfo;
  const values = Float32Array.from(backend.readSync(out.dataId) as Float32Array);
  backend.disposeData(out.dataId);
  for (const info of Object.values(infos) as tf.TensorInfo[]) backend.disposeData(info.dataId);
  return { values, shape: out.shape };
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length);
  let maxDiff = 0;
  let scale = 1e-12;
  for (let i = 0; i < actual.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return maxDiff / scale;
}

function ourKernel(kernelName: string): tf.KernelFunc {
  return [...TRAINING_KERNELS, ...WASM_SPEEDUPS].find((k) => k.kernelName === kernelName)!.kernelFunc;
}

function assertMatchesStock(
  kernelName: string, inputs: Record<string, Operand>, attrs: tf.NamedAttrMap, label: string, backends: ('wasm' | 'cpu')[] = ['wasm', 'cpu'],
): void {
  const stock = runKernelOn('cpu', stockCpuKernel(kernelName)!, inputs, attrs);
  for (const backendName of backends) {
    const ours = runKernelOn(backendName, ourKernel(kernelName), inputs, attrs);
    assert.deepEqual(ours.shape, stock.shape, `${kernelName} ${label} on ${backendName}: shape`);
    const err = relativeError(ours.values, stock.values);
    assert.ok(err <= 1e-4, `${kernelName} ${label} on ${backendName}: max relative error ${err}`);
  }
}

interface ConvCase { x: number[]; filter: number; outChannels: number; stride: number; pad: Pad }

const convCases: ConvCase[] = [
  { x: [1, 5, 5, 3], filter: 1, outChannels: 4, stride: 1, pad: 'same' },
  { x: [4, 14, 14, 32], filter: 1, outChannels: 48, stride: 1, pad: 'valid' },
  { x: [2, 7, 9, 5], filter: 1, outChannels: 6, stride: 2, pad: 'same' },
  { x: [2, 7, 7, 5], filter: 3, outChannels: 6, stride: 1, pad: 'same' },
  { x: [3, 8, 9, 4], filter: 3, outChannels: 5, stride: 2, pad: 'same' },
  { x: [2, 9, 7, 3], filter: 3, outChannels: 4, stride: 1, pad: 'valid' },
  { x: [1, 11, 10, 3], filter: 3, outChannels: 8, stride: 2, pad: 'valid' },
  // ZeroPadding2D(((0,1),(0,1))) in front of a stride-2 'valid' convolution, as in MobileNetV2.
  { x: [2, 10, 10, 3], filter: 3, outChannels: 4, stride: 2, pad: [[0, 0], [0, 1], [0, 1], [0, 0]] },
];

function outputShape(c: ConvCase, depthwiseMultiplier?: number): number[] {
  const channels = depthwiseMultiplier === undefined ? c.outChannels : c.x[3]! * depthwiseMultiplier;
  const info = tf.backend_util.computeConv2DInfo(
    c.x as [number, number, number, number], [c.filter, c.filter, c.x[3]!, depthwiseMultiplier ?? c.outChannels],
    c.stride, 1, c.pad, undefined, depthwiseMultiplier !== undefined);
  return [c.x[0]!, info.outHeight, info.outWidth, channels];
}

const label = (c: ConvCase, extra = ''): string => `x=${c.x} k=${c.filter} s=${c.stride} pad=${JSON.stringify(c.pad)}${extra}`;

test('Conv2DBackpropFilter and Conv2DBackpropInput match stock tfjs-backend-cpu', () => {
  convCases.forEach((c, i) => {
    const filterShape = [c.filter, c.filter, c.x[3]!, c.outChannels];
    const dy = randomOperand(outputShape(c), 100 + i);
    const common = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
    assertMatchesStock(tf.Conv2DBackpropFilter, { x: randomOperand(c.x, i), dy }, { ...common, filterShape }, label(c));
    assertMatchesStock(tf.Conv2DBackpropInput, { dy, filter: randomOperand(filterShape, 200 + i) }, { ...common, inputShape: c.x }, label(c));
  });
});

test('DepthwiseConv2dNative gradients match stock tfjs-backend-cpu for multipliers 1 and 2', () => {
  for (const multiplier of [1, 2]) {
    convCases.filter((c) => c.filter === 3).forEach((c, i) => {
      const filterShape = [c.filter, c.filter, c.x[3]!, multiplier];
      const dy = randomOperand(outputShape(c, multiplier), 300 + i);
      const common = { strides: c.stride, pad: c.pad, dilations: 1 } as unknown as tf.NamedAttrMap;
      const name = label(c, ` multiplier=${multiplier}`);
      assertMatchesStock(tf.DepthwiseConv2dNativeBackpropFilter, { x: randomOperand(c.x, 400 + i), dy }, { ...common, filterShape }, name);
      assertMatchesStock(tf.DepthwiseConv2dNativeBackpropInput, { dy, filter: randomOperand(filterShape, 500 + i) }, { ...common, inputShape: c.x }, name);
    });
  }
});

test('wasm Tile matches stock cpu Tile and Identity shares memory', () => {
  const cases: [number[], number[]][] = [[[1, 1, 1, 5], [2, 3, 4, 1]], [[3, 2], [2, 2]], [[4], [3]], [[2, 1, 3], [1, 4, 2]], [[2, 3], [1, 1]]];
  cases.forEach(([shape, reps], i) => {
    assertMatchesStock(tf.Tile, { x: randomOperand(shape, 600 + i) }, { reps }, `shape=${shape} reps=${reps}`, ['wasm']);
  });
  const ints = tf.tile(tf.tensor2d([[1, 2], [3, 4]], [2, 2], 'int32'), [2, 3]);
  assert.deepEqual(ints.arraySync(), [[1, 2, 1, 2, 1, 2], [3, 4, 3, 4, 3, 4], [1, 2, 1, 2, 1, 2], [3, 4, 3, 4, 3, 4]]);
  const x = tf.tensor1d([1, 2, 3]);
  const y = tf.clone(x);
  x.dispose();
  assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3]);
  tf.dispose([ints, y]);
});

test('fused ClipByValue (ReLU6) and Relu gradients equal the stock gradient formulas, boundaries included', () => {
  for (const backendName of ['wasm', 'cpu'] as const) {
    tf.setBackend(backendName);
    const values = [-1, 0, 1e-7, 0.5, 5.999, 6, 6.001, 7, ...randomOperand([200], 700).values.map((v) => v * 8)];
    const x = tf.tensor1d(values);
    const dy = tf.tensor1d(randomOperand([values.length], 701).values);
    const clipGrad = tf.grad((t: tf.Tensor) => tf.clipByValue(t, 0, 6))(x, dy);
    const reluGrad = tf.grad((t: tf.Tensor) => tf.relu(t))(x, dy);
    const stockClip = tf.where(tf.logicalAnd(tf.greaterEqual(x, 0), tf.lessEqual(x, 6)), dy, tf.zerosLike(dy));
    const stockRelu = tf.mul(dy, tf.cast(tf.step(x), 'float32'));
    // === rather than deepEqual: the stock Relu gradient multiplies by 0 and may produce -0.
    const same = (a: tf.Tensor, b: tf.Tensor): boolean => Array.from(a.dataSync()).every((v, i) => v === b.dataSync()[i]);
    assert.ok(same(clipGrad, stockClip), `ClipByValue gradient on ${backendName}`);
    assert.ok(same(reluGrad, stockRelu), `Relu gradient on ${backendName}`);
    tf.dispose([x, dy, clipGrad, reluGrad, stockClip, stockRelu]);
  }
  tf.setBackend('wasm');
});

test('registerTrainingKernels is idempotent', () => {
  const before = TRAINING_KERNELS.map((k) => tf.getKernel(k.kernelName, 'wasm')!.kernelFunc);
  registerTrainingKernels();
  assert.deepEqual(TRAINING_KERNELS.map((k) => tf.getKernel(k.kernelName, 'wasm')!.kernelFunc), before);
  assert.deepEqual(TRAINING_KERNELS.map((k) => tf.getKernel(k.kernelName, 'cpu')!.kernelFunc), before);
});

/** A MobileNetV2-like block: every op whose gradient fine-tuning needs. */
function smallNetwork(seed: number): { variables: tf.Variable[]; loss: () => tf.Scalar } {
  const v = <R extends tf.Rank>(shape: number[], i: number, scale = 0.5): tf.Variable<R> =>
    tf.variable<R>(tf.tensor<tf.Rank>(randomOperand(shape, seed + i).values.map((x) => x * scale), shape as number[]) as tf.Tensor<R>, true, `v${seed}_${i}`);
  const stem = v<tf.Rank.R4>([3, 3, 3, 8], 1);
  const depthwise = v<tf.Rank.R4>([3, 3, 8, 1], 2);
  const expand = v<tf.Rank.R4>([3, 3, 8, 2], 3);
  const gamma = v<tf.Rank.R1>([8], 4);
  const beta = v<tf.Rank.R1>([8], 5);
  const project = v<tf.Rank.R4>([1, 1, 16, 8], 6);
  const dense = v<tf.Rank.R2>([8, 5], 7);
  const bias = v<tf.Rank.R1>([5], 8);
  const x = tf.tensor4d(randomOperand([2, 11, 11, 3], seed).values, [2, 11, 11, 3]);
  const labels = tf.oneHot(tf.tensor1d([1, 3], 'int32'), 5);
  const movingMean = tf.tensor1d([0.1, -0.2, 0.0, 0.3, 0.1, 0.0, -0.1, 0.2]);
  const movingVariance = tf.tensor1d([1.0, 0.5, 2.0, 1.5, 0.8, 1.2, 0.9, 1.1]);
  const loss = (): tf.Scalar => tf.tidy(() => {
    const padded = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]);
    const h1 = tf.conv2d(padded, stem, 2, 'valid');
    const h2 = tf.depthwiseConv2d(h1, depthwise, 1, 'same');
    const h3 = tf.clipByValue(tf.batchNorm(h2, movingMean, movingVariance, beta, gamma, 1e-3), 0, 6);
    const residual = tf.add<tf.Tensor4D>(h1, h3);
    const h4 = tf.depthwiseConv2d(residual, expand, 2, 'same');
    const h5 = tf.conv2d(tf.relu6(h4) as tf.Tensor4D, project, 1, 'same');
    const pooled = tf.mean(h5, [1, 2]);
    const logits = tf.add(tf.matMul(pooled, dense), bias);
    return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
  });
  return { variables: [stem, depthwise, expand, gamma, beta, project, dense, bias], loss };
}

/** Temporarily puts the stock cpu kernels back so a reference can be computed with them. */
function withStockCpuKernels<T>(run: () => T): T {
  for (const { kernelName } of TRAINING_KERNELS) {
    const stock = stockCpuKernel(kernelName)!;
    tf.unregisterKernel(kernelName, 'cpu');
    tf.registerKernel({ kernelName, backendName: 'cpu', kernelFunc: stock });
  }
  try {
    return run();
  } finally {
    registerTrainingKernels();
  }
}

function gradientsOn(backendName: 'wasm' | 'cpu'): Float32Array[] {
  tf.setBackend(backendName);
  const { variables, loss } = smallNetwork(1000);
  const { grads } = tf.variableGrads(loss, variables);
  const out = variables.map((variable) => grads[variable.name]!.dataSync() as Float32Array);
  tf.dispose([variables, grads]);
  return out;
}

test('gradients of a small MobileNetV2-like network on wasm match stock cpu', () => {
  try {
    const expected = withStockCpuKernels(() => gradientsOn('cpu'));
    const actual = gradientsOn('wasm');
    actual.forEach((grad, i) => {
      const err = relativeError(grad, expected[i]!);
      assert.ok(err <= 1e-4, `variable ${i}: max relative error ${err}`);
    });
  } finally {
    tf.setBackend('wasm');
  }
});

test('wasm gradient agrees with a finite difference along a random direction', () => {
  const { variables, loss } = smallNetwork(2000);
  const { grads } = tf.variableGrads(loss, variables);
  const directions = variables.map((variable, i) => randomOperand(variable.shape, 3000 + i).values);
  const analytic = variables.reduce((sum, variable, i) => {
    const g = grads[variable.name]!.dataSync();
    return sum + directions[i]!.reduce((s, d, j) => s + d * g[j]!, 0);
  }, 0);
  const originals = variables.map((variable) => variable.dataSync().slice());
  const lossAt = (step: number): number => {
    variables.forEach((variable, i) => {
      variable.assign(tf.tensor(originals[i]!.map((w, j) => w + step * directions[i]![j]!), variable.shape));
    });
    return loss().dataSync()[0]!;
  };
  const h = 1e-2;
  const numeric = (lossAt(h) - lossAt(-h)) / (2 * h);
  tf.dispose([variables, grads]);
  assert.ok(Math.abs(numeric - analytic) <= 1e-2 * Math.max(1, Math.abs(analytic)), `finite difference ${numeric} vs gradient ${analytic}`);
});
