import type * as tfl from '@tensorflow/tfjs-layers';
import { embeddingIr } from '../graph/from-graph.js';
import { appendLayersModel } from '../graph/from-layers.js';
import { IrBuilder, type IrGraph, unsupported } from '../graph/ir.js';
import { optimizeIr } from '../graph/optimize.js';
import { ModelProto } from '../graph/onnx-schema.js';
import { irFromOnnx } from '../graph/from-onnx.js';
import { networkToTflite } from './tflite.js';
import { DEFAULT_UNKNOWN_RULE, type PersonGallery } from '../evaluate/unknown-rule.js';
import { alignedEyePositions, DEFAULT_ALIGN_CONFIG } from '../faces/align.js';
import { DEFAULT_DETECTOR_CONFIG, LANDMARK } from '../faces/detect.js';
import type { Point } from '../faces/geometry.js';
import type { InputSpec } from '../faces/input-spec.js';
import type { FaceEmbedder } from '../faces/embedder.js';
import { ARCFACE_TEMPLATE_112 } from '../faces/template-align.js';

/**
 * The whole recognition pipeline of an embedding model, for runtimes outside facetrain: one
 * recognizer graph (aligned crop -> embedding -> head probabilities and template similarities ->
 * the unknown score) plus a JSON description of everything around it (detector, anchors, alignment,
 * threshold), so that `score >= threshold` in any runtime gives `predict`'s answer.
 */

/** Output names of the pipeline recognizer, in graph order. */
export const PIPELINE_OUTPUTS = Object.freeze(['embedding', 'probabilities', 'scores', 'score'] as const);
export const PIPELINE_FILE = 'pipeline.json';
export const DETECTOR_ONNX_FILE = 'detector.onnx';
export const DETECTOR_TFLITE_FILE = 'detector.tflite';
export const LANDMARKS_ONNX_FILE = 'landmarks.onnx';
export const LANDMARKS_TFLITE_FILE = 'landmarks.tflite';
export const UNKNOWN_LABEL = 'unknown';

export interface PipelineNetworks {
  /** The embedding network: a TF.js graph (`model` + `outputNode`) or one that appends itself to the IR. */
  embedder: Pick<FaceEmbedder, 'model' | 'outputNode' | 'appendIr' | 'inputSize'>;
  head: tfl.LayersModel;
  /** Each person's unit training embeddings, in label order: the templates the unknown rule compares with. */
  galleries: PersonGallery[];
}

/**
 * Templates as one [dims, people * k] matrix, k = the most photos any person has: a person with
 * fewer repeats its own (a repeat does not change a maximum); a person without any gets zero
 * vectors, i.e. similarity 0, which the score clamps to as `predict` does.
 */
function templateKernel(galleries: PersonGallery[], dims: number): { data: Float32Array; perPerson: number } {
  const perPerson = Math.max(1, ...galleries.map((g) => g.embeddings.length));
  const columns = galleries.length * perPerson;
  const data = new Float32Array(dims * columns);
  galleries.forEach((g, p) => {
    for (let j = 0; j < perPerson && g.embeddings.length > 0; j++) {
      const template = g.embeddings[j % g.embeddings.length]!;
      const column = p * perPerson + j;
      for (let d = 0; d < dims; d++) data[d * columns + column] = template[d]!;
    }
  });
  return { data, perPerson };
}

/**
 * The recognizer of the pipeline: pixels of an aligned crop -> `embedding` (L2-normalised) ->
 * `probabilities` (the head), `scores` (per person, the cosine to its nearest training photo:
 * the `nearest` unknown rule) and `score` (the head's person's score, clamped to [0, 1]).
 */
