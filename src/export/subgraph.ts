import { type IrGraph, type IrOp, opInputs } from '../graph/ir.js';

/**
 * The part of `graph` that computes `outputs` (its ops in order, those tensors as the outputs):
 * the network a pipeline quantizes before its float tail, or the pipeline without an output a
 * format cannot write.
 */
export function subgraphFor(graph: IrGraph, outputs: string[]): IrGraph {
  const needed = new Set(outputs);
  const ops: IrOp[] = [];
  for (const op of [...graph.ops].reverse()) {
    if (!needed.has(op.output)) continue;
    ops.unshift(op);
    for (const name of opInputs(op)) needed.add(name);
  }
  return { ...graph, ops, outputs };
}
