import { type AffineOp, type ClipOp, type IrGraph, type IrOp, isWeighted, opInputs, type WeightedOp } from './ir.js';

/**
 * Folds what every target runtime would fuse anyway, so all emitters see the same small graph:
 * per-channel affine (batch norm, bias Add, Mul) into the conv/dense before it, chains of clips
 * (Relu -> Minimum(6) -> Maximum(0)) into one, and relu/relu6 clips into the conv/dense.
 */
export function optimizeIr(graph: IrGraph): IrGraph {
  let ops = graph.ops;
  for (;;) {
    const next = foldOnce(ops, new Set(graph.outputs));
    if (next === ops) break;
    ops = next;
  }
  return { ...graph, ops };
}

function outputChannels(op: WeightedOp): number {
  return op.bias.length;
}

function foldAffine(producer: WeightedOp, affine: AffineOp): WeightedOp | undefined {
  const channels = outputChannels(producer);
  if (producer.activation !== 'none' || affine.scale.length !== channels) return undefined;
  const weights = producer.kind === 'dense' ? producer.kernel : producer.filter;
  const data = weights.data.slice();
  // Output channel is the fastest-varying index in HWIO, [kh,kw,in,mult] and [in,out] alike.
  for (let i = 0; i < data.length; i++) data[i] *= affine.scale[i % channels];
  const bias = producer.bias.map((b, c) => b * affine.scale[c] + affine.offset[c]);
  const folded = { shape: weights.shape, data };
  return producer.kind === 'dense'
    ? { ...producer, kernel: folded, bias, output: affine.output }
    : { ...producer, filter: folded, bias, output: affine.output };
}

function clipActivation(clip: ClipOp): 'relu' | 'relu6' | undefined {
  if (clip.min !== 0) return undefined;
  if (clip.max === Infinity) return 'relu';
  return clip.max === 6 ? 'relu6' : undefined;
}

function fuse(first: IrOp, second: IrOp): IrOp | undefined {
  if (isWeighted(first) && second.kind === 'affine') return foldAffine(first, second);
  if (first.kind === 'clip' && second.kind === 'clip') {
    const min = Math.max(first.min, second.min);
    const max = Math.min(first.max, second.max);
    // Clamping twice equals one clamp to the intersection only when the ranges overlap.
    return min <= max ? { ...first, min, max, output: second.output } : undefined;
  }
  if (isWeighted(first) && second.kind === 'clip' && first.activation !== 'relu6') {
    // relu then a clip to [0, x] is that clip alone (FaceRes runs Relu, then clip_by_value 0..6)
    const activation = clipActivation(second);
    return activation ? { ...first, activation, output: second.output } : undefined;
  }
  return undefined;
}

function foldOnce(ops: IrOp[], graphOutputs: Set<string>): IrOp[] {
  const consumers = new Map<string, number>();
  for (const op of ops) for (const name of opInputs(op)) consumers.set(name, (consumers.get(name) ?? 0) + 1);
  for (let i = 0; i < ops.length; i++) {
    const first = ops[i];
    if (graphOutputs.has(first.output) || consumers.get(first.output) !== 1) continue;
    const j = ops.findIndex((op) => opInputs(op).includes(first.output));
    const merged = fuse(first, ops[j]);
    if (!merged) continue;
    const next = ops.slice();
    next[j] = merged;
    next.splice(i, 1);
    return next;
  }
  return ops;
}
