import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { invalidOption } from '../../errors.js';
import { fetchOfficialMobileNetV2Weights } from './official-weights.js';
import { loadWeightsByName } from './weights.js';

export interface MobileNetV2Options {
  /** Width multiplier; any positive value builds; ImageNet weights exist for 0.35, 0.5, 0.75, 1.0, 1.3, 1.4. */
  alpha: number;
  /** Square input side in pixels (Keras' minimum is 32). */
  inputSize?: number;
}

/**
 * Keras' `preprocess_input(mode='tf')` for MobileNetV2 as (x - mean) / std on 0..255 RGB, i.e. [-1, 1];
 * the form TFLite metadata and other runtimes take, so exporters write the same scaling.
 */
export const MOBILENET_V2_NORMALIZATION = Object.freeze({ mean: 127.5, std: 127.5 });

/** Maps 0..255 RGB pixels (any shape) to MobileNetV2's [-1, 1] input, computed as Keras does: x / 127.5 - 1. */
export function preprocessMobileNetV2(pixels: tf.Tensor): tf.Tensor {
  const { mean, std } = MOBILENET_V2_NORMALIZATION;
  return tf.tidy(() => tf.sub(tf.div(tf.cast(pixels, 'float32'), std), mean / std));
}

/** Keras' `_make_divisible`: round to a multiple of `divisor` without dropping more than 10%. */
export function makeDivisible(value: number, divisor = 8): number {
  const rounded = Math.max(divisor, Math.floor(Math.trunc(value + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * value ? rounded + divisor : rounded;
}

/** Channels of the `out_relu` feature map: 1280, widened only for alpha > 1 (as in the paper). */
export function mobileNetV2OutputChannels(alpha: number): number {
  return alpha > 1 ? makeDivisible(1280 * alpha) : 1280;
}

/** Keras' `correct_pad`: the asymmetric zero padding that makes a stride-2 3x3 'valid' conv match TF's 'same'. */
function correctPad(spatialSize: number, kernel = 3): [[number, number], [number, number]] {
  const adjust = 1 - (spatialSize % 2);
  const half = Math.floor(kernel / 2);
  return [
    [half - adjust, half],
    [half - adjust, half],
  ];
}

interface BlockSpec {
  filters: number;
  stride: 1 | 2;
  expansion: number;
}

/** The 17 inverted residual blocks of MobileNetV2, block_id = position. */
const BLOCKS: readonly BlockSpec[] = [
  { filters: 16, stride: 1, expansion: 1 },
  { filters: 24, stride: 2, expansion: 6 },
  { filters: 24, stride: 1, expansion: 6 },
  { filters: 32, stride: 2, expansion: 6 },
  { filters: 32, stride: 1, expansion: 6 },
  { filters: 32, stride: 1, expansion: 6 },
  { filters: 64, stride: 2, expansion: 6 },
  { filters: 64, stride: 1, expansion: 6 },
  { filters: 64, stride: 1, expansion: 6 },
  { filters: 64, stride: 1, expansion: 6 },
  { filters: 96, stride: 1, expansion: 6 },
  { filters: 96, stride: 1, expansion: 6 },
  { filters: 96, stride: 1, expansion: 6 },
  { filters: 160, stride: 2, expansion: 6 },
  { filters: 160, stride: 1, expansion: 6 },
  { filters: 160, stride: 1, expansion: 6 },
  { filters: 320, stride: 1, expansion: 6 },
];

/** Keras' default (tfjs-layers defaults to glorotNormal): matters for training from scratch and for identical configs. */
const KERAS_KERNEL_INIT = 'glorotUniform';

function batchNorm(name: string): tfl.layers.Layer {
  return tfl.layers.batchNormalization({ axis: -1, epsilon: 1e-3, momentum: 0.999, name });
}

function relu6(name: string): tfl.layers.Layer {
  return tfl.layers.reLU({ maxValue: 6, name });
}

function pointwise(filters: number, name: string): tfl.layers.Layer {
  return tfl.layers.conv2d({ filters, kernelSize: 1, padding: 'same', useBias: false, activation: 'linear', kernelInitializer: KERAS_KERNEL_INIT, name });
}

function apply(layer: tfl.layers.Layer, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]): tfl.SymbolicTensor {
  return layer.apply(x) as tfl.SymbolicTensor;
}

function channels(x: tfl.SymbolicTensor): number {
  return x.shape[x.shape.length - 1] as number;
}

function invertedResidualBlock(inputs: tfl.SymbolicTensor, spec: BlockSpec, alpha: number, blockId: number): tfl.SymbolicTensor {
  const inChannels = channels(inputs);
  const pointwiseFilters = makeDivisible(Math.trunc(spec.filters * alpha));
  let prefix = `block_${blockId}_`;
  let x = inputs;
  if (blockId > 0) {
    x = apply(pointwise(spec.expansion * inChannels, `${prefix}expand`), x);
    x = apply(batchNorm(`${prefix}expand_BN`), x);
    x = apply(relu6(`${prefix}expand_relu`), x);
  } else {
    prefix = 'expanded_conv_';
  }
  if (spec.stride === 2) {
    x = apply(tfl.layers.zeroPadding2d({ padding: correctPad(x.shape[1] as number), name: `${prefix}pad` }), x);
  }
  x = apply(
    tfl.layers.depthwiseConv2d({
      kernelSize: 3,
      strides: spec.stride,
      activation: 'linear',
      useBias: false,
      padding: spec.stride === 1 ? 'same' : 'valid',
      depthwiseInitializer: KERAS_KERNEL_INIT,
      name: `${prefix}depthwise`,
    }),
    x,
  );
  x = apply(batchNorm(`${prefix}depthwise_BN`), x);
  x = apply(relu6(`${prefix}depthwise_relu`), x);
  x = apply(pointwise(pointwiseFilters, `${prefix}project`), x);
  x = apply(batchNorm(`${prefix}project_BN`), x);
  return inChannels === pointwiseFilters && spec.stride === 1 ? apply(tfl.layers.add({ name: `${prefix}add` }), [inputs, x]) : x;
}

/** Keras' model name, e.g. `mobilenetv2_0.35_224`. */
export function mobileNetV2Name(alpha: number, inputSize: number): string {
  return `mobilenetv2_${alpha.toFixed(2)}_${inputSize}`;
}

/**
 * MobileNetV2 feature extractor, layer for layer the Keras application with `include_top=False`
 * (no pooling): same layer names, order, configs and weight shapes, so Keras ImageNet weights and
 * Keras-exported TF.js models load by name. Input: [-1, 1] RGB ({@link preprocessMobileNetV2});
 * output `out_relu`: [null, ceil(size/32), ceil(size/32), {@link mobileNetV2OutputChannels}].
 *
 * Layout: the TF 2.0-era `tf.keras.applications` graph, which starts with a `Conv1_pad` ZeroPadding2D
 * (155 layers including the input, layer 100 = `block_11_expand_BN`), as in the shared reference model.
 * Current Keras drops `Conv1_pad` and gives `Conv1` padding 'same' (154 layers, layer 100 =
 * `block_11_expand_relu`); the weights are identical, only layer indices shift by one. Fine-tuning
 * recipes written as "unfreeze from layer 100" therefore mean this layout.
 */
export function buildMobileNetV2({ alpha, inputSize = 224 }: MobileNetV2Options): tfl.LayersModel {
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw invalidOption('alpha', 'a positive width multiplier such as 0.35 or 1.0', alpha);
  if (!Number.isInteger(inputSize) || inputSize < 32) throw invalidOption('input size', 'an integer of at least 32', inputSize);
  const input = tfl.input({ shape: [inputSize, inputSize, 3], name: 'input_1' });
  let x = apply(tfl.layers.zeroPadding2d({ padding: correctPad(inputSize), name: 'Conv1_pad' }), input);
  x = apply(
    tfl.layers.conv2d({ filters: makeDivisible(32 * alpha), kernelSize: 3, strides: 2, padding: 'valid', useBias: false, activation: 'linear', kernelInitializer: KERAS_KERNEL_INIT, name: 'Conv1' }),
    x,
  );
  x = apply(batchNorm('bn_Conv1'), x);
  x = apply(relu6('Conv1_relu'), x);
  BLOCKS.forEach((spec, blockId) => {
    x = invertedResidualBlock(x, spec, alpha, blockId);
  });
  x = apply(
    tfl.layers.conv2d({ filters: mobileNetV2OutputChannels(alpha), kernelSize: 1, useBias: false, activation: 'linear', kernelInitializer: KERAS_KERNEL_INIT, name: 'Conv_1' }),
    x,
  );
  x = apply(batchNorm('Conv_1_bn'), x);
  x = apply(relu6('out_relu'), x);
  return tfl.model({ inputs: input, outputs: x, name: mobileNetV2Name(alpha, inputSize) });
}

export interface LoadMobileNetV2Options extends MobileNetV2Options {
  /** A TF.js layers model directory (or its model.json) or a Keras .h5; default: the official ImageNet weights. */
  weights?: string;
  /** Where downloaded official weights are kept; default `facetrainCacheDir()` ($FACETRAIN_CACHE, $XDG_CACHE_HOME/facetrain or ~/.cache/facetrain). */
  cacheDir?: string;
  fetch?: typeof fetch;
}

/**
 * {@link buildMobileNetV2} with pretrained weights copied in by layer name: from `weights` when
 * given, else the Keras ImageNet checkpoint for `alpha`, downloaded once into the cache.
 * @throws FacetrainError FT_ERR_WEIGHTS for unusable weight files, FT_ERR_NETWORK when a needed download fails.
 */
export async function loadMobileNetV2({ weights, cacheDir, fetch, ...architecture }: LoadMobileNetV2Options): Promise<tfl.LayersModel> {
  const source = weights ?? (await fetchOfficialMobileNetV2Weights({ alpha: architecture.alpha, inputSize: architecture.inputSize, cacheDir, fetch }));
  const model = buildMobileNetV2(architecture);
  try {
    await loadWeightsByName(model, source);
    return model;
  } catch (err) {
    model.dispose();
    throw err;
  }
}
