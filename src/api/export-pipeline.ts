import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { landmarkModelPath } from '../faces/landmarks.js';
import { irToOnnx } from '../graph/onnx.js';
import { irToTflite } from '../export/tflite.js';
import { perChannelInput } from '../faces/input-spec.js';
import { blazeFaceOnnx } from '../faces/blazeface-onnx.js';
import { loadHumanModel } from '../faces/human-models.js';
import { GALLERY_FILE, personGalleries, readGallery } from '../model-dir/gallery.js';
import type { ModelManifest } from '../model-dir/manifest.js';
import { FacetrainError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { PRODUCER_VERSION } from '../export/export-model.js';
import { DETECTOR_ONNX_FILE, describePipeline, LANDMARKS_ONNX_FILE, onnxOutputs, PIPELINE_FILE, PIPELINE_OUTPUTS, pipelineIr, pipelineMetadata, type PipelineDescription, type PipelineNetworks, withOnnxMetadata } from '../export/pipeline.js';

/** The files of an embedding model's pipeline export, ready to write. */
export interface PipelineExport {
  description: PipelineDescription;
  recognizerOnnx?: Uint8Array;
  /** float32, batch 1 */
  recognizerTflite?: Uint8Array;
  detectorOnnx: Uint8Array;
  /** The landmark network, when the alignment uses one. */
  landmarksOnnx?: Uint8Array;
}

/** Recognizer formats the pipeline is written in, and their file names in the export folder. */
export type PipelineFiles = Partial<Record<'onnx' | 'tflite', string>>;

/**
 * The recognizer (templates from gallery.json inside the graph), the detector and their
 * description for an embedding model; `onnxFile` is the recognizer's name in the export folder.
 */
/** Each person's training embeddings (gallery.json), in label order: the templates a pipeline graph holds. */
export async function modelGalleries(modelDir: string, manifest: ModelManifest): Promise<PipelineNetworks['galleries']> {
  const gallery = await readGallery(modelDir);
  if (!gallery) throw new FacetrainError('FT_ERR_MODEL', `${modelDir}: ${GALLERY_FILE} is missing; retrain the model with --force`);
  return personGalleries(gallery.entries, manifest.labels);
}

export async function buildPipelineExport(modelDir: string, manifest: ModelManifest, networks: Omit<PipelineNetworks, 'galleries'>, files: PipelineFiles): Promise<PipelineExport> {
  const galleries = await modelGalleries(modelDir, manifest);
  const detectorModel = await loadHumanModel('blazeface');
  let detectorBytes: Uint8Array;
  try {
    detectorBytes = blazeFaceOnnx(detectorModel);
  } finally {
    detectorModel.dispose();
  }
  const description = describePipeline({
    base: manifest.base.name,
    labels: manifest.labels,
    threshold: manifest.threshold,
    input: manifest.input,
    recognizerFiles: files,
    detectorOutputs: onnxOutputs(detectorBytes),
  });
  const metadata = pipelineMetadata(description);
  const ir = pipelineIr({ ...networks, galleries }, files.tflite ? 'TFLite' : 'ONNX');
  const name = `facetrain-${manifest.base.name}-pipeline`;
  const outputs = Object.entries(description.recognizer.outputs as Record<string, string>).map(([output, text]) => ({ name: output, description: text }));
  return {
    description,
    recognizerOnnx: files.onnx ? irToOnnx(ir, { metadata, producerVersion: PRODUCER_VERSION, name, outputNames: [...PIPELINE_OUTPUTS] }) : undefined,
    recognizerTflite: files.tflite
      ? irToTflite(ir, {
        format: 'tflite',
        name,
        options: {},
        recognizer: { model: networks.head, labels: manifest.labels, input: perChannelInput(manifest.input) },
        pipeline: { outputs, descriptionFile: { name: PIPELINE_FILE, text: JSON.stringify(description, null, 2) } },
      })
      : undefined,
    detectorOnnx: withOnnxMetadata(detectorBytes, { 'facetrain.role': 'detector', 'facetrain.pipeline': metadata['facetrain.pipeline']! }),
    landmarksOnnx: manifest.input.landmarks
      ? withOnnxMetadata(new Uint8Array(await readFile(landmarkModelPath())), { 'facetrain.role': 'landmarks', 'facetrain.pipeline': metadata['facetrain.pipeline']! })
      : undefined,
  };
}

/** Writes the detector and pipeline.json beside the recognizer, each atomically. */
export async function writePipelineFiles(outDir: string, pipeline: PipelineExport): Promise<string[]> {
  const detector = path.join(outDir, DETECTOR_ONNX_FILE);
  const description = path.join(outDir, PIPELINE_FILE);
  await writeFileAtomic(detector, pipeline.detectorOnnx);
  const landmarks = pipeline.landmarksOnnx ? [path.join(outDir, LANDMARKS_ONNX_FILE)] : [];
  if (pipeline.landmarksOnnx) await writeFileAtomic(landmarks[0]!, pipeline.landmarksOnnx);
  await writeFileAtomic(description, `${JSON.stringify(pipeline.description, null, 2)}\n`);
  return [detector, ...landmarks, description];
}
