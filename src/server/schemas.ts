import { type Static, Type } from '@sinclair/typebox';
import { PREDICT_DEFAULTS, PREDICT_RANGES } from '../recognize/recognizer.js';

/** JSON schemas shared by routes (validation, fast serialisation, the OpenAPI document) and the types handlers read them as: TypeBox, one source for both. */

const errorRef = { $ref: 'Error#' } as const;

/** Error responses every route may give, keyed by status. */
export function errorResponses(...statuses: number[]): Record<number, typeof errorRef> {
  return Object.fromEntries(statuses.map((s) => [s, errorRef]));
}

const candidate = Type.Object({ label: Type.String(), score: Type.Number() });

export const FACE_SCHEMA = Type.Object({
  box: Type.Object(
    { x: Type.Number(), y: Type.Number(), width: Type.Number(), height: Type.Number() },
    { description: 'Pixels of the uploaded image, origin top left' },
  ),
  landmarks: Type.Optional(Type.Array(Type.Array(Type.Number(), { minItems: 2, maxItems: 2 }))),
  label: Type.String({ description: "A known person's name, or 'unknown' under the threshold" }),
  score: Type.Number(),
  topK: Type.Array(candidate),
});

export const RECOGNIZE_RESPONSE = Type.Object({
  faces: Type.Array(FACE_SCHEMA),
  image: Type.Optional(Type.Object({ width: Type.Optional(Type.Integer()), height: Type.Optional(Type.Integer()) })),
  timings: Type.Object({ decodeMs: Type.Number(), recognizeMs: Type.Number(), totalMs: Type.Number() }),
});

export const RECOGNIZE_QUERY = Type.Object(
  {
    top_k: Type.Optional(Type.Integer({ minimum: PREDICT_RANGES.topK!.min, maximum: PREDICT_RANGES.topK!.max, default: PREDICT_DEFAULTS.topK, description: 'Candidates listed per face' })),
    threshold: Type.Optional(Type.Number({ minimum: PREDICT_RANGES.threshold!.min, maximum: PREDICT_RANGES.threshold!.max, description: "Score under which a face is 'unknown'; default: the model's calibrated one" })),
    max_faces: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Keep only this many faces, largest first' })),
  },
  { additionalProperties: false },
);

/** The query as a handler sees it: validation has filled in the defaults. */
export type RecognizeQuery = Static<typeof RECOGNIZE_QUERY> & { top_k: number; max_faces: number };

/** Names become folder names in the model: letters, digits, space . _ ' - ; never a path. */
export const PERSON_PARAMS = Type.Object({
  name: Type.String({ pattern: "^[\\p{L}\\p{N}][\\p{L}\\p{N} ._'-]{0,63}$", description: 'Person name as it appears in labels' }),
});

export type PersonParams = Static<typeof PERSON_PARAMS>;

const peopleList = Type.Array(Type.String());

export const PEOPLE_RESPONSE = Type.Object({ people: peopleList });

export const ENROL_RESPONSE = Type.Object({
  name: Type.String(),
  added: Type.Integer(),
  alreadyKnown: Type.Integer(),
  skipped: Type.Array(Type.Object({ file: Type.String(), reason: Type.String() })),
  people: peopleList,
});

export const FORGET_RESPONSE = Type.Object({ removed: Type.String(), people: peopleList });

export const HEALTH_RESPONSE = Type.Object({ status: Type.Literal('ok'), people: Type.Integer(), inFlight: Type.Integer(), capacity: Type.Integer() });

export const MODEL_RESPONSE = Type.Object({
  labels: peopleList,
  base: Type.Object({ name: Type.Optional(Type.String()) }, { additionalProperties: true }),
  input: Type.Object({
    size: Type.Optional(Type.Integer()),
    channels: Type.Optional(Type.String()),
    mean: Type.Optional(Type.Number()),
    std: Type.Optional(Type.Number()),
    crop: Type.Optional(Type.String()),
    align: Type.Optional(Type.Object({ eyeDistance: Type.Optional(Type.Number()), eyeY: Type.Optional(Type.Number()) })),
  }),
  threshold: Type.Number(),
  versions: Type.Record(Type.String(), Type.String()),
  createdAt: Type.Optional(Type.String()),
  browser: Type.Object(
    {
      supported: Type.Boolean(),
      kind: Type.Optional(Type.Union([Type.Literal('whole-image'), Type.Literal('face-pipeline')])),
      modelUrl: Type.Optional(Type.String()),
      reason: Type.Optional(Type.String()),
    },
    { description: 'Whether the page can run this model itself with TF.js' },
  ),
});

export const UPLOAD_BODY_DOC = {
  image: {
    description: 'One photo: a multipart form with a file field, or the raw bytes with an image/* content type',
    content: {
      'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'string', format: 'binary' } }, required: ['file'] } },
      'image/*': { schema: { type: 'string', format: 'binary' } },
    },
  },
  photos: {
    description: 'One or more photos of the person as file fields of a multipart form',
    content: {
      'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'array', items: { type: 'string', format: 'binary' } } }, required: ['file'] } },
    },
  },
} as const;
