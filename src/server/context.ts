import type { AdmissionGate } from './limits.js';
import type { ModelHost } from './model-host.js';

/** Everything a route needs, resolved once at start-up. */
export interface ServerContext {
  host: ModelHost;
  gate: AdmissionGate;
  apiKey?: string;
  maxBodyBytes: number;
  maxPixels: number;
}
