import type * as tfl from '@tensorflow/tfjs-layers';

type Layer = tfl.layers.Layer;
type Node = Layer['inboundNodes'][number];

/**
 * Walks a functional model's nodes in topological order, mapping its inputs to `inputs` and each
 * node's outputs to what `apply` makes of the node's inputs. A layer shared between models has
 * nodes from each; only nodes whose inputs this walk produced are applied. Returns the values of
 * the model's outputs, undefined where an output is not reachable from the inputs.
 */
export function walkModel<V>(model: tfl.LayersModel, inputs: V[], apply: (layer: Layer, ins: V[], node: Node) => V[]): (V | undefined)[] {
  const values = new Map<number, V>();
  model.inputs.forEach((t, i) => values.set(t.id, inputs[i]!));
  for (const layer of model.layers) {
    for (const node of layer.inboundNodes) {
      const ins = node.inputTensors;
      if (ins.length === 0 || !ins.every((t) => values.has(t.id))) continue;
      if (node.outputTensors.every((t) => values.has(t.id))) continue;
      const outs = apply(layer, ins.map((t) => values.get(t.id)!), node);
      node.outputTensors.forEach((t, i) => values.set(t.id, outs[i]!));
    }
  }
  return model.outputs.map((t) => values.get(t.id));
}
