import type { CAC } from 'cac';
import { readFile } from 'node:fs/promises';
import { FacetrainError, invalidOption } from '../../errors.js';
import { readImageFile } from '../../image/decode.js';
import { EMBEDDING_BASES } from '../../recognize/embedding-base.js';
import { DEFAULT_VERIFY_BASE, loadVerifier, type Verifier, type VerifyOptions } from '../../recognize/verify.js';
import { SIMILARITY_RANGE } from '../../config.js';
import { addFlags, ENGINE_FLAG, optionsFromFlags, type FlagRanges, type FlagTable } from '../flag-table.js';
import { cliMessage, type OutputFlags } from '../options.js';

type VerifySettings = Pick<VerifyOptions, 'base' | 'threshold' | 'engine'> & { pairs?: string };

const VERIFY_FLAGS: FlagTable<VerifySettings> = {
  pairs: { kind: 'string', value: 'file', help: 'One photoA<TAB>photoB per line; one result line per pair, in order' },
  base: { kind: 'choice', value: 'name', choices: EMBEDDING_BASES, help: `Face embedding (${EMBEDDING_BASES.join(', ')}; default ${DEFAULT_VERIFY_BASE})` },
  threshold: { kind: 'number', value: 't', help: "Cosine similarity at or above which it is the same person (default: the base's, calibrated on LFW pairs)" },
  engine: { ...ENGINE_FLAG, help: `${ENGINE_FLAG.help} (faceres only)` },
};

/** Checked by loadVerifier too. */
const VERIFY_RANGES: FlagRanges<VerifySettings> = Object.freeze({ threshold: SIMILARITY_RANGE });

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
  addFlags(cli.command('verify [photo-a] [photo-b]', 'Are the largest faces of two photos the same person? (or every pair of a --pairs file)'), VERIFY_FLAGS, {}, VERIFY_RANGES)
    .option('--json', 'JSON out: {"same","similarity","threshold"} (with "a" and "b" for --pairs)')
    .action(async (a: string | undefined, b: string | undefined, flags: Record<string, unknown> & OutputFlags) => {
      const { pairs: pairsFile, ...options } = optionsFromFlags(flags, VERIFY_FLAGS, {}, VERIFY_RANGES);
      if (pairsFile === undefined && (a === undefined || b === undefined)) throw invalidOption('verify', 'two photos, or --pairs <file>', [a, b].filter(Boolean).join(' ') || '(none)');
      if (pairsFile !== undefined && a !== undefined) throw invalidOption('verify', 'either two photos or --pairs <file>, not both', a);
      const pairs: [string, string][] = pairsFile === undefined ? [[a!, b!]] : await readPairs(pairsFile);
      const verifier = await loadVerifier(options);
      let failures = 0;
      try {
        for (const [fileA, fileB] of pairs) {
          try {
            const result = await compare(verifier, fileA, fileB);
            const line = flags.json
              ? JSON.stringify(pairsFile === undefined ? result : { a: fileA, b: fileB, ...result })
              : `${pairsFile === undefined ? '' : `${fileA}\t${fileB}: `}${result.same ? 'same person' : 'different people'} (similarity ${result.similarity.toFixed(3)}, threshold ${result.threshold.toFixed(3)})`;
            console.log(line);
          } catch (err) {
            // one bad photo in a list is reported on its line; a single comparison fails as a whole
            if (!(err instanceof FacetrainError) || pairsFile === undefined) throw err;
            failures++;
            console.log(flags.json ? JSON.stringify({ a: fileA, b: fileB, error: cliMessage(err) }) : `${fileA}\t${fileB}: error: ${cliMessage(err)}`);
          }
        }
      } finally {
        verifier.dispose();
      }
      if (failures > 0) process.exitCode = 4;
    });
}
