import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { FacetrainError } from '../errors.js';
import { modelVersion, type ModelManifest } from '../model-dir/manifest.js';
import type { ServerContext } from './context.js';

/**
 * What the page may run itself, and which files the model route serves for it: a whole-image
 * model's own files, or, for a face model, the TF.js pipeline folder the server was started with
 * (`facetrain export --format tfjs`). That folder holds every person's templates (embeddings are
 * personal data), so it is public only when the operator passes it, and only while it was made
 * from the model as it is now (an enrolment or forget makes it stale).
 */
export interface BrowserSupport {
  supported: boolean;
  /** 'whole-image': one classifier on the photo; 'face-pipeline': detector, landmarks and recognizer (pipeline.json beside modelUrl). */
  kind?: 'whole-image' | 'face-pipeline';
  modelUrl?: string;
  reason?: string;
}

interface TfjsPipelineJson {
  format?: string;
  modelVersion?: string;
  labels?: string[];
  recognizer?: { files?: { tfjs?: string } };
  detector?: { files?: { tfjs?: string } };
  landmarks?: { files?: { tfjs?: string } };
}

const MODEL_URL = '/model/model.json';

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

async function pipelineStatus(dir: string, manifest: ModelManifest): Promise<BrowserSupport> {
  const pipeline = await readJson<TfjsPipelineJson>(path.join(dir, 'pipeline.json'));
  if (pipeline?.format !== 'facetrain-pipeline' || !pipeline.recognizer?.files?.tfjs) {
    return { supported: false, reason: `${dir} is not a TF.js pipeline export of a face model (\`exportModelDir()\` with \`format\` tfjs writes one)` };
  }
  if (pipeline.modelVersion !== modelVersion(manifest) || JSON.stringify(pipeline.labels) !== JSON.stringify(manifest.labels)) {
    return { supported: false, reason: `the TF.js export in ${dir} was made before the model last changed (an enrolment or forget); export it again to the same folder` };
  }
  return { supported: true, kind: 'face-pipeline', modelUrl: MODEL_URL };
}

export async function browserSupport(ctx: Pick<ServerContext, 'host' | 'browserModel' | 'gallery'>): Promise<BrowserSupport> {
  const { manifest } = ctx.host.current;
  if (manifest.input.crop === 'whole-image') return { supported: true, kind: 'whole-image', modelUrl: MODEL_URL };
  if (ctx.gallery) return { supported: false, reason: 'faces are named through the server\'s gallery, which stays on the server' };
  if (ctx.browserModel) return pipelineStatus(ctx.browserModel, manifest);
  return { supported: false, reason: 'this server was not given a TF.js export of the model (it holds the people\'s templates, so it is served only when the operator asks for it)' };
}

/** Refuses, at start-up, a TF.js export the page could not use: the error names the folder and what to do. */
export async function checkBrowserModel(manifest: ModelManifest, dir: string | undefined, withGallery: boolean): Promise<void> {
  if (!dir) return;
  const refuse = (why: string) => new FacetrainError('FT_ERR_INVALID_OPTION', why, { options: ['browserModel'] });
  if (manifest.input.crop === 'whole-image') throw refuse(`${dir}: not needed, this whole-image model runs in the browser from its own files; serve it without a TF.js export`);
  if (withGallery) throw refuse(`${dir}: a server with a gallery names faces through it, which the browser cannot; serve the TF.js export without the gallery`);
  const status = await pipelineStatus(dir, manifest);
  if (!status.supported) throw refuse(status.reason!);
}

/** Files a TF.js model.json lists as weights, relative to the model's folder. */
async function weightFiles(modelJson: string): Promise<string[]> {
  const json = await readJson<{ weightsManifest?: { paths: string[] }[] }>(modelJson);
  return (json?.weightsManifest ?? []).flatMap((group) => group.paths.map((p) => path.join(path.dirname(modelJson), p)));
}

/**
 * The file under the model route `relative` names, or undefined when it is not one the page may
 * load: only model.json files and the weights they list (and pipeline.json) are served.
 */
export async function servedModelFile(ctx: Pick<ServerContext, 'host' | 'browserModel' | 'gallery'>, relative: string): Promise<string | undefined> {
  const support = await browserSupport(ctx);
  if (!support.supported) return undefined;
  const root = support.kind === 'whole-image' ? ctx.host.modelDir : ctx.browserModel!;
  const modelJsons = [path.join(root, 'model.json')];
  if (support.kind === 'face-pipeline') {
    const pipeline = (await readJson<TfjsPipelineJson>(path.join(root, 'pipeline.json')))!;
    for (const file of [pipeline.detector?.files?.tfjs, pipeline.landmarks?.files?.tfjs]) if (file) modelJsons.push(path.join(root, file));
  }
  const allowed = new Set([...modelJsons, ...(support.kind === 'face-pipeline' ? [path.join(root, 'pipeline.json')] : [])]);
  for (const json of modelJsons) for (const weights of await weightFiles(json)) allowed.add(weights);
  const wanted = path.normalize(path.join(root, relative));
  return allowed.has(wanted) ? wanted : undefined;
}
