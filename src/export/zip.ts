import { unzipSync, zipSync } from 'fflate';

/**
 * Stored (uncompressed) zip, the container TFLite metadata uses for associated files: the zip is
 * appended after the model flatbuffer, so readers locate it from the end of the file.
 */

export interface ZipEntry {
  name: string;
  data: Uint8Array;
}

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
/** A fixed date (zip stores local time), so that the same model exports to the same bytes anywhere. */
const ENTRY_DATE = new Date(2020, 0, 1);

/** Offsets are relative to the start of the zip, as Python's zipfile writes when appending to a model. */
export function zipStored(entries: ZipEntry[]): Uint8Array {
  return zipSync(Object.fromEntries(entries.map((e) => [e.name, e.data])), { level: 0, mtime: ENTRY_DATE });
}

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Reads the entries of a zip at the end of `bytes`, whatever precedes it. Like minizip, the
 * distance between where the central directory is and where it claims to be gives the zip's
 * start, so both relative and absolute offsets work.
 */
export function unzipStored(bytes: Uint8Array): Map<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) !== END_OF_CENTRAL_DIRECTORY) continue;
    const centralStart = i - view.getUint32(i + 12, true);
    const start = centralStart - view.getUint32(i + 16, true);
    try {
      return new Map(Object.entries(unzipSync(bytes.subarray(start))));
    } catch {
      // a damaged zip holds no associated files we can trust
      return new Map();
    }
  }
  return new Map();
}
