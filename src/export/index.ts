/** Public export API: recognizers to ONNX and TFLite (float32, float16, int8), plus readers for what they embed. */
export { EXPORT_FORMATS, type WrittenExport, exportModel, writeExport } from './export-model.js';
export type { EmbeddingRecognizer, ExportableRecognizer, ExportFormat, ExportOptions, InputSpec } from './types.js';
export { ONNX_INPUT, ONNX_OPSET, ONNX_OUTPUT, readOnnxMetadata } from '../graph/onnx.js';
export { TFLITE_INPUT, TFLITE_OUTPUT } from './tflite.js';
export { type TfliteSummary, type TfliteTensorInfo, readTflite } from './tflite-reader.js';
export type { ReadClassifierMetadata } from './tflite-metadata.js';