/** The embedding network in the IR, L2-normalised, left open for what follows. */
function embedderIr(embedder: PipelineNetworks['embedder'], format: string): { b: IrBuilder; normalised: string } {
  if (embedder.model && embedder.outputNode) return embeddingIr(embedder.model, embedder.outputNode, format);
  if (!embedder.appendIr) throw unsupported('an embedding network that is neither a TF.js graph nor readable into the IR', format);
  const b = new IrBuilder('image', [1, embedder.inputSize, embedder.inputSize, 3], format);
  return { b, normalised: b.add('l2_normalize', { kind: 'l2Normalize', input: embedder.appendIr(b, b.inputName) }) };
}

export function pipelineIr(networks: PipelineNetworks, format: string): IrGraph {
  // the graph computes the nearest rule; another default rule must be written here too
  if (DEFAULT_UNKNOWN_RULE !== 'nearest') throw unsupported(`the unknown rule ${DEFAULT_UNKNOWN_RULE}`, format);
  const { b, normalised } = embedderIr(networks.embedder, format);
  const probabilities = appendLayersModel(b, networks.head, normalised);
  const dims = b.shapeOf(normalised)[1]!;
  const { data, perPerson } = templateKernel(networks.galleries, dims);
  const columns = networks.galleries.length * perPerson;
  const similarities = b.add('template_similarities', { kind: 'dense', input: normalised, kernel: { shape: [dims, columns], data }, bias: new Float32Array(columns), activation: 'none' });
  const scores = b.add('person_scores', { kind: 'groupMax', input: similarities, groups: networks.galleries.length });
  const picked = b.add('predicted_person_score', { kind: 'pickAtArgMax', inputs: [scores, probabilities] });
  const score = b.add('unknown_score', { kind: 'clip', input: picked, min: 0, max: 1 });
  return optimizeIr(b.finish(normalised, probabilities, scores, score));
}

/** The tensor the embedding network ends at, before its L2 normalisation: where int8 hands over to float. */
export function embeddingNetworkOutput(ir: IrGraph): string {
  const normalise = ir.ops.find((op) => op.output === ir.outputs[0]);
  if (normalise?.kind !== 'l2Normalize') throw new Error('internal error: the pipeline\'s first output is not an L2 normalisation');
  return normalise.input;
}

/** The five points a landmark network's output is reduced to, in the ArcFace template's order. */
const FIVE_POINT_NAMES = Object.freeze(['imageLeftEye', 'imageRightEye', 'nose', 'imageLeftMouthCorner', 'imageRightMouthCorner'] as const);

/** One landmark (of the detector, or of the landmark network's five) matched to where it goes in the aligned crop. */
export interface AlignmentPoint {
  landmark: keyof typeof LANDMARK | (typeof FIVE_POINT_NAMES)[number];
  /** Index in the detector's keypoints, or in the landmark network's five points. */
  index: number;
  /** [x, y] in crop pixels (pixel centres at +0.5). */
  to: Point;
}

/** Where the detector's landmarks go in the crop: the eyes (eye placement) or four template points (ArcFace). */
export function alignmentPoints(input: InputSpec): AlignmentPoint[] {
  const point = (landmark: keyof typeof LANDMARK, to: Point): AlignmentPoint => ({ landmark, index: LANDMARK[landmark], to });
  if (input.template === 'arcface-112') {
    const scale = input.size / 112;
    const templatePoints = ARCFACE_TEMPLATE_112.map(([x, y]) => [x * scale, y * scale] as Point);
    // a landmark network gives the template's five points themselves, in its order
    if (input.landmarks) return FIVE_POINT_NAMES.map((landmark, index) => ({ landmark, index, to: templatePoints[index]! }));
    const [leftEye, rightEye, nose, leftMouth, rightMouth] = templatePoints as [Point, Point, Point, Point, Point];
    // the detector gives the mouth centre, matched to the midpoint of the template's mouth corners
    const mouth: Point = [(leftMouth[0] + rightMouth[0]) / 2, (leftMouth[1] + rightMouth[1]) / 2];
    return [point('imageLeftEye', leftEye), point('imageRightEye', rightEye), point('nose', nose), point('mouth', mouth)];
  }
  const [left, right] = alignedEyePositions(input.size, { ...DEFAULT_ALIGN_CONFIG, ...input.align });
  return [point('imageLeftEye', left), point('imageRightEye', right)];
}

