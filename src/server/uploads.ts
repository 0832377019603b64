import type { FastifyRequest } from 'fastify';
import { HttpError } from './http-error.js';

export interface UploadedPhoto {
  file: string;
  bytes: Uint8Array;
}

function wrongContentType(request: FastifyRequest, expected: string): HttpError {
  const given = request.headers['content-type'] ?? 'none';
  return new HttpError('FT_ERR_CONTENT_TYPE', `content type ${given} is not accepted here; send ${expected}`);
}

function noPhoto(): HttpError {
  return new HttpError('FT_ERR_NO_PHOTO', 'the request holds no photo; send a file field in a multipart form or the image bytes with an image/* content type');
}

/** The one photo of a recognition request: the first file of a multipart form, or a raw image/* body. */
export async function readOnePhoto(request: FastifyRequest): Promise<UploadedPhoto> {
  if (request.isMultipart()) {
    const part = await request.file();
    if (!part) throw noPhoto();
    const bytes = await part.toBuffer();
    if (bytes.length === 0) throw noPhoto();
    return { file: part.filename || part.fieldname, bytes };
  }
  if (!Buffer.isBuffer(request.body)) throw wrongContentType(request, 'multipart/form-data or image/*');
  if (request.body.length === 0) throw noPhoto();
  return { file: 'image', bytes: request.body };
}

/** Every file of a multipart form, refusing the lot when together they exceed `maxTotalBytes`. */
export async function readPhotos(request: FastifyRequest, maxTotalBytes: number): Promise<UploadedPhoto[]> {
  if (!request.isMultipart()) throw wrongContentType(request, 'multipart/form-data with one or more file fields');
  const photos: UploadedPhoto[] = [];
  let total = 0;
  for await (const part of request.files()) {
    const bytes = await part.toBuffer();
    total += bytes.length;
    if (total > maxTotalBytes) throw new HttpError('FT_ERR_TOO_LARGE', `the photos add up to more than ${maxTotalBytes} bytes; send fewer or smaller photos`);
    if (bytes.length > 0) photos.push({ file: part.filename || `photo-${photos.length + 1}`, bytes });
  }
  if (photos.length === 0) throw noPhoto();
  return photos;
}
