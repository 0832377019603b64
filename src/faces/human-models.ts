import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import { initEngine } from '../tfjs/backend.js';
import { modelFileIO } from '../tfjs/model-io.js';
import { FacetrainError } from '../errors.js';

/** Models shipped by the npm package @vladmandic/human (MIT); we run them on our own TF.js, never Human's bundle. */
export type HumanModelName = 'blazeface' | 'faceres';

/**
 * The package's `exports` hides its files from require.resolve, so the folder is found the way
 * Node itself looks for packages: each node_modules on the way up from here.
 */
export function humanModelsDir(): string {
  const candidates = createRequire(import.meta.url).resolve.paths('@vladmandic/human') ?? [];
  for (const nodeModules of candidates) {
    const dir = path.join(nodeModules, '@vladmandic', 'human', 'models');
    if (existsSync(path.join(dir, 'models.json'))) return dir;
  }
  throw new FacetrainError('FT_ERR_MODEL', 'The face models of @vladmandic/human were not found in any node_modules; run npm install in the facetrain folder');
}

/** The TF.js converter is imported here, when a graph is loaded: onnxruntime runs the default networks from ONNX bytes without it. */
export async function loadHumanModel(name: HumanModelName, modelsDir = humanModelsDir()): Promise<GraphModel> {
  await initEngine();
  const { loadGraphModel } = await import('@tensorflow/tfjs-converter');
  return loadGraphModel(modelFileIO(path.join(modelsDir, `${name}.json`)));
}
