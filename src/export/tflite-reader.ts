import * as flatbuffers from 'flatbuffers';
import { FacetrainError } from '../errors.js';
import { parseClassifierMetadata, type ReadClassifierMetadata, METADATA_BUFFER_NAME } from './tflite-metadata.js';
import { BuiltinOperator, Model, TensorType, type Tensor } from './tflite/schema/generated/schema_generated.js';
import { unzipStored } from './zip.js';

export interface TfliteTensorInfo {
  name: string;
  shape: number[];
  type: keyof typeof TensorType;
  /** Per-tensor (or first channel's) quantization, absent for float tensors. */
  scale?: number;
  zeroPoint?: number;
}

export interface TfliteSummary {
  inputs: TfliteTensorInfo[];
  outputs: TfliteTensorInfo[];
  /** Builtin operator names in execution order. */
  operators: string[];
  metadata?: ReadClassifierMetadata;
  /** Lines of the TENSOR_AXIS_LABELS file packed in the appended zip. */
  labels?: string[];
}

function tensorInfo(tensor: Tensor): TfliteTensorInfo {
  const q = tensor.quantization();
  const hasScale = (q?.scaleLength() ?? 0) > 0;
  return {
    name: tensor.name() ?? '',
    shape: Array.from(tensor.shapeArray() ?? []),
    type: TensorType[tensor.type()] as keyof typeof TensorType,
    ...(hasScale ? { scale: q?.scale(0) ?? undefined, zeroPoint: Number(q?.zeroPoint(0) ?? 0) } : {}),
  };
}

/** Reads any .tflite (ours or TF's): I/O tensors, operators, classifier metadata and packed labels. */
export function readTflite(bytes: Uint8Array, label = 'model'): TfliteSummary {
  const bb = new flatbuffers.ByteBuffer(bytes);
  if (!Model.bufferHasIdentifier(bb)) throw new FacetrainError('FT_ERR_MODEL', `${label} is not a TFLite model (identifier TFL3 missing); pass a .tflite file`);
  const model = Model.getRootAsModel(bb);
  const subgraph = model.subgraphs(0);
  if (!subgraph) throw new FacetrainError('FT_ERR_MODEL', `${label} has no subgraph; re-export it`);
  const tensor = (index: number): TfliteTensorInfo => tensorInfo(subgraph.tensors(index) as Tensor);
  const operators: string[] = [];
  for (let i = 0; i < subgraph.operatorsLength(); i++) {
    const code = model.operatorCodes(subgraph.operators(i)?.opcodeIndex() ?? 0);
    const builtin = Math.max(code?.builtinCode() ?? 0, code?.deprecatedBuiltinCode() ?? 0);
    operators.push(String(builtinName(builtin)));
  }
  const summary: TfliteSummary = {
    inputs: Array.from(subgraph.inputsArray() ?? [], tensor),
    outputs: Array.from(subgraph.outputsArray() ?? [], tensor),
    operators,
  };
  for (let i = 0; i < model.metadataLength(); i++) {
    const entry = model.metadata(i);
    if (entry?.name() !== METADATA_BUFFER_NAME) continue;
    const data = model.buffers(entry.buffer())?.dataArray();
    if (data) summary.metadata = parseClassifierMetadata(data);
  }
  const labelsFile = summary.metadata?.labelsFile;
  const labelBytes = labelsFile ? unzipStored(bytes).get(labelsFile) : undefined;
  if (labelBytes) summary.labels = new TextDecoder().decode(labelBytes).split('\n').filter((l) => l.length > 0);
  return summary;
}

/** BuiltinOperator names, including codes the schema subset does not list. */
function builtinName(code: number): string {
  const names = BuiltinOperator as unknown as Record<number, string | undefined>;
  return names[code] ?? `BUILTIN_${code}`;
}
