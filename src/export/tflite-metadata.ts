import * as flatbuffers from 'flatbuffers';
import {
  AssociatedFile,
  AssociatedFileType,
  ColorSpaceType,
  Content,
  ContentProperties,
  FeatureProperties,
  ImageProperties,
  ImageSize,
  ModelMetadata,
  NormalizationOptions,
  ProcessUnit,
  ProcessUnitOptions,
  Stats,
  SubGraphMetadata,
  TensorMetadata,
} from '../graph/tflite-schema/generated/metadata_schema_generated.js';

/**
 * TFLite model metadata (metadata_schema.fbs) as MediaPipe Tasks and the TFLite Task Library read
 * it for image classifiers: RGB image input with NormalizationOptions, a probability output with
 * its labels as a TENSOR_AXIS_LABELS associated file packed in the zip appended to the model.
 */

export const METADATA_BUFFER_NAME = 'TFLITE_METADATA';
export const LABELS_FILE = 'labels.txt';
const MIN_PARSER_VERSION = '1.0.0';

export interface ClassifierMetadata {
  name: string;
  description: string;
  imageSize: number;
  mean: number[];
  std: number[];
  labelsFile: string;
  /**
   * The outputs in order, for a model with several (the recognition pipeline); the one with
   * `labels` gets the labels file. Default: one probability output.
   */
  outputs?: { name: string; description: string; labels?: boolean }[];
  /** Files of the zip described at model level (e.g. pipeline.json). */
  modelFiles?: { name: string; description: string }[];
}

function strings(b: flatbuffers.Builder, values: string[]): number[] {
  return values.map((v) => b.createString(v));
}

/** An image input: its colour space, square side and the (pixel - mean) / std normalisation per channel. */
export interface ImageInputMetadata {
  name: string;
  description: string;
  colorSpace: 'RGB' | 'GRAYSCALE';
  size: number;
  mean: number[];
  std: number[];
}

function inputTensorMetadata(b: flatbuffers.Builder, input: ImageInputMetadata): number {
  const [name, description] = strings(b, [input.name, input.description]);
  const size = ImageSize.createImageSize(b, input.size, input.size);
  ImageProperties.startImageProperties(b);
  ImageProperties.addColorSpace(b, ColorSpaceType[input.colorSpace]);
  ImageProperties.addDefaultSize(b, size);
  const properties = ImageProperties.endImageProperties(b);
  Content.startContent(b);
  Content.addContentPropertiesType(b, ContentProperties.ImageProperties);
  Content.addContentProperties(b, properties);
  const content = Content.endContent(b);
  const normalization = NormalizationOptions.createNormalizationOptions(
    b,
    NormalizationOptions.createMeanVector(b, input.mean),
    NormalizationOptions.createStdVector(b, input.std),
  );
  const units = TensorMetadata.createProcessUnitsVector(b, [ProcessUnit.createProcessUnit(b, ProcessUnitOptions.NormalizationOptions, normalization)]);
  // Stats describe the normalised range a 0..255 pixel maps to.
  const stats = Stats.createStats(
    b,
    Stats.createMaxVector(b, input.mean.map((m, c) => (255 - m) / input.std[c]!)),
    Stats.createMinVector(b, input.mean.map((m, c) => (0 - m) / input.std[c]!)),
  );
  TensorMetadata.startTensorMetadata(b);
  TensorMetadata.addName(b, name);
  TensorMetadata.addDescription(b, description);
  TensorMetadata.addContent(b, content);
  TensorMetadata.addProcessUnits(b, units);
  TensorMetadata.addStats(b, stats);
  return TensorMetadata.endTensorMetadata(b);
}

function plainTensorMetadata(b: flatbuffers.Builder, output: { name: string; description: string }): number {
  const [name, description] = strings(b, [output.name, output.description]);
  TensorMetadata.startTensorMetadata(b);
  TensorMetadata.addName(b, name);
  TensorMetadata.addDescription(b, description);
  return TensorMetadata.endTensorMetadata(b);
}

function outputTensorMetadata(b: flatbuffers.Builder, meta: ClassifierMetadata, output = { name: 'probability', description: 'Probability of each person' }): number {
  const [name, description, fileName, fileDescription] = strings(b, [output.name, output.description, meta.labelsFile, 'Labels of the output classes']);
  const labels = AssociatedFile.createAssociatedFile(b, fileName, fileDescription, AssociatedFileType.TENSOR_AXIS_LABELS, 0);
  const files = TensorMetadata.createAssociatedFilesVector(b, [labels]);
  const properties = FeatureProperties.createFeatureProperties(b);
  Content.startContent(b);
  Content.addContentPropertiesType(b, ContentProperties.FeatureProperties);
  Content.addContentProperties(b, properties);
  const content = Content.endContent(b);
  const stats = Stats.createStats(b, Stats.createMaxVector(b, [1]), Stats.createMinVector(b, [0]));
  TensorMetadata.startTensorMetadata(b);
  TensorMetadata.addName(b, name);
  TensorMetadata.addDescription(b, description);
  TensorMetadata.addContent(b, content);
  TensorMetadata.addStats(b, stats);
  TensorMetadata.addAssociatedFiles(b, files);
  return TensorMetadata.endTensorMetadata(b);
}

