import type { CAC } from 'cac';
import { BASES, TRAIN_DEFAULTS, type TrainConfig } from '../../config.js';
import { exportModelDir, parseFormats } from '../../api/export.js';
import { train } from '../../api/train.js';
import { enrollTrainingPhotos } from '../../api/gallery-model.js';
import { FacetrainError } from '../../errors.js';
import { createReporter } from '../reporter.js';
import { engineOption, numberOption, optionalNumber, type OutputFlags } from '../options.js';

const d = TRAIN_DEFAULTS;

export function registerTrain(cli: CAC): void {
  cli
    .command('train <photos>', 'Train a recognizer from photos/<person>/*.jpg (or photos/train/<person> + photos/val/<person>)')
    .option('--out <dir>', 'Model directory to write (required)')
    .option('--base <name>', `Frozen base: ${BASES.join(' | ')}`, { default: d.base })
    .option('--alpha <n>', 'MobileNetV2 width multiplier: 0.35 0.5 0.75 1.0 1.3 1.4', { default: d.alpha })
    .option('--detect', 'Detect and align faces (--no-detect: whole photos, as the classic tutorial)', { default: d.detect })
    .option('--weights <path>', 'MobileNetV2 ImageNet weights: a TF.js layers model directory or a Keras .h5 file')
    .option('--val-split <f>', 'Fraction of each person\'s photos held out for validation', { default: d.valSplit })
    .option('--seed <n>', 'Seed for the split, augmentation, initialisation and batch order', { default: d.seed })
    .option('--epochs <n>', 'Epochs training the head on the frozen base (default: 10; faceres: 30)')
    .option('--learning-rate <lr>', 'Adam learning rate for the head (default: 1e-3; faceres: 1e-2)')
    .option('--fine-tune-epochs <n>', 'Epochs fine-tuning the base from --fine-tune-at (0 skips)', { default: d.fineTuneEpochs })
    .option('--fine-tune-at <i>', 'First trainable base layer index when fine-tuning', { default: d.fineTuneAt })
    .option('--fine-tune-learning-rate <lr>', 'Adam learning rate when fine-tuning', { default: d.fineTuneLearningRate })
    .option('--batch-size <n>', 'Batch size', { default: d.batchSize })
    .option('--augment', 'Flip, shift, zoom and brightness views of training photos (--no-augment: off)', { default: d.augment })
    .option('--augment-views <n>', 'Cached views per training photo when augmenting', { default: d.augmentViews })
    .option('--dropout <rate>', 'Dropout rate of the head', { default: d.dropout })
    .option('--target-far <rate>', 'Face-embedding bases: share of strangers the unknown threshold may accept', { default: d.targetFar })
    .option('--export <list>', 'Also write these formats into <out>/export: tfjs, h5, onnx, tflite, tflite-fp16, tflite-int8 or all')
    .option('--engine <name>', 'Runtime for the frozen networks: onnx (onnxruntime-node, default when installed) or tfjs')
    .option('--gallery <url>', 'Also enrol the training photos into this gallery (postgres://..., pglite:<folder>, file:<json>, embedded)')
    .option('--force', 'Replace an existing model directory')
    .option('--json', 'One JSON event per line on stdout')
    .example('facetrain train photos/ --out models/family')
    .example('facetrain train photos/ --out models/classic --base mobilenetv2 --no-detect')
    .action(async (photos: string, flags: Record<string, unknown> & OutputFlags) => {
      if (typeof flags.out !== 'string') throw new FacetrainError('FT_ERR_INVALID_OPTION', 'train needs --out <dir>: the model directory to write');
      const config: Partial<TrainConfig> & Pick<TrainConfig, 'dataDir' | 'outDir'> = {
        dataDir: photos,
        outDir: flags.out,
        base: String(flags.base) as TrainConfig['base'],
        alpha: numberOption('--alpha', flags.alpha),
        weights: flags.weights === undefined ? undefined : String(flags.weights),
        valSplit: numberOption('--val-split', flags.valSplit),
        seed: numberOption('--seed', flags.seed),
        epochs: optionalNumber('--epochs', flags.epochs),
        learningRate: optionalNumber('--learning-rate', flags.learningRate),
        fineTuneEpochs: numberOption('--fine-tune-epochs', flags.fineTuneEpochs),
        fineTuneAt: numberOption('--fine-tune-at', flags.fineTuneAt),
        fineTuneLearningRate: numberOption('--fine-tune-learning-rate', flags.fineTuneLearningRate),
        batchSize: numberOption('--batch-size', flags.batchSize),
        augment: flags.augment !== false,
        detect: flags.detect !== false,
        augmentViews: numberOption('--augment-views', flags.augmentViews),
        dropout: numberOption('--dropout', flags.dropout),
        targetFar: numberOption('--target-far', flags.targetFar),
        force: flags.force === true,
        engine: engineOption(flags.engine),
      };
      const formats = flags.export === undefined ? [] : parseFormats(String(flags.export));
      const report = createReporter({ json: flags.json === true, tty: process.stderr.isTTY === true });
      await train(config, report);
      if (typeof flags.gallery === 'string') {
        const enrolled = await enrollTrainingPhotos(config.outDir, flags.gallery);
        if (flags.json === true) console.log(JSON.stringify({ type: 'gallery-enrolled', ...enrolled }));
        else process.stderr.write(`enrolled ${enrolled.added} training photo(s) of ${enrolled.people} people into ${enrolled.location}${enrolled.alreadyKnown ? ` (${enrolled.alreadyKnown} already there)` : ''}\n`);
      }
      if (formats.length > 0) await exportModelDir(config.outDir, formats, { calibration: photos, onWritten: (format, file) => report({ type: 'exported', format, file }) });
    });
}
