import { sha256Hex } from '../../util/hash.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { FacetrainError, invalidOption } from '../../errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { isHdf5 } from '../../util/keras-h5.js';
import { facetrainCacheDir } from '../../util/network-cache.js';

/** The width multipliers Keras publishes ImageNet weights for. */
export const MOBILENET_V2_ALPHAS = [0.35, 0.5, 0.75, 1.0, 1.3, 1.4] as const;

/** Input sizes with their own published checkpoints; alphas above 1 only have 224. */
const PUBLISHED_SIZES = [96, 128, 160, 192, 224];

export const MOBILENET_V2_WEIGHTS_BASE_URL = 'https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/';

/**
 * Keras' choice of checkpoint: the one trained at `inputSize` when published, else 224 (the
 * include_top=False network is fully convolutional, so any checkpoint loads at any size).
 */
export function officialWeightsSize(alpha: number, inputSize: number): number {
  return alpha <= 1 && PUBLISHED_SIZES.includes(inputSize) ? inputSize : 224;
}

/** Python's str(float): 1 -> "1.0", 0.5 -> "0.5", as in Keras' file names. */
function pythonFloat(value: number): string {
  return Number.isInteger(value) ? value.toFixed(1) : String(value);
}

export function officialWeightsFileName(alpha: number, inputSize = 224): string {
  return `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_${pythonFloat(alpha)}_${officialWeightsSize(alpha, inputSize)}_no_top.h5`;
}

export function officialWeightsUrl(alpha: number, inputSize = 224): string {
  return MOBILENET_V2_WEIGHTS_BASE_URL + officialWeightsFileName(alpha, inputSize);
}

export interface OfficialWeightsOptions {
  alpha: number;
  inputSize?: number;
  cacheDir?: string;
  /** Injected by tests and embedders; defaults to the global fetch. */
  fetch?: typeof fetch;
}


/** The sidecar uses sha256sum's format so `sha256sum -c` can check the cache by hand. */
function sidecarText(digest: string, fileName: string): string {
  return `${digest}  ${fileName}\n`;
}

async function readOrUndefined(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch {
    return undefined;
  }
}

/** A cached file is used only if it still hashes to what was recorded when it was downloaded. */
async function isVerifiedCacheEntry(file: string): Promise<boolean> {
  const [bytes, recorded] = await Promise.all([readOrUndefined(file), readOrUndefined(`${file}.sha256`)]);
  if (!bytes || !recorded) return false;
  return recorded.toString('utf8').split(/\s+/)[0] === sha256Hex(bytes);
}

async function download(url: string, fetchImpl: typeof fetch, offlineHint: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetchImpl(url);
  } catch (err) {
    const reason = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
    throw new FacetrainError('FT_ERR_NETWORK', `Cannot download ${url} (${reason.split('\n')[0]}); ${offlineHint}`, { cause: err });
  }
  if (!response.ok) throw new FacetrainError('FT_ERR_NETWORK', `Cannot download ${url} (HTTP ${response.status}); ${offlineHint}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  // A captive portal or proxy answers 200 with HTML: never cache that as weights.
  if (!isHdf5(bytes)) throw new FacetrainError('FT_ERR_NETWORK', `${url} did not return an HDF5 file (proxy or captive portal?); ${offlineHint}`);
  return bytes;
}

/**
 * Path of the Keras ImageNet no-top checkpoint for `alpha`, downloading it once into
 * `<cacheDir>/models/` (same file name as Keras' own cache).
 *
 * Integrity: Keras publishes no checksum for these files (its `get_file` call passes no
 * `file_hash`), so there is no official digest to pin. Instead the sha256 of the bytes received is
 * recorded in `<file>.sha256` next to the file, written after it; a cache entry is reused only when
 * both exist and agree, otherwise it is downloaded again. This catches truncation, disk corruption
 * and edits, not a compromised server (trust on first use, like Keras itself).
 * @throws FacetrainError FT_ERR_NETWORK with the URL and the `--weights` workaround when offline.
 */
export async function fetchOfficialMobileNetV2Weights({ alpha, inputSize = 224, cacheDir = facetrainCacheDir(), fetch: fetchImpl = globalThis.fetch }: OfficialWeightsOptions): Promise<string> {
  if (!(MOBILENET_V2_ALPHAS as readonly number[]).includes(alpha)) {
    throw invalidOption('alpha', `one of ${MOBILENET_V2_ALPHAS.map(pythonFloat).join(', ')} (the widths with ImageNet weights) or your own \`weights\``, alpha);
  }
  const fileName = officialWeightsFileName(alpha, inputSize);
  const file = path.join(cacheDir, 'models', fileName);
  if (await isVerifiedCacheEntry(file)) return file;
  const url = officialWeightsUrl(alpha, inputSize);
  const bytes = await download(url, fetchImpl, `download it where you have network and set \`weights\` to its path (${fileName})`);
  await writeFileAtomic(file, bytes);
  await writeFileAtomic(`${file}.sha256`, sidecarText(sha256Hex(bytes), fileName));
  return file;
}
