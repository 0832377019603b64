import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Lets @litertjs/core (a browser package) run in Node for tests. It loads its Emscripten glue
 * with `importScripts` (worker) or a <script> tag, then reads ModuleFactory from `self`. Here
 * `importScripts` evaluates the glue as CommonJS, so Emscripten takes its Node path and reads the
 * .wasm next to it with fs: no fetch, no network.
 */

type Glue = (require: NodeJS.Require, dirname: string, filename: string, module: { exports: unknown }, exports: unknown) => unknown;

const globals = globalThis as unknown as Record<string, unknown>;

function importScripts(url: string): void {
  const file = url.startsWith('file:') ? fileURLToPath(url) : url;
  const code = readFileSync(file, 'utf8');
  const module = { exports: {} };
  const glue = new Function('require', '__dirname', '__filename', 'module', 'exports', `${code}\nreturn ModuleFactory;`) as Glue;
  const factory = glue(createRequire(file), path.dirname(file), file, module, module.exports) as (options?: Record<string, unknown>) => unknown;
  // LiteRT prints an INFO line per model compiled (XNNPACK delegate...): hundreds in a test run; warnings and errors still show
  const quiet = (write: (line: string) => void) => (line: string) => {
    if (!line.startsWith('INFO:')) write(line);
  };
  globals.ModuleFactory = (options: Record<string, unknown> = {}) => factory({ print: quiet(console.log), printErr: quiet(console.error), ...options });
}

type LiteRt = typeof import('@litertjs/core');

let loaded: Promise<LiteRt> | undefined;

/** Loads LiteRT.js's wasm CPU runtime once per process. */
export function loadLiteRtInNode(): Promise<LiteRt> {
  loaded ??= (async () => {
    // Only while loading: a global importScripts makes other Emscripten glue (tfjs-backend-wasm)
    // believe it runs in a web worker and fail to find its .wasm.
    const hadSelf = 'self' in globals;
    globals.self ??= globalThis;
    globals.importScripts = importScripts;
    try {
      const litert = await import('@litertjs/core');
      const wasmDir = path.join(path.dirname(createRequire(import.meta.url).resolve('@litertjs/core')), '..', 'wasm');
      await litert.loadLiteRt(`${wasmDir}/`);
      return litert;
    } finally {
      delete globals.importScripts;
      if (!hadSelf) delete globals.self;
    }
  })();
  return loaded;
}

/** LiteRT.js tensors are float32, int32 or uint8 only (so int8 models are tested with uint8 I/O). Runs a .tflite on one input and returns its first output as a plain typed array copy. */
export async function runTflite(
  model: Awaited<ReturnType<LiteRt['loadAndCompile']>>,
  litert: LiteRt,
  input: Float32Array<ArrayBuffer> | Uint8Array<ArrayBuffer>,
  shape: number[],
): Promise<Float32Array | Uint8Array> {
  const tensor = new litert.Tensor(input, shape);
  try {
    const outputs = await model.run(tensor);
    const data = outputs[0].toTypedArray().slice() as Float32Array | Uint8Array;
    for (const out of outputs) out.delete();
    return data;
  } finally {
    tensor.delete();
  }
}
