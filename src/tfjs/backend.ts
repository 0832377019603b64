import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';

export type BackendName = 'wasm' | 'cpu' | 'tensorflow';

let ready: Promise<BackendName> | undefined;

async function hasTfjsNode(): Promise<boolean> {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

async function pickBackend(preferred?: BackendName): Promise<BackendName> {
  if (preferred) return preferred;
  const fromEnv = process.env.FACETRAIN_BACKEND as BackendName | undefined;
  if (fromEnv) return fromEnv;
  return (await hasTfjsNode()) ? 'tensorflow' : 'wasm';
}

/**
 * Chooses and initialises the TF.js backend once per process: wasm by default,
 * tfjs-node only when the user already has it installed. Training kernels that the
 * backend lacks are registered here so every entry point gets them.
 */
export function initEngine(preferred?: BackendName): Promise<BackendName> {
  ready ??= (async () => {
    const name = await pickBackend(preferred);
    if (name === 'tensorflow') {
      // Optional peer: only loaded when present, never a dependency of ours.
      const moduleName = '@tensorflow/tfjs-node';
      await import(moduleName);
    }
    const { registerTrainingKernels } = await import('./kernels/register.js');
    registerTrainingKernels();
    if (!(await tf.setBackend(name))) throw new Error(`TF.js backend ${name} failed to initialise`);
    await tf.ready();
    return name;
  })();
  return ready;
}

export { tf };
