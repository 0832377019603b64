import type { RgbImage } from '../image/decode.js';
import type { DetectedFace, FaceDetector } from './detect.js';

export interface TrackingOptions {
  /** Every this many frames the whole frame is searched (a face coming in is found then); 1 searches every frame in full. */
  fullSearchEvery: number;
}

export const DEFAULT_TRACKING_OPTIONS: Readonly<TrackingOptions> = Object.freeze({ fullSearchEvery: 10 });

/** How a stream's frame was searched: the whole frame, or one view around the previous frame's faces. */
export type FrameSearch = 'full' | 'around';

/** A detector for the frames of one camera stream, in order; `lastSearch` says how the last frame was searched. */
export interface TrackingDetector extends FaceDetector {
  readonly lastSearch: FrameSearch | undefined;
}

/**
 * Camera streams, as MediaPipe and Human track faces in video: after a full search, a frame is
 * searched only in one view around the faces of the frame before (`FaceDetector.detectAround`:
 * one detector view instead of a 640x480 frame's three), and in full every `fullSearchEvery`
 * frames, when a face was lost (fewer found than before), when the faces do not fit in one view,
 * when the frame's size changed, or when the frame before had no face. `dispose` leaves `detector`
 * to its owner.
 */
export function trackingDetector(detector: FaceDetector, options: Partial<TrackingOptions> = {}): TrackingDetector {
  const { fullSearchEvery } = { ...DEFAULT_TRACKING_OPTIONS, ...options };
  let previous: { faces: DetectedFace[]; width: number; height: number } | undefined;
  let sinceFull = 0;
  let lastSearch: FrameSearch | undefined;
  const remember = (image: RgbImage, faces: DetectedFace[], search: FrameSearch): DetectedFace[] => {
    previous = { faces, width: image.width, height: image.height };
    lastSearch = search;
    return faces;
  };
  return {
    config: detector.config,
    searchSide: (width, height) => detector.searchSide(width, height),
    get lastSearch() {
      return lastSearch;
    },
    async detect(image) {
      sinceFull += 1;
      const tracked = previous && previous.faces.length > 0 && previous.width === image.width && previous.height === image.height && sinceFull < fullSearchEvery ? previous.faces : undefined;
      const around = tracked && (await detector.detectAround(image, tracked));
      if (around && around.length >= tracked!.length) return remember(image, around, 'around');
      sinceFull = 0;
      return remember(image, await detector.detect(image), 'full');
    },
    detectAround: (image, faces) => detector.detectAround(image, faces),
    dispose: () => undefined,
  };
}
