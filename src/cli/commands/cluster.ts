import type { CAC } from 'cac';
import { CLUSTER_DEFAULTS, clusterPhotos, type ClusterEvent } from '../../api/cluster.js';
import { CLUSTER_BASE } from '../../api/cluster-embedder.js';
import { plural } from '../../cluster/contact-sheet.js';
import { TRAIN_DEFAULTS } from '../../base/index.js';
import { FacetrainError } from '../../errors.js';
import { GALLERY_URL_FORMS } from '../../gallery/open.js';
import { EMBEDDING_BASES } from '../../recognize/embedding-base.js';
import { embeddingBaseOption, engineOption, numberOption, type OutputFlags } from '../options.js';
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

export function registerCluster(cli: CAC): void {
  cli
    .command('cluster <photos>', 'Sort a folder of unlabelled photos (recursively) into one folder per person')
    .option('--out <dir>', 'Folder to write person-01/, person-02/, ..., unsorted/ and index.html into (required)')
    .option('--min-photos <n>', 'Groups with fewer photos go to unsorted/', { default: CLUSTER_DEFAULTS.minPhotos })
    .option('--copy', 'Copy the photos instead of linking them')
    .option('--model <dir>', 'A trained model: faces of the people it knows go to folders named after them, only the rest are grouped')
    .option('--gallery <url>', `A gallery (${GALLERY_URL_FORMS}): faces of the people it knows go to folders named after them, only the rest are grouped`)
    .option('--base <name>', `Face embedding (${EMBEDDING_BASES.join(', ')}; default ${CLUSTER_BASE}; with --gallery the base its templates come from: --model's, else ${TRAIN_DEFAULTS.base})`)
    .option('--seed <n>', 'Seed for the order of the grouping rounds: the same photos and seed give the same groups', { default: CLUSTER_DEFAULTS.seed })
    .option('--engine <name>', 'Runtime for the networks: onnx (onnxruntime-node, default when installed) or tfjs')
    .option('--force', 'Replace an existing --out folder (the faces cached in it are reused)')
    .option('--json', 'One JSON event per line on stdout')
    .example('facetrain cluster ~/Pictures/party --out party-people')
    .action(async (photos: string, flags: Record<string, unknown> & OutputFlags) => {
      if (typeof flags.out !== 'string') throw new FacetrainError('FT_ERR_INVALID_OPTION', 'cluster needs --out <dir>: the folder to sort the photos into');
      const report = clusterReporter(flags.json === true, process.stderr.isTTY === true);
      await clusterPhotos(
        {
          photosDir: photos,
          outDir: flags.out,
          minPhotos: numberOption('--min-photos', flags.minPhotos),
          copy: flags.copy === true,
          force: flags.force === true,
          modelDir: flags.model === undefined ? undefined : String(flags.model),
          gallery: flags.gallery === undefined ? undefined : String(flags.gallery),
          base: embeddingBaseOption(flags.base),
          seed: numberOption('--seed', flags.seed),
          engine: engineOption(flags.engine),
        },
        report,
      );
    });
}
