import type { RgbImage } from '../image/decode.js';
import { applyAffine, type Affine } from './align.js';
import type { DetectedFace, FaceDetector } from './detect.js';
import { iou, type Box, type Point } from './geometry.js';
import type { FivePointLandmarker } from './landmarks.js';
import { similarityTransform } from './template-align.js';

export interface TrackingOptions {
  /** Every this many frames the whole frame is searched (a face coming in is found then); 1 searches every frame in full. */
  fullSearchEvery: number;
}

export const DEFAULT_TRACKING_OPTIONS: Readonly<TrackingOptions> = Object.freeze({ fullSearchEvery: 10 });

/**
 * How a stream's frame was searched: the whole frame; the detector's views around the previous
 * frame's faces; or no detector at all, the faces followed by the landmark network.
 */
export type FrameSearch = 'full' | 'around' | 'followed';

/** A detector for the frames of one camera stream, in order; `lastSearch` says how the last frame was searched. */
export interface TrackingDetector extends FaceDetector {
  readonly lastSearch: FrameSearch | undefined;
  /** The faces given for the last frame were not the faces followed (a check after them failed): the next frame is searched in full. */
  lose(): void;
}

/** A followed face may grow or shrink by at most this factor from one frame to the next; more is searched in full. */
const MAX_SCALE_STEP = 1.25;

/**
 * Steps of following a face in one frame at most; it stops sooner once a step moves the box less
 * than `SETTLED_PX`. The landmark network sees a face shifted in its box as shifted by less than
 * it is (it was trained on faces centred in their boxes), so one step falls short and the box drifts.
 */
const FOLLOW_STEPS = 3;
const SETTLED_PX = 0.5;

/** Where the five points and BlazeFace's points sit in a face's box, as fractions of its side (from the full search). */
interface FaceShape {
  points: Point[];
  landmarks: Point[];
}

const inBox = ({ x, y, width, height }: Box, [u, v]: Point): Point => [x + u * width, y + v * height];
const ofBox = ({ x, y, width, height }: Box, [px, py]: Point): Point => [(px - x) / width, (py - y) / height];

/** The box moved by `move` (a similarity transform): its centre moved and its side scaled (it stays upright). */
function movedBox(box: Box, move: Affine): Box {
  const [cx, cy] = applyAffine(move, [box.x + box.width / 2, box.y + box.height / 2]);
  const scale = Math.hypot(move.a, move.d);
  return { x: cx - (box.width * scale) / 2, y: cy - (box.height * scale) / 2, width: box.width * scale, height: box.height * scale };
}

/**
 * Camera streams, as MediaPipe and Human track faces in video. After a full search, a frame's faces
 * are followed without the detector when a landmark network is given: the network's five points in
 * a face's box from the frame before, against where they sat in the box of the full search, say how
 * the face moved (a similarity transform); the box moves with it, up to `FOLLOW_STEPS` times, and
 * BlazeFace's points keep their place in the box. Without one, a frame is searched only in the
 * detector's views around the faces of the frame before (`FaceDetector.detectAround`: 1-2 views
 * instead of a 640x480 frame's three). The whole frame is searched every `fullSearchEvery` frames,
 * when a face was lost (fewer found than before, or `lose` called: the recognizer's check that a
 * followed face is still the face it was), when the faces do not fit in the views or a followed
 * face leaves the frame, jumps in size or comes onto another, when the frame's size changed, or
 * when the frame before had no face. Followed faces keep the order of the last full search
 * (largest first then), so a caller can check each against the face it was. `dispose` leaves
 * `detector` and `landmarker` to their owner.
 */
