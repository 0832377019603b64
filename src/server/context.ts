import type { GalleryMatching, PhotoEmbedder } from '../api/gallery.js';
import type { GalleryStore } from '../gallery/store.js';
import type { AdmissionGate } from './limits.js';
import type { ModelHost } from './model-host.js';

/** Everything a route needs, resolved once at start-up. */
export interface ServerContext {
  host: ModelHost;
  /** With `--gallery`: faces are named by their nearest templates there, and people are enrolled there. */
  gallery?: { store: GalleryStore; faces: PhotoEmbedder & GalleryMatching };
  gate: AdmissionGate;
  apiKey?: string;
  maxBodyBytes: number;
  maxPixels: number;
  /** A TF.js pipeline export of the model (`export --format tfjs`) the page may load: face models run in the browser only with it. */
  browserModel?: string;
}
