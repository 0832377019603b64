import sharp from 'sharp';

export interface PhonePhotoOptions {
  width?: number;
  height?: number;
  /** Longer side of the pasted photo, in pixels of the canvas. */
  photoSide?: number;
}

/**
 * A phone-sized JPEG made from a small shared photo: the photo enlarged to `photoSide` and placed
 * on a grey `width` x `height` canvas (default 3024x4032, 12 MP), left of centre and above it.
 */
export async function phonePhoto(photo: string, { width = 3024, height = 4032, photoSide = 1400 }: PhonePhotoOptions = {}): Promise<Buffer> {
  const pasted = await sharp(photo).rotate().resize(photoSide, photoSide, { fit: 'inside' }).removeAlpha().toBuffer({ resolveWithObject: true });
  return sharp({ create: { width, height, channels: 3, background: { r: 128, g: 120, b: 110 } } })
    .composite([{ input: pasted.data, left: Math.round(width * 0.2), top: Math.round(height * 0.25) }])
    .jpeg({ quality: 90 })
    .toBuffer();
}
