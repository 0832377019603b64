import * as tfl from '@tensorflow/tfjs-layers';
import { invalidOption } from '../errors.js';

type Layer = tfl.layers.Layer;
type Node = Layer['inboundNodes'][number];

export interface SplitModel {
  /** Model input -> the boundary tensors, in `boundary` order. */
  frozen: tfl.LayersModel;
  /** The boundary tensors (as fresh Inputs, same order) -> the model output, sharing the original layers. */
  tail: tfl.LayersModel;
  /** Names of the boundary tensors: the producing layer's name, `:<n>` for its n-th output when n > 0. */
  boundary: string[];
}

/** The graph node that produced `tensor` in the model it belongs to. */
function producingNode(tensor: tfl.SymbolicTensor): Node {
  return tensor.sourceLayer.inboundNodes[tensor.nodeIndex];
}

function tensorLabel(tensor: tfl.SymbolicTensor): string {
  return tensor.tensorIndex > 0 ? `${tensor.sourceLayer.name}:${tensor.tensorIndex}` : tensor.sourceLayer.name;
}

/**
 * Tensors made by layers before `index` (or model inputs) that the rest of the graph needs, found by
 * walking back from the outputs, so only this model's nodes count, not uses of shared layers elsewhere.
 */
function boundaryTensors(model: tfl.LayersModel, position: Map<Layer, number>, index: number): tfl.SymbolicTensor[] {
  const inputLayers = new Set<Layer>(model.inputLayers);
  const found = new Set<tfl.SymbolicTensor>();
  const visited = new Set<Node>();
  const pending = [...model.outputs];
  for (let tensor = pending.pop(); tensor; tensor = pending.pop()) {
    if (position.get(tensor.sourceLayer)! < index || inputLayers.has(tensor.sourceLayer)) {
      found.add(tensor);
      continue;
    }
    const node = producingNode(tensor);
    if (visited.has(node)) continue;
    visited.add(node);
    pending.push(...node.inputTensors);
  }
  return [...found].sort((a, b) => position.get(a.sourceLayer)! - position.get(b.sourceLayer)! || a.tensorIndex - b.tensorIndex);
}

/** Calls every node after the boundary again on new symbolic inputs, re-using the layer objects (and so their weights). */
function replayTail(model: tfl.LayersModel, boundary: tfl.SymbolicTensor[], inputs: tfl.SymbolicTensor[]): tfl.SymbolicTensor[] {
  const replacement = new Map<tfl.SymbolicTensor, tfl.SymbolicTensor>(boundary.map((t, i) => [t, inputs[i]]));
  const replayedNodes = new Map<Node, tfl.SymbolicTensor[]>();
  const replay = (tensor: tfl.SymbolicTensor): tfl.SymbolicTensor => {
    const known = replacement.get(tensor);
    if (known) return known;
    const node = producingNode(tensor);
    let outputs = replayedNodes.get(node);
    if (!outputs) {
      const args = node.inputTensors.map(replay);
      const result = node.outboundLayer.apply(args.length === 1 ? args[0] : args, node.callArgs ?? {});
      outputs = Array.isArray(result) ? (result as tfl.SymbolicTensor[]) : [result as tfl.SymbolicTensor];
      replayedNodes.set(node, outputs);
    }
    return outputs[tensor.tensorIndex];
  };
  return model.outputs.map(replay);
}

/**
 * Splits a functional model at layer `index` for transfer learning: `frozen` runs layers < index
 * once per image (features can be cached), `tail` runs the rest. Boundary tensors are all tensors
 * produced before `index` and consumed from `index` on (a residual shortcut adds one, e.g.
 * MobileNetV2 at 100 needs block_10_project_BN and block_11_expand). Both models share the
 * original layer objects: training `tail` updates the base, and all three models hold references
 * to the layers' weights, so dispose each of them to free the memory.
 * Generic over functional graphs (walks inbound nodes), not tied to one architecture.
 */
export function splitAtLayer(model: tfl.LayersModel, index: number): SplitModel {
  if (!Number.isInteger(index) || index < 1 || index >= model.layers.length) {
    throw invalidOption('split layer index', `an integer from 1 to ${model.layers.length - 1} for ${model.name}`, index);
  }
  const position = new Map(model.layers.map((layer, i) => [layer, i] as const));
  const boundary = boundaryTensors(model, position, index);
  const labels = boundary.map(tensorLabel);
  const frozen = tfl.model({ inputs: model.inputs, outputs: boundary, name: `${model.name}_frozen_${index}` });
  const tailInputs = boundary.map((t, i) => tfl.input({ batchShape: t.shape, dtype: t.dtype, name: `${labels[i].replace(':', '_')}_boundary` }));
  const tail = tfl.model({ inputs: tailInputs, outputs: replayTail(model, boundary, tailInputs), name: `${model.name}_tail_${index}` });
  return { frozen, tail, boundary: labels };
}
