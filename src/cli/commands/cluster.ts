import type { CAC } from 'cac';
import { CLUSTER_DEFAULTS, CLUSTER_RANGES, clusterPhotos, type ClusterEvent, type ClusterOptions } from '../../api/cluster.js';
import { CLUSTER_BASE } from '../../api/cluster-embedder.js';
import { plural } from '../../cluster/contact-sheet.js';
import { TRAIN_DEFAULTS } from '../../base/index.js';
import { FacetrainError } from '../../errors.js';
import { GALLERY_URL_FORMS } from '../../gallery/open.js';
import { EMBEDDING_BASES } from '../../recognize/embedding-base.js';
import { addFlags, ENGINE_FLAG, optionsFromFlags, type FlagTable } from '../flag-table.js';
import type { OutputFlags } from '../options.js';
import { seconds } from '../reporter.js';

/** JSON lines on stdout with --json; otherwise a redrawn status line on a terminal and plain lines for the rest. */
function clusterReporter(json: boolean, tty: boolean): (e: ClusterEvent) => void {
  if (json) return (e) => process.stdout.write(`${JSON.stringify(e)}\n`);
  let statusShown = false;
  const line = (text: string) => {
    process.stderr.write(`${statusShown ? '\r\x1b[K' : ''}${text}\n`);
    statusShown = false;
  };
  return (e) => {
    switch (e.type) {
      case 'scan':
        line(`${e.photos} photos${e.cachedFaces ? ' (faces of unchanged photos come from the earlier run)' : ''}`);
        break;
      case 'progress':
        if (tty) {
          process.stderr.write(`\r\x1b[Kfinding faces ${e.done}/${e.total} - ${e.photosPerSecond.toFixed(1)} photos/s - ETA ${seconds(e.etaSeconds * 1000)}`);
          statusShown = true;
        }
        break;
      case 'skip':
        line(`skipped ${e.file}: ${e.reason}`);
        break;
      case 'group':
        line(`  ${e.name}/  ${plural(e.photos, 'photo')}, ${plural(e.faces, 'face')}${e.known ? ' (known to the model or gallery)' : ''}`);
        break;
      case 'saved':
        line(`wrote ${e.outDir}: ${e.groups} new groups${e.known > 0 ? `, ${e.known} known people` : ''}, ${e.faces} faces, ${e.unsortedPhotos} photos in unsorted/ (${e.photosWithoutFaces} without a face) in ${seconds(e.ms)}; open index.html, rename the folders, then run facetrain train on it`);
        break;
    }
  };
}

/** cluster's flags, one per ClusterOptions field (ranges: CLUSTER_RANGES), with the folders as the other commands name them. */
type ClusterFlags = Pick<ClusterOptions, 'minPhotos' | 'copy' | 'gallery' | 'base' | 'seed' | 'engine' | 'force'> & { out?: string; model?: string };

const CLUSTER_FLAGS: FlagTable<ClusterFlags> = {
  out: { kind: 'string', value: 'dir', help: 'Folder to write person-01/, person-02/, ..., unsorted/ and index.html into (required)' },
  model: { kind: 'string', value: 'dir', help: 'A trained model: faces of the people it knows go to folders named after them, only the rest are grouped' },
  minPhotos: { kind: 'number', value: 'n', help: 'Groups with fewer photos go to unsorted/' },
  copy: { kind: 'boolean', help: 'Copy the photos instead of linking them' },
  gallery: { kind: 'string', value: 'url', help: `A gallery (${GALLERY_URL_FORMS}): faces of the people it knows go to folders named after them, only the rest are grouped` },
  base: { kind: 'choice', value: 'name', choices: EMBEDDING_BASES, help: `Face embedding (${EMBEDDING_BASES.join(', ')}; default ${CLUSTER_BASE}; with --gallery the base its templates come from: --model's, else ${TRAIN_DEFAULTS.base})` },
  seed: { kind: 'number', value: 'n', help: 'Seed for the order of the grouping rounds: the same photos and seed give the same groups' },
  engine: ENGINE_FLAG,
  force: { kind: 'boolean', help: 'Replace an existing --out folder (the faces cached in it are reused)' },
};

export function registerCluster(cli: CAC): void {
  addFlags(cli.command('cluster <photos>', 'Sort a folder of unlabelled photos (recursively) into one folder per person'), CLUSTER_FLAGS, CLUSTER_DEFAULTS, CLUSTER_RANGES)
    .option('--json', 'One JSON event per line on stdout')
    .example('facetrain cluster ~/Pictures/party --out party-people')
    .action(async (photos: string, flags: Record<string, unknown> & OutputFlags) => {
      const { out, model, ...options } = optionsFromFlags(flags, CLUSTER_FLAGS, CLUSTER_DEFAULTS, CLUSTER_RANGES);
      if (out === undefined) throw new FacetrainError('FT_ERR_INVALID_OPTION', 'cluster needs --out <dir>: the folder to sort the photos into');
      await clusterPhotos({ ...options, photosDir: photos, outDir: out, modelDir: model }, clusterReporter(flags.json === true, process.stderr.isTTY === true));
    });
}
