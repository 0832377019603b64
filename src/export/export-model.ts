import path from 'node:path';
import { FacetrainError, invalidOption } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { irFromGraphRecognizer } from '../graph/from-graph.js';
import { irFromLayersModel } from '../graph/from-layers.js';
import { type IrGraph, soleOutput } from '../graph/ir.js';
import { irToOnnx } from '../graph/onnx.js';
import { optimizeIr } from '../graph/optimize.js';
import { irToTflite } from './tflite.js';
import type { EmbeddingRecognizer, ExportableRecognizer, ExportFormat, ExportOptions } from './types.js';

export const EXPORT_FORMATS: readonly ExportFormat[] = ['onnx', 'tflite', 'tflite-fp16', 'tflite-int8'];

const FORMAT_NAMES: Record<ExportFormat, string> = {
  onnx: 'ONNX',
  tflite: 'TFLite',
  'tflite-fp16': 'TFLite (float16)',
  'tflite-int8': 'TFLite (int8)',
};

const FILE_EXTENSIONS: Record<ExportFormat, string> = { onnx: '.onnx', tflite: '.tflite', 'tflite-fp16': '.tflite', 'tflite-int8': '.tflite' };

export const PRODUCER_VERSION = '0.1.0';

function isEmbeddingRecognizer(model: ExportableRecognizer['model']): model is EmbeddingRecognizer {
  return 'graph' in model && 'head' in model;
}

/** The optimised IR of a recognizer, checked against its labels. */
export function recognizerIr(recognizer: ExportableRecognizer, format: ExportFormat): IrGraph {
  const formatName = FORMAT_NAMES[format];
  const { model } = recognizer;
  const ir = isEmbeddingRecognizer(model)
    ? irFromGraphRecognizer(model.graph, model.outputNode, model.head, formatName)
    : irFromLayersModel(model, formatName);
  const outShape = ir.shapes.get(soleOutput(ir)) ?? [];
  if (outShape.length !== 2 || outShape[1] !== recognizer.labels.length) {
    throw new FacetrainError(
      'FT_ERR_INVALID_OPTION',
      `The model outputs shape [${outShape.join(', ')}] but ${recognizer.labels.length} labels were given; pass one label per output class`,
    );
  }
  const size = recognizer.input.size;
  if (ir.input.shape[1] !== size || ir.input.shape[2] !== size) {
    throw invalidOption('input.size', `the model input size ${ir.input.shape[1]}x${ir.input.shape[2]}`, size);
  }
  return optimizeIr(ir);
}

/** Key/value metadata shared by formats that store strings (ONNX metadata_props). */
export function recognizerMetadata(recognizer: ExportableRecognizer): Record<string, string> {
  const { size, mean, std } = recognizer.input;
  return {
    labels: JSON.stringify(recognizer.labels),
    'input.size': String(size),
    'input.mean': JSON.stringify(mean),
    'input.std': JSON.stringify(std),
    'input.color_space': 'RGB',
    'input.layout': 'NHWC',
    'output.kind': 'probabilities',
  };
}

/** Serialises a recognizer to the bytes of one file in `format`. */
export async function exportModel(recognizer: ExportableRecognizer, format: ExportFormat, options: ExportOptions = {}): Promise<Uint8Array> {
  if (!EXPORT_FORMATS.includes(format)) throw invalidOption('format', `one of ${EXPORT_FORMATS.join(', ')}`, format);
  const ir = recognizerIr(recognizer, format);
  const name = recognizer.name ?? 'facetrain-recognizer';
  if (format === 'onnx') return irToOnnx(ir, { metadata: recognizerMetadata(recognizer), producerVersion: PRODUCER_VERSION, name });
  return irToTflite(ir, { format, recognizer, name, options });
}

export interface WrittenExport {
  file: string;
  labelsFile: string;
}

/**
 * Exports and writes `<out>` (extension added when missing) plus labels.txt beside it, each
 * atomically, so a crash never leaves a half-written model.
 */
export async function writeExport(recognizer: ExportableRecognizer, format: ExportFormat, out: string, options: ExportOptions = {}): Promise<WrittenExport> {
  const bytes = await exportModel(recognizer, format, options);
  const extension = FILE_EXTENSIONS[format];
  const file = path.extname(out) === extension ? out : `${out}${extension}`;
  const labelsFile = path.join(path.dirname(file), 'labels.txt');
  await writeFileAtomic(file, bytes);
  await writeFileAtomic(labelsFile, `${recognizer.labels.join('\n')}\n`);
  return { file, labelsFile };
}
