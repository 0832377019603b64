import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from './fs.js';

/**
 * Where facetrain keeps what it can make again (downloaded official weights, converted networks):
 * `$FACETRAIN_CACHE`, else `$XDG_CACHE_HOME/facetrain`, else ~/.cache/facetrain. Only public model
 * weights go there, never photos or embeddings; deleting the folder at any time is safe.
 */
export function facetrainCacheDir(): string {
  const { FACETRAIN_CACHE, XDG_CACHE_HOME } = process.env;
  if (FACETRAIN_CACHE) return FACETRAIN_CACHE;
  return path.join(XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'facetrain');
}

/** A network written in another format by facetrain's own code (e.g. TFLite or a TF.js graph as ONNX). */
export interface NetworkConversion {
  /** Names the cache entry (`<name>-<key>.bin`). */
  name: string;
  /** The files converted, in a fixed order. */
  sources: Uint8Array[];
  /**
   * The converter's compiled code (module URLs of files or folders, read recursively) and its settings
   * (options, versions of the packages it reads with): any change to either makes a new key, so no
   * version number has to be remembered when the converter changes.
   */
  converter: { code: URL[]; settings: string };
  /** Default `facetrainCacheDir()/networks`. */
  cacheDir?: string;
}

const DIGEST_BYTES = 32;
const codeDigests = new Map<string, Promise<string>>();

async function codeFiles(location: URL): Promise<string[]> {
  const file = fileURLToPath(location);
  if (!location.pathname.endsWith('/')) return [file];
  const entries = await readdir(file, { recursive: true });
  return entries.filter((entry) => entry.endsWith('.js')).sort().map((entry) => path.join(file, entry));
}

/** SHA-256 of the code's files in path order, once per process for each list. */
function codeDigest(code: URL[]): Promise<string> {
  const id = code.map(String).join('\n');
  let digest = codeDigests.get(id);
  if (!digest) {
    digest = (async () => {
      const hash = createHash('sha256');
      for (const file of (await Promise.all(code.map(codeFiles))).flat()) hash.update(file.slice(file.lastIndexOf(`${path.sep}src${path.sep}`))).update(await readFile(file));
      return hash.digest('hex');
    })();
    codeDigests.set(id, digest);
  }
  return digest;
}

/** The entry's payload when its stored SHA-256 matches it; a truncated or damaged entry is not trusted. */
async function readEntry(file: string): Promise<Uint8Array | undefined> {
  let stored: Buffer;
  try {
    stored = await readFile(file);
  } catch {
    return undefined;
  }
  if (stored.length <= DIGEST_BYTES) return undefined;
  const payload = stored.subarray(DIGEST_BYTES);
  const digest = createHash('sha256').update(payload).digest();
  return digest.equals(stored.subarray(0, DIGEST_BYTES)) ? new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength) : undefined;
}

/**
 * The converted bytes from the cache when an entry for these sources and this converter is there and
 * intact, else `convert()`'s, stored for the next process. Entries are written to a temporary file and
 * renamed (two processes converting at once both write whole files; the last rename wins, with the
 * same bytes), and a cache that cannot be written only costs the next process the conversion again.
 */
export async function cachedConversion(conversion: NetworkConversion, convert: () => Promise<Uint8Array> | Uint8Array): Promise<Uint8Array> {
  const key = createHash('sha256').update(conversion.name).update('\0').update(conversion.converter.settings).update('\0').update(await codeDigest(conversion.converter.code));
  for (const source of conversion.sources) key.update(createHash('sha256').update(source).digest());
  const file = path.join(conversion.cacheDir ?? path.join(facetrainCacheDir(), 'networks'), `${conversion.name}-${key.digest('hex').slice(0, 32)}.bin`);
  const cached = await readEntry(file);
  if (cached) return cached;
  const converted = await convert();
  const digest = createHash('sha256').update(converted).digest();
  try {
    await writeFileAtomic(file, Buffer.concat([digest, converted]));
  } catch {
    // a read-only or full disk: this process has its bytes, the next converts again
  }
  return converted;
}
