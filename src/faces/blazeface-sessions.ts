import { createOnnxSession, type OnnxSession, type OnnxSessionOptions } from '../runtime/onnxruntime.js';
import type { OnnxRuntime } from '../runtime/runtime.js';
import { withInputSize } from './blazeface-onnx.js';
import { INPUT_SIZE } from './blazeface-views.js';

/** The any-size model's bytes, read when the first frame view comes (most detectors never see one). */
export type AnySizeModel = () => Promise<Uint8Array>;

/** Sizes of frame view kept open at once: a camera or a server's usual photos take one or a few. */
const OPEN_SIZES = 4;

interface SizedSession {
  session: Promise<OnnxSession>;
  running: number;
  closed: boolean;
}

/** A closed size's session is released when no run is in flight on it (its last run releases it otherwise). */
function releaseWhenIdle(sized: SizedSession): void {
  if (sized.running === 0) void sized.session.then((session) => session.release(), () => undefined);
}

/**
 * BlazeFace's sessions as one: square views run on the square model, a frame view (`frameView`)
 * on a session of the any-size model with that view's size written in (`withInputSize`), opened the
 * first time the size is seen (10-40 ms) and kept for the last `OPEN_SIZES` sizes. A size
 * dropped from them is released once its runs in flight are done.
 */
export class BlazeFaceSessions implements OnnxSession {
  private readonly sized = new Map<string, SizedSession>();

  private constructor(
    private readonly ort: OnnxRuntime,
    private readonly anySize: AnySizeModel,
    private readonly options: Partial<OnnxSessionOptions>,
    private readonly square: OnnxSession,
  ) {}

  static async open(ort: OnnxRuntime, square: Uint8Array, anySize: AnySizeModel, options: Partial<OnnxSessionOptions>): Promise<BlazeFaceSessions> {
    return new BlazeFaceSessions(ort, anySize, options, await createOnnxSession(ort, square, options));
  }

  async run(input: Float32Array, shape: number[]): Promise<Float32Array[]> {
    const [, rows, columns] = shape as [number, number, number, number];
    if (rows === INPUT_SIZE && columns === INPUT_SIZE) return this.square.run(input, shape);
    const sized = this.sessionOf(rows, columns);
    sized.running++;
    try {
      return await (await sized.session).run(input, shape);
    } finally {
      sized.running--;
      if (sized.closed) releaseWhenIdle(sized);
    }
  }

  private sessionOf(rows: number, columns: number): SizedSession {
    const key = `${rows}x${columns}`;
    let sized = this.sized.get(key);
    if (sized) {
      // most recently used last: the first entry is the one dropped
      this.sized.delete(key);
    } else {
      sized = { session: this.anySize().then((bytes) => createOnnxSession(this.ort, withInputSize(bytes, rows, columns), this.options)), running: 0, closed: false };
    }
    this.sized.set(key, sized);
    if (this.sized.size > OPEN_SIZES) {
      const [oldestKey, oldest] = this.sized.entries().next().value as [string, SizedSession];
      this.sized.delete(oldestKey);
      oldest.closed = true;
      releaseWhenIdle(oldest);
    }
    return sized;
  }

  release(): void {
    this.square.release();
    for (const sized of this.sized.values()) {
      sized.closed = true;
      releaseWhenIdle(sized);
    }
    this.sized.clear();
  }
}
