import { tf } from '../../tfjs/backend.js';
import type { RgbImage } from '../../image/decode.js';
import { invalidOption } from '../../errors.js';
import { loadHumanModel } from '../../faces/human-models.js';
import type { FaceEmbedder, InputNormalisation } from '../../faces/embedder.js';

/** FaceRes takes 0..255 pixels as float32. */
export const FACERES_NORMALISATION: Readonly<InputNormalisation> = Object.freeze({ scale: 1, offset: 0, channels: 'RGB', layout: 'NHWC' });

/** The graph node whose output is the face descriptor (the others are gender and age heads). */
export const FACERES_EMBEDDING_OUTPUT = 'global_pooling/Mean';


export interface FaceResOptions {
  /** Also embed each face mirrored and average the two (steadier, twice the time). */
  flipAverage: boolean;
  /** Faces run through the model at once. */
  batchSize: number;
  /** Folder with faceres.json/.bin; defaults to the one shipped by @vladmandic/human. */
  modelsDir?: string;
}

export const DEFAULT_FACERES_OPTIONS: Readonly<FaceResOptions> = Object.freeze({ flipAverage: false, batchSize: 16 });

export function l2Normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum) || 1;
  return v.map((x) => x / norm);
}

function toBatch(faces: RgbImage[], size: number): tf.Tensor4D {
  return tf.tidy(() => tf.stack(faces.map((face) => {
    const pixels = tf.tensor3d(Float32Array.from(face.data), [face.height, face.width, 3]);
    return face.width === size && face.height === size ? pixels : tf.image.resizeBilinear(pixels, [size, size], false, true);
  })) as tf.Tensor4D);
}

export async function loadFaceRes(options: Partial<FaceResOptions> = {}): Promise<FaceEmbedder> {
  const full = { ...DEFAULT_FACERES_OPTIONS, ...options };
  if (!(Number.isInteger(full.batchSize) && full.batchSize > 0)) throw invalidOption('faceres batchSize', 'a positive whole number', full.batchSize);
  const model = await loadHumanModel('faceres', full.modelsDir);
  const inputSize = model.inputs[0].shape?.[1] ?? 224;
  const dims = 1024;

  async function run(input: tf.Tensor4D): Promise<Float32Array[]> {
    const features = model.execute(input, FACERES_EMBEDDING_OUTPUT) as tf.Tensor2D;
    const data = (await features.data()) as Float32Array;
    features.dispose();
    return Array.from({ length: input.shape[0] }, (_, i) => l2Normalise(data.slice(i * dims, (i + 1) * dims)));
  }

  async function embedBatch(faces: RgbImage[]): Promise<Float32Array[]> {
    const input = toBatch(faces, inputSize);
    try {
      const plain = await run(input);
      if (!full.flipAverage) return plain;
      const mirrored = tf.reverse(input, 2);
      const flipped = await run(mirrored);
      mirrored.dispose();
      return plain.map((e, i) => l2Normalise(e.map((x, j) => x + flipped[i][j])));
    } finally {
      input.dispose();
    }
  }

  return {
    inputSize,
    dims,
    model,
    outputNode: FACERES_EMBEDDING_OUTPUT,
    normalisation: FACERES_NORMALISATION,
    async embed(faces) {
      const out: Float32Array[] = [];
      for (let i = 0; i < faces.length; i += full.batchSize) out.push(...(await embedBatch(faces.slice(i, i + full.batchSize))));
      return out;
    },
    dispose() {
      model.dispose();
    },
  };
}
