import type { CAC } from 'cac';
import { readFile } from 'node:fs/promises';
import { FacetrainError, invalidOption } from '../../errors.js';
import { readImageFile } from '../../image/decode.js';
import { EMBEDDING_BASES } from '../../recognize/embedding-base.js';
import { DEFAULT_VERIFY_BASE, loadVerifier, type Verifier } from '../../recognize/verify.js';
import { embeddingBaseOption, engineOption, optionalNumber, type OutputFlags } from '../options.js';

interface VerifyFlags extends OutputFlags {
  pairs?: string;
  base?: unknown;
  threshold?: unknown;
  engine?: unknown;
}

/** `photoA<TAB>photoB` lines; blank lines are skipped, anything else is an error naming the line. */
async function readPairs(file: string): Promise<[string, string][]> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new FacetrainError('FT_ERR_DATASET', `${file}: cannot be read (${err.code}); pass a text file with one photoA<TAB>photoB per line`);
  });
  return text.split(/\r?\n/).flatMap((line, i) => {
    if (line.trim() === '') return [];
    const fields = line.split('\t');
    if (fields.length !== 2 || !fields[0] || !fields[1]) throw new FacetrainError('FT_ERR_DATASET', `${file}:${i + 1}: expected photoA<TAB>photoB, got "${line}"; separate the two paths with one tab`);
    return [[fields[0], fields[1]] as [string, string]];
  });
}

async function compare(verifier: Verifier, a: string, b: string) {
  return verifier.verify(await readImageFile(a), await readImageFile(b), [a, b]);
}

export function registerVerify(cli: CAC): void {
  cli
    .command('verify [photo-a] [photo-b]', 'Are the largest faces of two photos the same person? (or every pair of a --pairs file)')
    .option('--pairs <file>', 'One photoA<TAB>photoB per line; one result line per pair, in order')
    .option('--base <name>', `Face embedding (${EMBEDDING_BASES.join(', ')}; default ${DEFAULT_VERIFY_BASE})`)
    .option('--threshold <t>', 'Cosine similarity at or above which it is the same person (default: the base\'s, calibrated on LFW pairs)')
    .option('--engine <name>', 'onnx (onnxruntime-node, default when installed) or tfjs (faceres only)')
    .option('--json', 'JSON out: {"same","similarity","threshold"} (with "a" and "b" for --pairs)')
    .action(async (a: string | undefined, b: string | undefined, flags: VerifyFlags) => {
      if (flags.pairs === undefined && (a === undefined || b === undefined)) throw invalidOption('verify', 'two photos, or --pairs <file>', [a, b].filter(Boolean).join(' ') || '(none)');
      if (flags.pairs !== undefined && a !== undefined) throw invalidOption('verify', 'either two photos or --pairs <file>, not both', a);
      const pairs: [string, string][] = flags.pairs === undefined ? [[a!, b!]] : await readPairs(flags.pairs);
      const verifier = await loadVerifier({ base: embeddingBaseOption(flags.base), threshold: optionalNumber('--threshold', flags.threshold), engine: engineOption(flags.engine) });
      let failures = 0;
      try {
        for (const [fileA, fileB] of pairs) {
          try {
            const result = await compare(verifier, fileA, fileB);
            const line = flags.json
              ? JSON.stringify(flags.pairs === undefined ? result : { a: fileA, b: fileB, ...result })
              : `${flags.pairs === undefined ? '' : `${fileA}\t${fileB}: `}${result.same ? 'same person' : 'different people'} (similarity ${result.similarity.toFixed(3)}, threshold ${result.threshold.toFixed(3)})`;
            console.log(line);
          } catch (err) {
            // one bad photo in a list is reported on its line; a single comparison fails as a whole
            if (!(err instanceof FacetrainError) || flags.pairs === undefined) throw err;
            failures++;
            console.log(flags.json ? JSON.stringify({ a: fileA, b: fileB, error: err.message }) : `${fileA}\t${fileB}: error: ${err.message}`);
          }
        }
      } finally {
        verifier.dispose();
      }
      if (failures > 0) process.exitCode = 4;
    });
}
