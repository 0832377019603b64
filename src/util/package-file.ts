import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { FacetrainError } from '../errors.js';

/**
 * A file inside an installed npm package that has no `exports` for it (the model files facetrain
 * reads from face packages): found the way Node looks for packages, each node_modules up from here.
 */
export function installedPackageFile(packageName: string, file: string): string {
  for (const nodeModules of createRequire(import.meta.url).resolve.paths(packageName) ?? []) {
    const candidate = path.join(nodeModules, packageName, file);
    if (existsSync(candidate)) return candidate;
  }
  throw new FacetrainError('FT_ERR_MODEL', `${file} of the npm package ${packageName} was not found in any node_modules; run npm install in the facetrain folder`);
}
