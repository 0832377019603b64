import type * as tfl from '@tensorflow/tfjs-layers';
import type { TrainConfig } from '../config.js';
import type { PreparedPhoto } from '../dataset/prepare.js';
import type { EventSink } from '../events.js';
import type { FaceEmbedder } from '../faces/embedder.js';
import type { ModelManifest } from '../model-dir/manifest.js';
import type { Runtime } from '../runtime/runtime.js';
import type { EpochMetrics } from '../train/phase.js';

/** What a classifier base's training returns: one model from pixels to probabilities, and its history. */
export interface TrainedClassifier {
  model: tfl.LayersModel;
  history: { phases: { name: string; epochs: EpochMetrics[] }[] };
}

interface CommonRow {
  /** Pixel normalisation the network takes: value = (pixel - mean) / std. */
  normalisation: { mean: number; std: number };
  /** The manifest's `base` entry for a config: what loading the model needs to know. */
  manifestEntry(config: TrainConfig): ModelManifest['base'];
  /** How reports name the base. */
  describe(config: TrainConfig): string;
  /** The width multipliers (`alpha`) the base comes in; a base without them ignores `alpha`. */
  alphas?: readonly number[];
}

/** A base trained into one Keras-style model from pixels to probabilities (saved whole in the model directory). */
export interface ClassifierBaseRow extends CommonRow {
  kind: 'classifier';
  train(train: PreparedPhoto[], val: PreparedPhoto[], people: string[], config: TrainConfig, emit: EventSink, runtime: Runtime, prebuiltBase?: tfl.LayersModel): Promise<TrainedClassifier>;
}

/**
 * A frozen face-embedding network plus a trained head, with a gallery of embeddings beside it (so
 * people can be enrolled and forgotten without retraining). Training and recognition are shared by
 * every embedding base: a new one provides the embedder and the files its TF.js export needs.
 */
export interface EmbeddingBaseRow extends CommonRow {
  kind: 'embedding';
  /**
   * The embedder: a TF.js graph the runtime converts when it runs elsewhere, or (no `model`) one
   * that runs on a given runtime only (MobileFaceNet: onnxruntime, `runtime` or else loaded here).
   */
  loadEmbedder(runtime?: Runtime): Promise<FaceEmbedder>;
  /** Side of the aligned face in the manifest's input spec (default 224, the eye-aligned crop). */
  inputSize?: number;
  /** Align faces to this five-point template instead of placing the eyes (`input.template` in the manifest); always detects. */
  template?: 'arcface-112';
  /** Where the template's five points come from (`input.landmarks` in the manifest); absent, BlazeFace's points. */
  landmarks?: 'faceplugin-68';
  /**
   * Cosine similarity at or above which `verify` calls two faces the same person: the threshold with
   * the best accuracy over all LFW pairs in ../shared (`npm run accuracy` prints it).
   */
  verifyThreshold: number;
  /**
   * The lowest unknown threshold: a user's handful of people cannot show the 1 % tail of stranger
   * scores, so the threshold from simulated strangers is never set below this floor. It comes from
   * LFW's different-person pairs only (`strangerFloor` of `npm run accuracy`: their mean similarity
   * plus 3.72 standard deviations, a normal tail of 1e-4 per comparison, so a face compared with a
   * gallery of ~100 people is let in by chance about 1 % of the time), never from the open-set
   * protocols the tests assert.
   */
  unknownFloor: number;
  /**
   * The stricter threshold of the same family: the cosine similarity that 99.9 % of the
   * different-person LFW pairs in ../shared stay below (a 0.1 % false-accept rate; `npm run
   * accuracy` with ACCURACY_TARGET_FAR=0.001). `cluster` links two faces at it, since one wrong link can merge two people.
   */
  strictVerifyThreshold: number;
  /**
   * Mean and standard deviation of the different-person LFW similarities in ../shared; `cluster`
   * raises its thresholds for dumps of many faces from them (cluster/dump-size.ts). Absent: it
   * keeps the thresholds above at every size.
   */
  strangerSimilarity?: { mean: number; sd: number };
  /**
   * Cosine similarity to the nearest gallery template under which a gallery names a face `unknown`
   * (unless a threshold is given): the one with fewest errors on the shared gallery queries
   * (`gallery.threshold` of `npm run accuracy`, bench/protocols.ts galleryMatchFigures).
   */
  galleryThreshold: number;
}

export type BaseRow = ClassifierBaseRow | EmbeddingBaseRow;
