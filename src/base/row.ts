import type * as tfl from '@tensorflow/tfjs-layers';
import type { TrainConfig } from '../config.js';
import type { PreparedPhoto } from '../dataset/prepare.js';
import type { EventSink } from '../events.js';
import type { FaceEmbedder } from '../faces/embedder.js';
import type { ModelManifest } from '../model-dir/manifest.js';
import type { Runtime } from '../runtime/runtime.js';
import type { EpochMetrics } from '../train/loop.js';

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
  /** The embedder on TF.js; the runtime converts it when it runs elsewhere. */
  loadEmbedder(): Promise<FaceEmbedder>;
  /** Files of the network copied into a TF.js export's `base/` folder (the head alone cannot run). */
  tfjsFiles(): string[];
  /**
   * Cosine similarity of two embeddings (detected and aligned faces) at or above which they are
   * taken for one person: the verification family of thresholds, calibrated per base; `cluster`
   * groups faces at it.
   */
  samePersonSimilarity: number;
}

export type BaseRow = ClassifierBaseRow | EmbeddingBaseRow;
