/** Raw pixels of a decoded PGM/PPM (libvips' prebuilt sharp has no netpbm loader). */
export interface RawPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** What a netpbm header says, read without touching the pixel data. */
export interface NetpbmHeader {
  magic: 'P2' | 'P3' | 'P5' | 'P6';
  width: number;
  height: number;
  maxval: number;
  channels: 1 | 3;
  /** Offset of the first pixel byte (binary formats) or of the text after maxval (text formats). */
  dataOffset: number;
}

const MAGIC = new Set(['P2', 'P3', 'P5', 'P6']);

export function isNetpbm(bytes: Uint8Array): boolean {
  return bytes.length > 2 && MAGIC.has(String.fromCharCode(bytes[0]!, bytes[1]!));
}

function isSpace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09 || byte === 0x0b || byte === 0x0c;
}

/** Whitespace-separated unsigned integers with `#` comments, from `pos` on; `undefined` at the end of the bytes. */
function tokenReader(bytes: Uint8Array, start: number): { next(): number | undefined; readonly pos: number } {
  let pos = start;
  return {
    next() {
      for (;;) {
        while (pos < bytes.length && isSpace(bytes[pos])) pos++;
        if (bytes[pos] !== 0x23) break; // '#' comment to end of line
        while (pos < bytes.length && bytes[pos] !== 0x0a) pos++;
      }
      if (pos >= bytes.length) return undefined;
      let value = 0;
      const first = pos;
      while (pos < bytes.length && !isSpace(bytes[pos])) {
        const digit = bytes[pos]! - 0x30;
        if (digit < 0 || digit > 9 || pos - first > 9) throw new Error('malformed netpbm data');
        value = value * 10 + digit;
        pos++;
      }
      return value;
    },
    get pos() {
      return pos;
    },
  };
}

/** Parses the header only, so the pixel limit can be applied before any pixel is decoded. */
export function readNetpbmHeader(bytes: Uint8Array): NetpbmHeader {
  const magic = String.fromCharCode(bytes[0]!, bytes[1]!) as NetpbmHeader['magic'];
  const tokens = tokenReader(bytes, 2);
  const width = tokens.next();
  const height = tokens.next();
  const maxval = tokens.next();
  if (!width || !height || !maxval || maxval > 65535) throw new Error('malformed netpbm header');
  const channels = magic === 'P2' || magic === 'P5' ? 1 : 3;
  return { magic, width, height, maxval, channels, dataOffset: tokens.pos };
}

/** Parses P2/P5 (grey) and P3/P6 (colour), scaling any maxval to 8 bits; missing pixel data is an error. */
export function decodeNetpbm(bytes: Uint8Array, header = readNetpbmHeader(bytes)): RawPixels {
  const { magic, width, height, maxval, channels } = header;
  const count = width * height * channels;
  const data = new Uint8Array(count);
  const scale = 255 / maxval;
  if (magic === 'P5' || magic === 'P6') {
    const pos = header.dataOffset + 1; // the single whitespace after maxval
    const wide = maxval > 255;
    if (bytes.length < pos + count * (wide ? 2 : 1)) throw new Error('truncated netpbm data');
    for (let i = 0; i < count; i++) {
      const v = wide ? (bytes[pos + 2 * i]! << 8) | bytes[pos + 2 * i + 1]! : bytes[pos + i]!;
      data[i] = Math.round(v * scale);
    }
  } else {
    const tokens = tokenReader(bytes, header.dataOffset);
    for (let i = 0; i < count; i++) {
      const value = tokens.next();
      if (value === undefined) throw new Error('truncated netpbm data');
      data[i] = Math.round(value * scale);
    }
  }
  return { data, width, height, channels };
}
