import { sha256Hex } from '../util/hash.js';
import { readFile } from 'node:fs/promises';
import type { DatasetSplit } from './scan.js';

/**
 * Dataset mistakes that do not stop training but make the model worse than the user expects:
 * the same photo (same bytes) filed under two people, which teaches the model both names for one
 * face, and a person with a single photo, who is trained without any photo to validate on.
 */
export async function datasetWarnings(split: DatasetSplit): Promise<string[]> {
  const warnings: string[] = [];
  const photos = [...split.train, ...split.val];
  for (const person of split.people) {
    if (photos.filter((p) => p.person === person).length === 1) {
      warnings.push(`${person} has only one photo: it is trained with no validation photo, so its accuracy is not measured; add a few more photos of ${person}`);
    }
  }
  const byHash = new Map<string, { file: string; person: string }>();
  for (const photo of photos) {
    const bytes = await readFile(photo.file).catch(() => undefined);
    if (!bytes) continue; // unreadable files are reported with their reason when they are decoded
    const hash = sha256Hex(bytes);
    const first = byHash.get(hash);
    if (first && first.person !== photo.person) {
      warnings.push(`${photo.file} (${photo.person}) is the same photo as ${first.file} (${first.person}): it is used for both people; keep it in one person's folder`);
    } else if (!first) byHash.set(hash, photo);
  }
  return warnings;
}
