/** Raw pixels of a decoded PGM/PPM (libvips' prebuilt sharp has no netpbm loader). */
export interface RawPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

const MAGIC = new Set(['P2', 'P3', 'P5', 'P6']);

export function isNetpbm(bytes: Uint8Array): boolean {
  return bytes.length > 2 && MAGIC.has(String.fromCharCode(bytes[0]!, bytes[1]!));
}

/** Parses P2/P5 (grey) and P3/P6 (colour), scaling any maxval to 8 bits. */
export function decodeNetpbm(bytes: Uint8Array): RawPixels {
  const magic = String.fromCharCode(bytes[0]!, bytes[1]!);
  let pos = 2;
  const nextToken = (): number => {
    for (;;) {
      while (pos < bytes.length && /\s/.test(String.fromCharCode(bytes[pos]!))) pos++;
      if (bytes[pos] !== 0x23) break; // '#' comment to end of line
      while (pos < bytes.length && bytes[pos] !== 0x0a) pos++;
    }
    const start = pos;
    while (pos < bytes.length && !/\s/.test(String.fromCharCode(bytes[pos]!))) pos++;
    const value = Number(new TextDecoder().decode(bytes.subarray(start, pos)));
    if (!Number.isInteger(value) || value < 0) throw new Error('malformed netpbm header');
    return value;
  };
  const width = nextToken();
  const height = nextToken();
  const maxval = nextToken();
  if (width === 0 || height === 0 || maxval === 0 || maxval > 65535) throw new Error('malformed netpbm header');
  const channels = magic === 'P2' || magic === 'P5' ? 1 : 3;
  const count = width * height * channels;
  const data = new Uint8Array(count);
  const scale = 255 / maxval;
  if (magic === 'P5' || magic === 'P6') {
    pos++; // the single whitespace after maxval
    const wide = maxval > 255;
    if (bytes.length < pos + count * (wide ? 2 : 1)) throw new Error('truncated netpbm data');
    for (let i = 0; i < count; i++) {
      const v = wide ? (bytes[pos + 2 * i]! << 8) | bytes[pos + 2 * i + 1]! : bytes[pos + i]!;
      data[i] = Math.round(v * scale);
    }
  } else {
    for (let i = 0; i < count; i++) data[i] = Math.round(nextToken() * scale);
  }
  return { data, width, height, channels };
}
