import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mobileFaceNetOnnx } from '../../src/base/mobilefacenet/mobilefacenet.js';
import { blazeFaceOnnx, withInputSize } from '../../src/faces/blazeface-onnx.js';
import { loadHumanModel } from '../../src/faces/human-models.js';
import { ModelProto } from '../../src/graph/onnx-schema.js';
import { createOnnxSession, loadOnnxRuntime, onnxChannelBlock } from '../../src/runtime/onnxruntime.js';
import { initEngine } from '../../src/tfjs/backend.js';
import sharp from 'sharp';
import { needsShared, sharedPath } from '../support/shared.js';

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

// onnxruntime runs convolutions in a blocked layout (NCHWc) on x86 with AVX2 (blocks of 8 channels)
// or AVX-512 (16); an op it cannot run so, or a convolution whose channels are not a multiple of the
// block, costs a reorder out of it and back (the PRelu and channel Pad this graph used to have: 44 %
// and 12 % of the two networks' kernel time; BlazeFace's 24-channel stage on AVX-512). Without AVX2
// there are no reorders at all.
test('MobileFaceNet as emitted runs in onnxruntime\'s blocked layout end to end: no PRelu, no reorder inside', async () => {
  const ops = await optimisedOps(await mobileFaceNetOnnx(), 'mobilefacenet');
  assert.equal(ops.PRelu, undefined, JSON.stringify(ops));
  assert.equal(ops.ReorderInput, undefined, JSON.stringify(ops));
  assert.ok((ops.ReorderOutput ?? 0) <= 1, `one reorder, to the output (${JSON.stringify(ops)})`);
});

test('BlazeFace as emitted for this CPU runs in the blocked layout: no Pad, no reorder but one per output, square views and a frame view\'s size alike', async () => {
  await initEngine();
  const model = await loadHumanModel('blazeface');
  const channelBlock = onnxChannelBlock();
  const graphs = { square: blazeFaceOnnx(model, { channelBlock }), frame320x256: withInputSize(blazeFaceOnnx(model, { anySize: true, channelBlock }), 256, 320) };
  model.dispose();
  for (const [name, bytes] of Object.entries(graphs)) {
    const ops = await optimisedOps(bytes, `blazeface-${name}`);
    assert.equal(ops.Pad, undefined, `${name}: ${JSON.stringify(ops)}`);
    assert.equal(ops.ReorderInput, undefined, `${name}: ${JSON.stringify(ops)}`);
    assert.ok((ops.ReorderOutput ?? 0) <= 4, `${name}: four outputs (${JSON.stringify(ops)})`);
    assert.equal(ops.Add, undefined, `${name}: every residual Add fused into a convolution (${JSON.stringify(ops)})`);
  }
});

test('BlazeFace with channels rounded up to a block of 16 gives the detector outputs of its own channels', { skip: needsShared }, async () => {
  await initEngine();
  const model = await loadHumanModel('blazeface');
  const ort = (await loadOnnxRuntime())!;
  const sessions = await Promise.all([1, 16].map((channelBlock) => createOnnxSession(ort, blazeFaceOnnx(model, { anySize: true, channelBlock }))));
  model.dispose();
  const [width, height] = [320, 256];
  const pixels = await sharp(sharedPath('datasets', 'bbt-scenes', (await readdir(sharedPath('datasets', 'bbt-scenes')))[0]!)).resize(width, height, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  const input = Float32Array.from(pixels, (v) => v / 127.5 - 1);
  const [own, blocked] = await Promise.all(sessions.map((session) => session.run(input, [1, height, width, 3])));
  own!.forEach((a, output) => {
    const b = blocked![output]!;
    assert.equal(b.length, a.length, `output ${output}`);
    const largest = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
    assert.ok(largest < 2e-3, `output ${output}: differs by up to ${largest}`);
  });
  for (const session of sessions) session.release();
});
