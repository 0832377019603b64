import type { PhotoEmbedder } from '../api/gallery.js';
import { readManifest, type ModelManifest } from '../model-dir/manifest.js';
import { chooseRuntime } from '../runtime/choose.js';
import { Mutex } from './limits.js';
import { RecognizePool, type Recognition, type RecognizeJob } from './recognize-pool.js';

/** What the routes read about the served model. */
export interface ServedModel {
  readonly manifest: ModelManifest;
  readonly labels: string[];
}

/**
 * Owns the served model: recognitions run in a pool of worker threads (never on the event loop),
 * changes to the model directory run one at a time and end with every worker reloading it; a
 * worker finishes the recognitions it already has with the model they started with.
 */
export class ModelHost {
  private readonly writes = new Mutex();
  private constructor(
    readonly modelDir: string,
    private served: ServedModel,
    private readonly pool: RecognizePool,
  ) {}

  /** `workers` defaults to one per core; the runtime is chosen here, once, and every worker loads the model on it. */
  static async open(modelDir: string, maxPixels: number, workers?: number): Promise<ModelHost> {
    const manifest = await readManifest(modelDir);
    const pool = await RecognizePool.start(modelDir, maxPixels, await chooseRuntime(undefined), workers);
    return new ModelHost(modelDir, { manifest, labels: manifest.labels }, pool);
  }

  get current(): ServedModel {
    return this.served;
  }

  recognize(job: Omit<RecognizeJob, 'kind'>): Promise<Recognition> {
    return this.pool.recognize(job);
  }

  /**
   * The workers as a gallery's face embedder (every worker loads the model's face pipeline now):
   * a gallery recognition or enrolment decodes and embeds there, never on the event loop.
   */
  async galleryEmbedder(): Promise<PhotoEmbedder & { dims: number }> {
    const dims = await this.pool.loadFacePipeline();
    return { dims, embedFaces: (photo, label) => this.pool.embedFaces(photo, label) };
  }

  /** Serialises `change` with every other change, then serves the directory as it now is. */
  modify<T>(change: (modelDir: string) => Promise<T>): Promise<T> {
    return this.writes.run(async () => {
      const result = await change(this.modelDir);
      const manifest = await readManifest(this.modelDir);
      await this.pool.reload();
      this.served = { manifest, labels: manifest.labels };
      return result;
    });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
