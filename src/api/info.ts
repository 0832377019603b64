import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { BASE_ROWS } from '../base/index.js';
import { DEFAULT_UNKNOWN_RULE } from '../evaluate/unknown-rule.js';
import { alignmentPoints, PIPELINE_FILE, type PipelineDescription } from '../export/pipeline.js';
import { readOnnxMetadata } from '../graph/onnx.js';
import { MANIFEST_FILE, readManifest } from '../model-dir/manifest.js';
import { FacetrainError } from '../errors.js';
import { pathExists } from '../util/fs.js';

/** What `facetrain info` says about a model directory, an export folder or an exported .onnx file. */
export interface ModelInfo {
  kind: 'model-dir' | 'export' | 'onnx-file';
  path: string;
  /** One line per fact, in reading order: what the model is, what it needs, what it outputs. */
  facts: [string, string][];
  /** The raw description it came from (manifest, pipeline.json or ONNX metadata). */
  source: unknown;
}

function inputFacts(input: { size: number; mean: number; std: number; crop: string; template?: string; align?: unknown }): [string, string][] {
  const facts: [string, string][] = [
    ['input', `${input.size}x${input.size} RGB, NHWC float32, value = (pixel - ${input.mean}) / ${input.std} with pixel in 0..255`],
  ];
  if (input.crop === 'aligned-face') {
    const points = alignmentPoints(input as Parameters<typeof alignmentPoints>[0]).map((p) => `${p.landmark} -> (${p.to[0].toFixed(1)}, ${p.to[1].toFixed(1)})`).join(', ');
    facts.push(['crop', `each face found by BlazeFace, aligned by a similarity transform: ${points}${input.template ? ` (${input.template} template)` : ''}`]);
  } else {
    facts.push(['crop', `the whole photo stretched to ${input.size}x${input.size} (aspect ratio not kept), no detection`]);
  }
  return facts;
}

async function modelDirInfo(dir: string): Promise<ModelInfo> {
  const manifest = await readManifest(dir);
  const row = BASE_ROWS[manifest.base.name];
  const embedding = row.kind === 'embedding';
  const exported = (await pathExists(path.join(dir, 'export'))) ? (await readdir(path.join(dir, 'export'))).sort().join(', ') : 'none (`exportModelDir()` writes them)';
  return {
    kind: 'model-dir',
    path: dir,
    source: manifest,
    facts: [
      ['model', `facetrain model on the ${manifest.base.name} base (${embedding ? 'face embedding + trained head + gallery of training embeddings' : 'one network from pixels to probabilities'})`],
      ['people', `${manifest.labels.length}: ${manifest.labels.join(', ')}`],
      ['threshold', `${manifest.threshold} (below it a face is "unknown")`],
      ['unknown rule', embedding ? `${DEFAULT_UNKNOWN_RULE}: cosine of the face embedding to the closest training photo of the person the head names` : 'the top class probability'],
      ...inputFacts(manifest.input),
      ['outputs', `per face: label (a person or "unknown"), score (compared with the threshold), the head's probabilities per person`],
      ['validation accuracy', manifest.metrics.valAccuracy === undefined ? 'not measured' : String(manifest.metrics.valAccuracy)],
      ['trained', `${manifest.createdAt} with facetrain ${manifest.versions.facetrain ?? '?'}`],
      ['exports', exported],
    ],
  };
}

function pipelineFacts(pipeline: PipelineDescription): [string, string][] {
  const input = pipeline.recognizer.input as { size?: number; shape: number[]; mean: number; std: number };
  const files = { ...(pipeline.recognizer.files as Record<string, string>) };
  return [
    ['model', `facetrain pipeline export on the ${pipeline.base} base`],
    ['people', `${pipeline.labels.length}: ${pipeline.labels.join(', ')}`],
    ['threshold', `${pipeline.threshold}: ${pipeline.decision.label}`],
    ['unknown rule', pipeline.decision.rule!],
    ['recognizer', `${Object.entries(files).map(([f, n]) => `${n} (${f})`).join(', ')}: input ${JSON.stringify(input.shape)} ${String((pipeline.recognizer.input as { value: string }).value)}; outputs ${Object.keys(pipeline.recognizer.outputs as object).join(', ')}`],
    ['detector', `${Object.values(pipeline.detector.files as Record<string, string>).join(', ')}: ${String(pipeline.detector.network)}`],
    ['alignment', `${String(pipeline.alignment.size)} px, ${(pipeline.alignment.points as { landmark: string }[]).map((p) => p.landmark).join(', ')} from the ${pipeline.alignment.landmarkSource === 'landmarks' ? 'landmark network' : 'detector'}`],
  ];
}

/** Describes what a model is, needs and outputs, from whichever of its files `target` names. */
export async function describeModel(target: string): Promise<ModelInfo> {
  const info = await stat(target).catch(() => {
    throw new FacetrainError('FT_ERR_MODEL', `${target}: no such file or folder; pass a model directory, its export folder or an exported .onnx file`);
  });
  if (info.isDirectory()) {
    if (await pathExists(path.join(target, PIPELINE_FILE))) {
      const pipeline = JSON.parse(await readFile(path.join(target, PIPELINE_FILE), 'utf8')) as PipelineDescription;
      return { kind: 'export', path: target, source: pipeline, facts: pipelineFacts(pipeline) };
    }
    if (await pathExists(path.join(target, MANIFEST_FILE))) return modelDirInfo(target);
    throw new FacetrainError('FT_ERR_MODEL', `${target}: neither ${MANIFEST_FILE} nor ${PIPELINE_FILE} is in it; pass a model directory written by \`train()\` or its export folder`);
  }
  if (path.extname(target) !== '.onnx') throw new FacetrainError('FT_ERR_MODEL', `${target}: not a model facetrain can describe; pass a model directory, its export folder or an exported .onnx file`);
  let metadata: Record<string, string>;
  try {
    metadata = readOnnxMetadata(new Uint8Array(await readFile(target)));
  } catch (err) {
    throw new FacetrainError('FT_ERR_MODEL', `${target}: not a readable ONNX model (${(err as Error).message.split('\n')[0]}); pass a file written by \`exportModelDir()\``, { cause: err });
  }
  if (metadata['facetrain.pipeline']) {
    const pipeline = JSON.parse(metadata['facetrain.pipeline']) as PipelineDescription;
    return { kind: 'onnx-file', path: target, source: metadata, facts: [...(metadata['facetrain.role'] ? [['role', metadata['facetrain.role']] as [string, string]] : []), ...pipelineFacts(pipeline)] };
  }
  return { kind: 'onnx-file', path: target, source: metadata, facts: Object.entries(metadata) };
}