/** faces/detect.ts blazeFaceAnchors as data: MediaPipe's SSD anchor spec of the 256 px model. */
const BLAZEFACE_ANCHOR_LAYERS = Object.freeze([
  { stride: 16, grid: 16, anchorsPerCell: 2 },
  { stride: 32, grid: 8, anchorsPerCell: 6 },
]);

const LANDMARK_NETWORK = 'fr_landmark.onnx of npm faceplugin-face-recognition-js 0.0.1 (MIT): 68 points, iBUG 300-W scheme';
const LANDMARK_SIDE = 64;
const LANDMARK_CROP = `the detector box, resampled to ${LANDMARK_SIDE} x ${LANDMARK_SIDE} bilinearly: input pixel (u, v) at box.x + (u + 0.5) * box.width / ${LANDMARK_SIDE} - 0.5 (y alike), edge pixels repeated past the photo`;
const LANDMARK_OUTPUT = '136 values: 68 (x, y) as fractions of the box';
const FIVE_POINTS_FROM_68 = Object.freeze({ from68: [[37, 38, 40, 41], [43, 44, 46, 47], [30], [48, 60], [54, 64]], rule: 'each of the five is the mean of these 68-point indices' });

/** faces/landmarks.ts as data: how the landmark network is fed and read (TFLite: the same values, NHWC). */
function landmarksDescription(withTflite: boolean): Record<string, unknown> {
  return {
    files: { onnx: LANDMARKS_ONNX_FILE, ...(withTflite ? { tflite: LANDMARKS_TFLITE_FILE } : {}) },
    network: LANDMARK_NETWORK,
    input: {
      shape: [1, 1, LANDMARK_SIDE, LANDMARK_SIDE],
      layout: 'NCHW',
      ...(withTflite ? { tflite: { name: 'input', shape: [1, LANDMARK_SIDE, LANDMARK_SIDE, 1], layout: 'NHWC, one channel: the same values in the same order' } } : {}),
      value: 'grey (0.299 R + 0.587 G + 0.114 B) / 256',
      crop: LANDMARK_CROP,
    },
    output: LANDMARK_OUTPUT,
    fivePoints: FIVE_POINTS_FROM_68,
  };
}

/**
 * The landmark network (read from its ONNX into the IR) as float32 TFLite, one face per run,
 * its feeding and decoding in the TFLite metadata and pipeline.json packed beside it.
 * Only float32: the network is 1.2 MB, so float16 or int8 would save under 1 MB of a pipeline's
 * 3-10 MB and move the points the alignment depends on.
 */
export function landmarksTflite(landmarksOnnx: Uint8Array, pipelineJson: string): Uint8Array {
  const ir = irFromOnnx(landmarksOnnx, 'fr_landmark.onnx', 'TFLite');
  return networkToTflite(ir, ['landmarks'], {
    name: 'facetrain-landmarks',
    description: `Face landmarks for the alignment: ${LANDMARK_NETWORK}. One face per run; pipeline.json (packed) says how the five alignment points follow.`,
    subgraphName: 'face_landmarks',
    input: { name: 'input', description: `grey crop of a detected face: ${LANDMARK_CROP}`, colorSpace: 'GRAYSCALE', size: LANDMARK_SIDE, mean: [0], std: [256] },
    outputs: [{ name: 'landmarks', description: `${LANDMARK_OUTPUT}; five alignment points: ${FIVE_POINTS_FROM_68.rule} ${JSON.stringify(FIVE_POINTS_FROM_68.from68)}` }],
    modelFiles: [{ name: PIPELINE_FILE, description: 'The recognition pipeline: detector, landmarks, alignment, unknown rule and threshold (facetrain pipeline.json)' }],
  }, [{ name: PIPELINE_FILE, text: pipelineJson }]);
}

