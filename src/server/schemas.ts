/** JSON schemas shared by routes: validation, fast serialisation and the OpenAPI document. */

const errorRef = { $ref: 'Error#' } as const;

/** Error responses every route may give, keyed by status. */
export function errorResponses(...statuses: number[]): Record<number, typeof errorRef> {
  return Object.fromEntries(statuses.map((s) => [s, errorRef]));
}

const candidate = {
  type: 'object',
  required: ['label', 'score'],
  properties: { label: { type: 'string' }, score: { type: 'number' } },
} as const;

export const FACE_SCHEMA = {
  type: 'object',
  required: ['box', 'label', 'score', 'topK'],
  properties: {
    box: {
      type: 'object',
      description: 'Pixels of the uploaded image, origin top left',
      required: ['x', 'y', 'width', 'height'],
      properties: { x: { type: 'number' }, y: { type: 'number' }, width: { type: 'number' }, height: { type: 'number' } },
    },
    landmarks: { type: 'array', items: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 } },
    label: { type: 'string', description: "A known person's name, or 'unknown' under the threshold" },
    score: { type: 'number' },
    topK: { type: 'array', items: candidate },
  },
} as const;

export const RECOGNIZE_RESPONSE = {
  type: 'object',
  required: ['faces', 'timings'],
  properties: {
    faces: { type: 'array', items: FACE_SCHEMA },
    image: { type: 'object', properties: { width: { type: 'integer' }, height: { type: 'integer' } } },
    timings: {
      type: 'object',
      required: ['decodeMs', 'recognizeMs', 'totalMs'],
      properties: { decodeMs: { type: 'number' }, recognizeMs: { type: 'number' }, totalMs: { type: 'number' } },
    },
  },
} as const;

export const RECOGNIZE_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    top_k: { type: 'integer', minimum: 1, maximum: 100, default: 3, description: 'Candidates listed per face' },
    threshold: { type: 'number', minimum: 0, maximum: 1, description: "Score under which a face is 'unknown'; default: the model's calibrated one" },
    max_faces: { type: 'integer', minimum: 1, maximum: 100, default: 20, description: 'Keep only this many faces, largest first' },
  },
} as const;

/** Names become folder names in the model: letters, digits, space . _ ' - ; never a path. */
export const PERSON_PARAMS = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: "^[\\p{L}\\p{N}][\\p{L}\\p{N} ._'-]{0,63}$", description: 'Person name as it appears in labels' } },
} as const;

const peopleList = { type: 'array', items: { type: 'string' } } as const;

export const PEOPLE_RESPONSE = {
  type: 'object',
  required: ['people'],
  properties: { people: peopleList },
} as const;

export const ENROL_RESPONSE = {
  type: 'object',
  required: ['name', 'added', 'alreadyKnown', 'skipped', 'people'],
  properties: {
    name: { type: 'string' },
    added: { type: 'integer' },
    alreadyKnown: { type: 'integer' },
    skipped: { type: 'array', items: { type: 'object', required: ['file', 'reason'], properties: { file: { type: 'string' }, reason: { type: 'string' } } } },
    people: peopleList,
  },
} as const;

export const FORGET_RESPONSE = {
  type: 'object',
  required: ['removed', 'people'],
  properties: { removed: { type: 'string' }, people: peopleList },
} as const;

export const HEALTH_RESPONSE = {
  type: 'object',
  required: ['status', 'people', 'inFlight', 'capacity'],
  properties: { status: { type: 'string', enum: ['ok'] }, people: { type: 'integer' }, inFlight: { type: 'integer' }, capacity: { type: 'integer' } },
} as const;

export const MODEL_RESPONSE = {
  type: 'object',
  required: ['labels', 'base', 'input', 'threshold', 'versions', 'browser'],
  properties: {
    labels: peopleList,
    base: { type: 'object', additionalProperties: true, properties: { name: { type: 'string' } } },
    input: {
      type: 'object',
      properties: { size: { type: 'integer' }, channels: { type: 'string' }, mean: { type: 'number' }, std: { type: 'number' }, crop: { type: 'string' }, align: { type: 'object', properties: { eyeDistance: { type: 'number' }, eyeY: { type: 'number' } } } },
    },
    threshold: { type: 'number' },
    versions: { type: 'object', additionalProperties: { type: 'string' } },
    createdAt: { type: 'string' },
    browser: {
      type: 'object',
      description: 'Whether the page can run this model itself with TF.js',
      required: ['supported'],
      properties: { supported: { type: 'boolean' }, modelUrl: { type: 'string' }, reason: { type: 'string' } },
    },
  },
} as const;

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