/** The ModelMetadata flatbuffer (file identifier M001) stored in the buffer named TFLITE_METADATA. */
export function buildClassifierMetadata(meta: ClassifierMetadata): Uint8Array {
  const b = new flatbuffers.Builder(1024);
  const input = inputTensorMetadata(b, {
    name: 'image',
    description: `RGB image, ${meta.imageSize}x${meta.imageSize}, normalised as (pixel - mean) / std`,
    colorSpace: 'RGB',
    size: meta.imageSize,
    mean: meta.mean,
    std: meta.std,
  });
  const outputs = meta.outputs ? meta.outputs.map((o) => (o.labels ? outputTensorMetadata(b, meta, o) : plainTensorMetadata(b, o))) : [outputTensorMetadata(b, meta)];
  return finishModelMetadata(b, { ...meta, subgraphName: meta.outputs ? 'face_recognizer' : 'image_classifier' }, input, outputs);
}

/** A network of the pipeline other than the recognizer (the landmark network): an image in, plain outputs, described. */
export interface NetworkMetadata {
  name: string;
  description: string;
  subgraphName: string;
  input: ImageInputMetadata;
  outputs: { name: string; description: string }[];
  modelFiles?: { name: string; description: string }[];
}

export function buildNetworkMetadata(meta: NetworkMetadata): Uint8Array {
  const b = new flatbuffers.Builder(1024);
  const input = inputTensorMetadata(b, meta.input);
  const outputs = meta.outputs.map((o) => plainTensorMetadata(b, o));
  return finishModelMetadata(b, meta, input, outputs);
}

function finishModelMetadata(
  b: flatbuffers.Builder,
  meta: { name: string; description: string; subgraphName: string; modelFiles?: { name: string; description: string }[] },
  input: number,
  outputs: number[],
): Uint8Array {
  const subgraph = SubGraphMetadata.createSubGraphMetadata(
    b,
    b.createString(meta.subgraphName),
    0,
    SubGraphMetadata.createInputTensorMetadataVector(b, [input]),
    SubGraphMetadata.createOutputTensorMetadataVector(b, outputs),
    0,
  );
  const modelFiles = meta.modelFiles?.map((f) => {
    const [name, description] = strings(b, [f.name, f.description]);
    return AssociatedFile.createAssociatedFile(b, name, description, AssociatedFileType.DESCRIPTIONS, 0);
  });
  const root = ModelMetadata.createModelMetadata(
    b,
    b.createString(meta.name),
    b.createString(meta.description),
    b.createString('v1'),
    ModelMetadata.createSubgraphMetadataVector(b, [subgraph]),
    b.createString('facetrain'),
    0,
    modelFiles ? ModelMetadata.createAssociatedFilesVector(b, modelFiles) : 0,
    b.createString(MIN_PARSER_VERSION),
  );
  ModelMetadata.finishModelMetadataBuffer(b, root);
  return b.asUint8Array();
}

/** What a classifier needs from the metadata, read back. */
export interface ReadClassifierMetadata {
  name: string;
  imageSize?: number;
  colorSpace: 'RGB' | 'GRAYSCALE' | 'UNKNOWN';
  mean: number[];
  std: number[];
  /** Name of the TENSOR_AXIS_LABELS file of the first output. */
  labelsFile?: string;
}

export function parseClassifierMetadata(bytes: Uint8Array): ReadClassifierMetadata {
  const bb = new flatbuffers.ByteBuffer(bytes);
  if (!ModelMetadata.bufferHasIdentifier(bb)) throw new Error('not a TFLite metadata buffer (identifier M001 missing)');
  const model = ModelMetadata.getRootAsModelMetadata(bb);
  const subgraph = model.subgraphMetadata(0);
  const input = subgraph?.inputTensorMetadata(0);
  const output = subgraph?.outputTensorMetadata(0);
  let mean: number[] = [];
  let std: number[] = [];
  for (let i = 0; i < (input?.processUnitsLength() ?? 0); i++) {
    const unit = input?.processUnits(i);
    if (unit?.optionsType() !== ProcessUnitOptions.NormalizationOptions) continue;
    const options = unit.options(new NormalizationOptions()) as NormalizationOptions;
    mean = Array.from(options.meanArray() ?? []);
    std = Array.from(options.stdArray() ?? []);
  }
  const content = input?.content();
  const image = content?.contentPropertiesType() === ContentProperties.ImageProperties ? (content.contentProperties(new ImageProperties()) as ImageProperties) : undefined;
  const colorSpace = image ? (ColorSpaceType[image.colorSpace()] as ReadClassifierMetadata['colorSpace']) : 'UNKNOWN';
  let labelsFile: string | undefined;
  for (let i = 0; i < (output?.associatedFilesLength() ?? 0); i++) {
    const file = output?.associatedFiles(i);
    if (file?.type() === AssociatedFileType.TENSOR_AXIS_LABELS) labelsFile ??= file.name() ?? undefined;
  }
  return { name: model.name() ?? '', imageSize: image?.defaultSize()?.width(), colorSpace, mean, std, labelsFile };
}