export interface PipelineDescription {
  format: 'facetrain-pipeline';
  version: 1;
  base: string;
  labels: string[];
  threshold: number;
  decision: Record<string, string>;
  recognizer: Record<string, unknown>;
  alignment: Record<string, unknown>;
  /** Present when the alignment points come from a landmark network. */
  landmarks?: Record<string, unknown>;
  detector: Record<string, unknown>;
}

export interface DescribeOptions {
  base: string;
  labels: string[];
  threshold: number;
  input: InputSpec;
  /** Files per format of the recognizer, e.g. { onnx: 'model.onnx' }. */
  recognizerFiles: Record<string, string>;
  /** Names and [views, anchors, values] shapes of the detector's outputs, in its output order. */
  detectorOutputs: { name: string; shape: (number | string)[] }[];
  /** Whether the detector (and the landmark network) is written as TFLite too (batch 1: one view per run). */
  detectorTflite?: boolean;
}

/** The documented JSON (export/pipeline.json, also in each file's metadata): how to go from a photo to `predict`'s labels. */
export function describePipeline(options: DescribeOptions): PipelineDescription {
  const { input } = options;
  const detector = DEFAULT_DETECTOR_CONFIG;
  return {
    format: 'facetrain-pipeline',
    version: 1,
    base: options.base,
    labels: options.labels,
    threshold: options.threshold,
    decision: {
      rule: 'nearest: the cosine similarity of the face embedding to the closest training photo of the person the head names',
      label: 'labels[argmax(probabilities)] when score >= threshold, otherwise "unknown"',
      score: 'the recognizer output "score" (already the rule applied; scores[argmax(probabilities)] clamped to [0, 1])',
      unknownLabel: UNKNOWN_LABEL,
    },
    recognizer: {
      files: options.recognizerFiles,
      input: {
        name: 'input',
        shape: ['batch', input.size, input.size, 3],
        layout: 'NHWC',
        channels: 'RGB',
        dtype: 'float32',
        value: `(pixel - ${input.mean}) / ${input.std}, pixel in 0..255`,
        mean: input.mean,
        std: input.std,
        crop: 'the aligned face (see alignment)',
        batch: 'ONNX: any; TFLite: 1',
      },
      outputs: {
        embedding: '[batch, dims] the L2-normalised face embedding',
        probabilities: '[batch, people] the head softmax, in labels order',
        scores: '[batch, people] per person, the cosine to its nearest training photo (templates are constants in the graph)',
        score: '[batch, 1] the unknown score of the head\'s person: compare with threshold',
      },
    },
    alignment: {
      size: input.size,
      landmarkSource: input.landmarks ? 'landmarks' : 'detector',
      transform: 'the least-squares similarity (rotation, uniform scale, shift; no reflection: Umeyama) taking the landmarks listed to their crop positions',
      points: alignmentPoints(input),
      eyePlacement: { ...DEFAULT_ALIGN_CONFIG, ...input.align },
      sampling: 'bilinear; crop pixel (u, v) samples the source at inverse(transform)(u + 0.5, v + 0.5) - 0.5; outside the photo the nearest edge pixel; rounded to 8 bits',
      cropFrom: 'the photo decoded with its EXIF orientation, white behind transparency, at the search side of the detector; a face whose crop would be enlarged (scale estimated by eyePlacement: eyeDistance * size / the eye distance the detector found, for every base) is cut from a larger decode (up to full size) whose longer side is that side times the enlargement',
    },
    ...(input.landmarks ? { landmarks: landmarksDescription(Boolean(options.detectorTflite)) } : {}),
    detector: {
      files: { onnx: DETECTOR_ONNX_FILE, ...(options.detectorTflite ? { tflite: DETECTOR_TFLITE_FILE } : {}) },
      network: 'BlazeFace (MediaPipe back-camera model, 256 px) from @vladmandic/human (MIT)',
      input: { name: 'pixels', shape: ['views', 256, 256, 3], batch: 'ONNX: any; TFLite: 1 (one view per run, outputs [1, anchors, values] in the same order)', layout: 'NHWC', channels: 'RGB', value: 'pixel / 127.5 - 1; -1 outside the photo', sampling: 'bilinear, input pixel j at source left + (j + 0.5) * step - 0.5' },
      outputs: options.detectorOutputs,
      rows: 'scores [views, anchors, 1] are logits; regressors [views, anchors, 16]: cx, cy, w, h, then 6 keypoints (x, y), all in input pixels, centres relative to the anchor',
      anchors: { inputSize: 256, layers: BLAZEFACE_ANCHOR_LAYERS, order: 'the 16x16 layer then the 8x8 layer; within a layer cells row by row, then the anchors of a cell; anchor centre = stride * (cell + 0.5)' },
      keypoints: Object.keys(LANDMARK),
      minScore: detector.minScore,
      iouThreshold: detector.iouThreshold,
      nonMaxSuppression: 'greedy by score: a face overlapping a kept one by IoU > iouThreshold is dropped',
      search: {
        maxSide: detector.maxSide,
        minFaceFraction: detector.minFaceFraction,
        searchSide: 'a W x H photo is searched shrunk (area average) to longer side min(maxSide, ceil(longer * minFaceSize / max(minFaceSize, minFaceFraction * min(W, H)))), not shrunk when that is within 2 px of its side; decode it no larger',
        padding: detector.padding,
        minFaceSize: detector.minFaceSize,
        minFaceAtInput: detector.minFaceAtInput,
        views: 'the whole photo centred in a square of side longest * (1 + 2 * padding); plus, from side minFaceSize * 256 / minFaceAtInput doubling while minFaceAtInput * side / 256 < minFaceAtInput * wholeStep, square tiles overlapping by half (starts evenly spaced, count ceil(2 * (length - side) / side) + 1, a single centred one when side >= length)',
        dropped: 'a tile detection within 2 input pixels of a tile edge that lies inside the photo (cut face); a detection smaller than minFaceAtInput input pixels in a view coarser than the finest; after suppression, a face whose box is narrower than minFaceFraction of the photo\'s shorter side (no view looks for it)',
      },
      order: 'largest box first; predict names every face',
    },
  };
}

