import type { BaseName } from '../config.js';
import { FACERES_BASE } from './faceres/index.js';
import { MOBILENETV2_BASE } from './mobilenetv2/index.js';
import type { BaseRow } from './row.js';

/** Every base by name: adding one is a folder under base/ exporting its row, and a line here (and its name in config.ts BASES). */
export const BASE_ROWS: Readonly<Record<BaseName, BaseRow>> = Object.freeze({
  faceres: FACERES_BASE,
  mobilenetv2: MOBILENETV2_BASE,
});
