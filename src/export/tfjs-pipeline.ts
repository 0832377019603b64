import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FacetrainError } from '../errors.js';
import { irFromOnnx } from '../graph/from-onnx.js';
import { humanModelsDir } from '../faces/human-models.js';
import { landmarkModelPath } from '../faces/landmarks.js';
import type { InputSpec } from '../faces/input-spec.js';
import { fileSystemIO } from '../tfjs/model-io.js';
import { describePipeline, PIPELINE_FILE, PIPELINE_OUTPUTS, pipelineIr, pipelineMetadata, type PipelineDescription, type PipelineNetworks } from './pipeline.js';
import { irToTfjsGraph, TFJS_GRAPH_INPUT } from './tfjs-graph.js';

/**
 * The whole recognition pipeline as TF.js graph models in one folder, for a browser (the served
 * page) or any TF.js program: `model.json` (aligned crop -> embedding, probabilities, scores,
 * score, templates inside; the pipeline description in `userDefinedMetadata`), `detector/` (the
 * BlazeFace graph as @vladmandic/human ships it), `landmarks/` (the landmark network read from its
 * ONNX into the IR), `pipeline.json` (the same description, file names relative to the folder).
 */

export const TFJS_RECOGNIZER_FILE = 'model.json';
export const TFJS_DETECTOR_FILE = 'detector/model.json';
export const TFJS_LANDMARKS_FILE = 'landmarks/model.json';
/** The landmark network's input as TF.js takes it: NHWC with one channel, the same 4096 values as the ONNX NCHW input. */
const LANDMARK_INPUT_SHAPE = [1, 64, 64, 1];

type Signature = { outputs?: Record<string, { name: string; tensorShape: { dim: { size: string }[] } }> };

interface GraphModelJson {
  weightsManifest: { paths: string[] }[];
  signature?: Signature;
  userDefinedMetadata?: { signature?: Signature };
}

/** A TF.js graph's outputs as its signature lists them (BlazeFace: four, told apart by shape; Human keeps the signature in userDefinedMetadata). */
function signatureOutputs(json: GraphModelJson): { name: string; shape: number[] }[] {
  const signature = json.signature ?? json.userDefinedMetadata?.signature;
  const outputs = Object.values(signature?.outputs ?? {});
  if (outputs.length !== 4) throw new FacetrainError('FT_ERR_MODEL', `the BlazeFace TF.js graph lists ${outputs.length} outputs, not 4; reinstall @vladmandic/human`);
  return outputs.map((o) => ({ name: o.name.replace(/:0$/, ''), shape: o.tensorShape.dim.map((d) => Number(d.size)) }));
}

export interface TfjsPipelineSource {
  base: string;
  labels: string[];
  threshold: number;
  input: InputSpec;
  /** The model directory's version (`updatedAt`, else `createdAt`): a server serves the folder only for that version. */
  modelVersion: string;
  networks: PipelineNetworks;
}

export type TfjsPipelineDescription = PipelineDescription & { modelVersion: string };

/** The description with TF.js file names and input shapes (the ONNX ones describe detector.onnx and landmarks.onnx). */
function tfjsDescription(source: TfjsPipelineSource, detectorOutputs: { name: string; shape: number[] }[]): TfjsPipelineDescription {
  const description = describePipeline({ ...source, recognizerFiles: { tfjs: TFJS_RECOGNIZER_FILE }, detectorOutputs });
  const recognizerInput = description.recognizer.input as Record<string, unknown>;
  const detectorInput = description.detector.input as Record<string, unknown>;
  return {
    ...description,
    modelVersion: source.modelVersion,
    recognizer: { ...description.recognizer, input: { ...recognizerInput, name: TFJS_GRAPH_INPUT, batch: 'any' } },
    detector: { ...description.detector, files: { tfjs: TFJS_DETECTOR_FILE }, input: { ...detectorInput, name: 'input', shape: [1, 256, 256, 3], batch: '1: one view per run' } },
    ...(description.landmarks
      ? { landmarks: { ...description.landmarks, files: { tfjs: TFJS_LANDMARKS_FILE }, input: { ...(description.landmarks.input as Record<string, unknown>), shape: LANDMARK_INPUT_SHAPE, layout: 'NHWC, one channel (the same values in the same order as the ONNX NCHW input)' } } }
      : {}),
  };
}

/** Writes the folder's files into `dir` (an empty folder; the caller swaps it in atomically). Returns the description. */
export async function writeTfjsPipeline(dir: string, source: TfjsPipelineSource): Promise<TfjsPipelineDescription> {
  const humanDir = humanModelsDir();
  const detectorJson = JSON.parse(await readFile(path.join(humanDir, 'blazeface.json'), 'utf8')) as GraphModelJson;
  const description = tfjsDescription(source, signatureOutputs(detectorJson));
  const metadata = { ...pipelineMetadata(description), 'facetrain.pipeline': description };
  await fileSystemIO(dir).save!(irToTfjsGraph(pipelineIr(source.networks, 'TF.js'), [...PIPELINE_OUTPUTS], metadata));
  const detectorDir = path.join(dir, path.dirname(TFJS_DETECTOR_FILE));
  await mkdir(detectorDir);
  await writeFile(path.join(dir, TFJS_DETECTOR_FILE), JSON.stringify(detectorJson));
  for (const file of detectorJson.weightsManifest.flatMap((group) => group.paths)) await copyFile(path.join(humanDir, file), path.join(detectorDir, file));
  if (source.input.landmarks) {
    const landmarks = irFromOnnx(new Uint8Array(await readFile(landmarkModelPath())), 'fr_landmark.onnx', 'TF.js');
    const landmarksDir = path.join(dir, path.dirname(TFJS_LANDMARKS_FILE));
    await mkdir(landmarksDir);
    await fileSystemIO(landmarksDir).save!(irToTfjsGraph(landmarks, ['landmarks'], { 'facetrain.role': 'landmarks' }));
  }
  await writeFile(path.join(dir, PIPELINE_FILE), `${JSON.stringify(description, null, 2)}\n`);
  return description;
}
