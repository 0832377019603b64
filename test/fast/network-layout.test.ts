import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mobileFaceNetOnnx } from '../../src/base/mobilefacenet/mobilefacenet.js';
import { blazeFaceOnnx } from '../../src/faces/blazeface-onnx.js';
import { loadHumanModel } from '../../src/faces/human-models.js';
import { ModelProto } from '../../src/graph/onnx-schema.js';
import { loadOnnxRuntime } from '../../src/runtime/onnxruntime.js';
import { initEngine } from '../../src/tfjs/backend.js';

/** Op types of the graph onnxruntime runs after its optimisations (written out by the session), with their counts. */
async function optimisedOps(bytes: Uint8Array, name: string): Promise<Record<string, number>> {
  const ort = await loadOnnxRuntime();
  assert.ok(ort, 'onnxruntime-node loads');
  const file = path.join(tmpdir(), `facetrain-${name}-${process.pid}.onnx`);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: 'all', optimizedModelFilePath: file, logSeverityLevel: 3 });
  await session.release();
  const model = ModelProto.toObject(ModelProto.decode(await readFile(file))) as { graph: { node: { op_type: string }[] } };
  await rm(file, { force: true });
  const counts: Record<string, number> = {};
  for (const node of model.graph.node) counts[node.op_type] = (counts[node.op_type] ?? 0) + 1;
  return counts;
}

// onnxruntime runs convolutions in a blocked layout (NCHWc) on x86 with AVX2; an op it cannot run so
// costs a reorder out of it and back (the PRelu and channel Pad this graph used to have: 44 % and
// 12 % of the two networks' kernel time). Without AVX2 there are no reorders at all.
test('MobileFaceNet as emitted runs in onnxruntime\'s blocked layout end to end: no PRelu, no reorder inside', async () => {
  const ops = await optimisedOps(await mobileFaceNetOnnx(), 'mobilefacenet');
  assert.equal(ops.PRelu, undefined, JSON.stringify(ops));
  assert.equal(ops.ReorderInput, undefined, JSON.stringify(ops));
  assert.ok((ops.ReorderOutput ?? 0) <= 1, `one reorder, to the output (${JSON.stringify(ops)})`);
});

test('BlazeFace as emitted runs in the blocked layout: no Pad, no reorder but one per output', async () => {
  await initEngine();
  const model = await loadHumanModel('blazeface');
  const ops = await optimisedOps(blazeFaceOnnx(model), 'blazeface');
  model.dispose();
  assert.equal(ops.Pad, undefined, JSON.stringify(ops));
  assert.equal(ops.ReorderInput, undefined, JSON.stringify(ops));
  assert.ok((ops.ReorderOutput ?? 0) <= 4, `four outputs (${JSON.stringify(ops)})`);
  assert.equal(ops.Add, undefined, `every residual Add fused into a convolution (${JSON.stringify(ops)})`);
});
