import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { IrGraph } from '../graph/ir.js';
import { irToLayersModel } from '../export/keras/from-ir.js';
import { subgraphFor } from '../export/subgraph.js';
import { landmarkModelPath } from '../faces/landmarks.js';
import { irToOnnx } from '../graph/onnx.js';
import { irToTflite, type TfliteFormat } from '../export/tflite.js';
import { perChannelInput } from '../faces/input-spec.js';
import { blazeFaceOnnx } from '../faces/blazeface-onnx.js';
import { loadHumanModel } from '../faces/human-models.js';
import { GALLERY_FILE, personGalleries, readGallery } from '../model-dir/gallery.js';
import type { ModelManifest } from '../model-dir/manifest.js';
import { FacetrainError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { PRODUCER_VERSION } from '../export/export-model.js';
import { blazeFaceTflite } from '../export/blazeface-tflite.js';
import { DETECTOR_ONNX_FILE, DETECTOR_TFLITE_FILE, describePipeline, embeddingNetworkOutput, LANDMARKS_ONNX_FILE, LANDMARKS_TFLITE_FILE, landmarksTflite, onnxOutputs, PIPELINE_FILE, PIPELINE_OUTPUTS, pipelineIr, pipelineMetadata, type PipelineDescription, type PipelineNetworks, withOnnxMetadata } from '../export/pipeline.js';

/** Recognizer formats the pipeline is written in (TFLite: batch 1). */
export type PipelineFormat = 'onnx' | TfliteFormat;
export const PIPELINE_FORMATS: readonly PipelineFormat[] = ['onnx', 'tflite', 'tflite-fp16', 'tflite-int8'];

/** The files of an embedding model's pipeline export, ready to write. */
export interface PipelineExport {
  description: PipelineDescription;
  /** Key/value metadata every file carries (the description among them). */
  metadata: Record<string, string>;
  /** The recognizer graph, for writers that build a model of their own (Keras). */
  ir: IrGraph;
  /** The recognizer's bytes per format asked for. */
  recognizers: Partial<Record<PipelineFormat, Uint8Array>>;
  detectorOnnx: Uint8Array;
  /** The detector as TFLite, beside TFLite recognizers. */
  detectorTflite?: Uint8Array;
  /** The landmark network, when the alignment uses one. */
  landmarksOnnx?: Uint8Array;
  /** The landmark network as TFLite, beside TFLite recognizers, when the alignment uses one. */
  landmarksTflite?: Uint8Array;
}

/** The recognizer's file name in the export folder, per format written (.h5 included). */
export type PipelineFiles = Partial<Record<PipelineFormat | 'h5', string>>;

/** Each person's training embeddings (gallery.json), in label order: the templates a pipeline graph holds. */
export async function modelGalleries(modelDir: string, manifest: ModelManifest): Promise<PipelineNetworks['galleries']> {
  const gallery = await readGallery(modelDir);
  if (!gallery) throw new FacetrainError('FT_ERR_MODEL', `${modelDir}: ${GALLERY_FILE} is missing; retrain the model, replacing this one`, { options: ['force'] });
  return personGalleries(gallery.entries, manifest.labels);
}

/**
 * The recognizer (templates from gallery.json inside the graph) in each format of `files`, the
 * detector and their description for an embedding model. tflite-int8 quantizes the embedding
 * network on `calibration` (normalised aligned crops) and keeps the rest float, float32 in and out.
 */
export async function buildPipelineExport(manifest: ModelManifest, networks: PipelineNetworks, files: PipelineFiles, calibration?: tf.Tensor4D): Promise<PipelineExport> {
  const formats = PIPELINE_FORMATS.filter((f) => files[f]);
  const withTflite = formats.some((f) => f !== 'onnx');
  const detectorModel = await loadHumanModel('blazeface');
  let detectorBytes: Uint8Array;
  let detectorTflite: Uint8Array | undefined;
  let description: PipelineDescription;
  try {
    detectorBytes = blazeFaceOnnx(detectorModel);
    description = describePipeline({
      base: manifest.base.name,
      labels: manifest.labels,
      threshold: manifest.threshold,
      input: manifest.input,
      recognizerFiles: files,
      detectorOutputs: onnxOutputs(detectorBytes),
      detectorTflite: withTflite,
    });
    const pipelineJson = JSON.stringify(description, null, 2);
    detectorTflite = withTflite ? blazeFaceTflite(detectorModel, { rows: String(description.detector.rows), file: PIPELINE_FILE, pipelineJson }) : undefined;
  } finally {
    detectorModel.dispose();
  }
  const metadata = pipelineMetadata(description);
  const ir = pipelineIr(networks, withTflite ? 'TFLite' : files.h5 ? 'Keras .h5' : 'ONNX');
  const name = `facetrain-${manifest.base.name}-pipeline`;
  const outputs = Object.entries(description.recognizer.outputs as Record<string, string>).map(([output, text]) => ({ name: output, description: text }));
  const tflite = (format: TfliteFormat) => irToTflite(ir, {
    format,
    name,
    options: { representativeInputs: calibration },
    recognizer: { model: networks.head, labels: manifest.labels, input: perChannelInput(manifest.input) },
    pipeline: { outputs, descriptionFile: { name: PIPELINE_FILE, text: JSON.stringify(description, null, 2) }, quantizeUntil: embeddingNetworkOutput(ir) },
  });
  const landmarksBytes = manifest.input.landmarks ? new Uint8Array(await readFile(landmarkModelPath())) : undefined;
  return {
    description,
    metadata,
    ir,
    recognizers: Object.fromEntries(formats.map((f) => [f, f === 'onnx' ? irToOnnx(ir, { metadata, producerVersion: PRODUCER_VERSION, name, outputNames: [...PIPELINE_OUTPUTS] }) : tflite(f)])),
    detectorOnnx: withOnnxMetadata(detectorBytes, { 'facetrain.role': 'detector', 'facetrain.pipeline': metadata['facetrain.pipeline']! }),
    detectorTflite,
    landmarksOnnx: landmarksBytes && withOnnxMetadata(landmarksBytes, { 'facetrain.role': 'landmarks', 'facetrain.pipeline': metadata['facetrain.pipeline']! }),
    landmarksTflite: landmarksBytes && withTflite ? landmarksTflite(landmarksBytes, JSON.stringify(description, null, 2)) : undefined,
  };
}

/** Outputs a Keras model of built-in layers can compute: all but `score`, whose pick at the head's argmax has no layer. */
const KERAS_OUTPUTS = 3;

/**
 * The recognizer as a Keras model (embedding, probabilities, scores): built-in layers only, PReLU
 * as PReLU(shared_axes=[1, 2]), the mirror image as a permutation Dense between two Permutes, the
 * per-person maximum as Reshape, Permute, GlobalMaxPooling1D. The caller disposes it.
 */
export function pipelineKerasModel(pipeline: PipelineExport, name: string): tfl.LayersModel {
  return irToLayersModel(subgraphFor(pipeline.ir, pipeline.ir.outputs.slice(0, KERAS_OUTPUTS)), name);
}

/** The root attributes of the pipeline's .h5: every file's metadata, and how to get the score the file has no output for. */
export function pipelineKerasAttributes(pipeline: PipelineExport): Record<string, string> {
  return { ...pipeline.metadata, 'unknown.score': `no score output: score = min(1, max(0, scores[argmax(probabilities)])); ${pipeline.description.decision.label}` };
}

/** A shared file of the pipeline: `format` names the runtime that reads it ('pipeline' for pipeline.json). */
export interface PipelineFileWritten {
  format: 'onnx' | 'tflite' | 'pipeline';
  file: string;
}

/** Writes the detector, the landmark network and pipeline.json beside the recognizer, each atomically. */
export async function writePipelineFiles(outDir: string, pipeline: PipelineExport): Promise<PipelineFileWritten[]> {
  const files: { format: PipelineFileWritten['format']; name: string; bytes: Uint8Array | string | undefined }[] = [
    { format: 'onnx', name: DETECTOR_ONNX_FILE, bytes: pipeline.detectorOnnx },
    { format: 'tflite', name: DETECTOR_TFLITE_FILE, bytes: pipeline.detectorTflite },
    { format: 'onnx', name: LANDMARKS_ONNX_FILE, bytes: pipeline.landmarksOnnx },
    { format: 'tflite', name: LANDMARKS_TFLITE_FILE, bytes: pipeline.landmarksTflite },
    { format: 'pipeline', name: PIPELINE_FILE, bytes: `${JSON.stringify(pipeline.description, null, 2)}\n` },
  ];
  const written: PipelineFileWritten[] = [];
  for (const { format, name, bytes } of files) {
    if (bytes === undefined) continue;
    const file = path.join(outDir, name);
    await writeFileAtomic(file, bytes);
    written.push({ format, file });
  }
  return written;
}