/** Key/value metadata of a pipeline file: the description whole, plus the keys a reader looks for first. */
export function pipelineMetadata(description: PipelineDescription): Record<string, string> {
  return {
    labels: JSON.stringify(description.labels),
    threshold: String(description.threshold),
    'unknown.rule': description.decision.rule!,
    'unknown.decision': description.decision.label!,
    'input.size': String(description.alignment.size),
    'input.crop': 'aligned-face',
    'facetrain.pipeline': JSON.stringify(description),
  };
}

interface OnnxValueInfo {
  name: string;
  type?: { tensor_type?: { shape?: { dim?: { dim_value?: number | { toNumber(): number }; dim_param?: string }[] } } };
}

/** Output names and shapes of an ONNX model (the detector's, for its description). */
export function onnxOutputs(bytes: Uint8Array): { name: string; shape: (number | string)[] }[] {
  const model = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number }) as { graph: { output: OnnxValueInfo[] } };
  return model.graph.output.map((o) => ({ name: o.name, shape: (o.type?.tensor_type?.shape?.dim ?? []).map((d) => d.dim_param ?? Number(d.dim_value ?? 0)) }));
}

/** The ONNX model with `metadata` added to its metadata_props. */
export function withOnnxMetadata(bytes: Uint8Array, metadata: Record<string, string>): Uint8Array {
  const model = ModelProto.toObject(ModelProto.decode(bytes)) as { metadata_props?: { key: string; value: string }[] };
  model.metadata_props = [...(model.metadata_props ?? []), ...Object.entries(metadata).map(([key, value]) => ({ key, value }))];
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}