export function trackingDetector(detector: FaceDetector, options: Partial<TrackingOptions> = {}, landmarker?: FivePointLandmarker): TrackingDetector {
  const { fullSearchEvery } = { ...DEFAULT_TRACKING_OPTIONS, ...options };
  let previous: { faces: DetectedFace[]; shapes?: FaceShape[]; width: number; height: number } | undefined;
  let sinceFull = 0;
  let lastSearch: FrameSearch | undefined;
  const remember = (image: RgbImage, faces: DetectedFace[], search: FrameSearch, shapes?: FaceShape[]): DetectedFace[] => {
    previous = { faces, ...(shapes ? { shapes } : {}), width: image.width, height: image.height };
    lastSearch = search;
    return faces;
  };
  const shapesOf = async (image: RgbImage, faces: DetectedFace[]): Promise<FaceShape[]> =>
    (await landmarker!.fivePoints(image, faces)).map((points, i) => ({ points: points.map((p) => ofBox(faces[i]!.box, p)), landmarks: faces[i]!.landmarks.map((p) => ofBox(faces[i]!.box, p)) }));
  /**
   * The previous frame's faces where they moved to in `image`, in the same order (largest first at
   * the last full search; the recognizer checks each against the face it was), or undefined when one
   * left the frame, jumped in size or came onto another.
   */
  const follow = async (image: RgbImage, faces: DetectedFace[], shapes: FaceShape[]): Promise<{ faces: DetectedFace[]; shapes: FaceShape[] } | undefined> => {
    let boxes = faces.map((f) => f.box);
    for (let step = 0; step < FOLLOW_STEPS; step++) {
      const found = await landmarker!.fivePoints(image, boxes.map((box, i) => ({ ...faces[i]!, box })));
      const moved = boxes.map((box, i) => movedBox(box, similarityTransform(shapes[i]!.points.map((p) => inBox(box, p)), found[i]!)));
      const shift = Math.max(...moved.map((box, i) => Math.max(Math.abs(box.x - boxes[i]!.x), Math.abs(box.y - boxes[i]!.y), Math.abs(box.width - boxes[i]!.width))));
      boxes = moved;
      if (shift < SETTLED_PX) break;
    }
    const inFrame = boxes.every((box, i) => {
      const [cx, cy] = [box.x + box.width / 2, box.y + box.height / 2];
      const step = box.width / faces[i]!.box.width;
      return cx >= 0 && cy >= 0 && cx < image.width && cy < image.height && step <= MAX_SCALE_STEP && step >= 1 / MAX_SCALE_STEP;
    });
    // two boxes on one face (one face walked in front of the other) are one face for the detector
    const apart = boxes.every((box, i) => boxes.slice(i + 1).every((other) => iou(box, other) <= detector.config.iouThreshold));
    if (!inFrame || !apart) return undefined;
    return { faces: boxes.map((box, i) => ({ box, landmarks: shapes[i]!.landmarks.map((p) => inBox(box, p)), score: faces[i]!.score })), shapes };
  };
  const tracking: TrackingDetector = {
    config: detector.config,
    searchSide: (width, height) => detector.searchSide(width, height),
    get lastSearch() {
      return lastSearch;
    },
    lose() {
      previous = undefined;
    },
    async detect(image) {
      sinceFull += 1;
      const tracked = previous && previous.faces.length > 0 && previous.width === image.width && previous.height === image.height && sinceFull < fullSearchEvery ? previous : undefined;
      if (tracked?.shapes) {
        const followed = await follow(image, tracked.faces, tracked.shapes);
        if (followed) return remember(image, followed.faces, 'followed', followed.shapes);
      } else if (tracked) {
        const around = await detector.detectAround(image, tracked.faces);
        if (around && around.length >= tracked.faces.length) return remember(image, around, 'around');
      }
      sinceFull = 0;
      const faces = await detector.detect(image);
      return remember(image, faces, 'full', landmarker && (await shapesOf(image, faces)));
    },
    detectAround: (image, faces) => detector.detectAround(image, faces),
    // a stream's detector searches with the frame views it was given
    framed: () => tracking,
    dispose: () => undefined,
  };
  return tracking;
}
