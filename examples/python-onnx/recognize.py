#!/usr/bin/env python3
"""Recognizes faces with a facetrain export, without facetrain: onnxruntime runs the detector, the
landmark network (when pipeline.json lists one) and the recognizer, Pillow decodes, numpy does the
rest as export/pipeline.json describes it. A port of examples/node-onnx/recognize.mjs (the tested
reference consumer), step by step; this one is NOT run by facetrain's tests: its CI machine is
offline but for npm and Debian, and Debian 12 has no onnxruntime (see README.md here).

    pip install -r requirements.txt
    python recognize.py <export-dir> <photo>...

prints one JSON line per photo: {"file", "faces": [{"box", "label", "score"}]}.
"""
import json
import math
import os
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

DETECTOR_SIZE = 256
VIEWS_PER_RUN = 16


def decode(file, max_side=None):
    """The photo as H x W x 3 uint8 (EXIF orientation applied, white behind transparency), its longer side at most max_side; and its stored longer side."""
    image = ImageOps.exif_transpose(Image.open(file))
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    image = image.convert("RGB")
    stored = max(image.size)
    if max_side is not None and max(image.size) > max_side:
        # sharp's fit: inside keeps the aspect ratio, rounding the shorter side
        scale = max_side / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)
    return np.asarray(image, dtype=np.uint8), stored


def anchors_of(spec):
    anchors = []
    for layer in spec["layers"]:
        for y in range(layer["grid"]):
            for x in range(layer["grid"]):
                for _ in range(layer["anchorsPerCell"]):
                    anchors.append((layer["stride"] * (x + 0.5), layer["stride"] * (y + 0.5)))
    return np.array(anchors, dtype=np.float64)


def tile_starts(length, side):
    if side >= length:
        return [(length - side) / 2]
    count = math.ceil(2 * (length - side) / side) + 1
    return [i * (length - side) / (count - 1) for i in range(count)]


def search_views(width, height, search):
    side = max(width, height) * (1 + 2 * search["padding"])
    whole = ((width - side) / 2, (height - side) / 2, side / DETECTOR_SIZE)
    views = [whole]
    smallest_whole_face = search["minFaceAtInput"] * whole[2]
    side = search["minFaceSize"] * DETECTOR_SIZE / search["minFaceAtInput"]
    while search["minFaceAtInput"] * side / DETECTOR_SIZE < smallest_whole_face:
        for top in tile_starts(height, side):
            for left in tile_starts(width, side):
                views.append((left, top, side / DETECTOR_SIZE))
        side *= 2
    return views


def view_input(image, view):
    """Bilinear from the 8-bit pixels, pixel / 127.5 - 1, -1 outside the photo."""
    height, width = image.shape[:2]
    left, top, step = view
    coords = np.arange(DETECTOR_SIZE) + 0.5
    xs = left + coords * step - 0.5
    ys = top + coords * step - 0.5
    inside_x = (xs >= 0) & (xs <= width - 1)
    inside_y = (ys >= 0) & (ys <= height - 1)
    xc = np.clip(xs, 0, width - 1)
    yc = np.clip(ys, 0, height - 1)
    x0, x1, fx = np.floor(xc).astype(int), np.ceil(xc).astype(int), (xc - np.floor(xc))[None, :, None]
    y0, y1, fy = np.floor(yc).astype(int), np.ceil(yc).astype(int), (yc - np.floor(yc))[:, None, None]
    img = image.astype(np.float64)
    t = img[y0][:, x0] + (img[y0][:, x1] - img[y0][:, x0]) * fx
    b = img[y1][:, x0] + (img[y1][:, x1] - img[y1][:, x0]) * fx
    out = (t + (b - t) * fy) / 127.5 - 1
    out[~(inside_y[:, None] & inside_x[None, :])] = -1
    return out.astype(np.float32)


def iou(a, b):
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


class Detector:
    def __init__(self, session, spec):
        self.session, self.spec = session, spec
        self.anchors = anchors_of(spec["anchors"])
        first = spec["anchors"]["layers"][0]
        self.fine = first["grid"] ** 2 * first["anchorsPerCell"]
        coarse = len(self.anchors) - self.fine
        find = lambda n, v: next(o["name"] for o in spec["outputs"] if o["shape"][1] == n and o["shape"][2] == v)
        self.names = [find(self.fine, 1), find(self.fine, 16), find(coarse, 1), find(coarse, 16)]

    def detect(self, image):
        height, width = image.shape[:2]
        search = self.spec["search"]
        views = search_views(width, height, search)
        finest = min(v[2] for v in views)
        min_logit = math.log(self.spec["minScore"] / (1 - self.spec["minScore"]))
        candidates = []
        for start in range(0, len(views), VIEWS_PER_RUN):
            batch = views[start:start + VIEWS_PER_RUN]
            pixels = np.stack([view_input(image, v) for v in batch])
            fs, fb, cs, cb = self.session.run(self.names, {self.spec["input"]["name"]: pixels})
            for v, (left, top, step) in enumerate(batch):
                scores = np.concatenate([fs[v, :, 0], cs[v, :, 0]])
                boxes = np.concatenate([fb[v], cb[v]])
                for a in np.nonzero(scores >= min_logit)[0]:
                    ax, ay = self.anchors[a]
                    r = boxes[a]
                    at = lambda x, y: (left + (ax + x) * step, top + (ay + y) * step)
                    cx, cy = at(r[0], r[1])
                    w, h = r[2] * step, r[3] * step
                    face = {"box": (cx - w / 2, cy - h / 2, w, h), "landmarks": [at(r[4 + 2 * k], r[5 + 2 * k]) for k in range(6)], "score": 1 / (1 + math.exp(-scores[a]))}
                    x, y = face["box"][0], face["box"][1]
                    side, margin = step * DETECTOR_SIZE, step * 2
                    cut = (x < left + margin and left > 0) or (y < top + margin and top > 0) or (x + w > left + side - margin and left + side < width) or (y + h > top + side - margin and top + side < height)
                    too_small = step > finest and w / step < search["minFaceAtInput"]
                    if not cut and not too_small:
                        candidates.append(face)
        kept = []
        for face in sorted(candidates, key=lambda f: -f["score"]):
            if all(iou(k["box"], face["box"]) <= self.spec["iouThreshold"] for k in kept):
                kept.append(face)
        # a face narrower than minFaceFraction of the shorter side was found by chance (no view looks for it)
        wide = [f for f in kept if f["box"][2] >= search["minFaceFraction"] * min(width, height)]
        return sorted(wide, key=lambda f: -f["box"][2] * f["box"][3])


def search_side(width, height, search):
    """The side a W x H photo is searched at (pipeline.detector.search.searchSide)."""
    longer = max(width, height)
    wanted = math.ceil(longer * search["minFaceSize"] / max(search["minFaceSize"], search["minFaceFraction"] * min(width, height)))
    return min(search["maxSide"], longer if wanted >= longer - 2 else wanted)


def grey_crop(image, box, side):
    """side x side grey values (luma / 256) of the box, bilinear, edge pixels repeated past the photo (pipeline.landmarks.input)."""
    x, y, w, h = box
    height, width = image.shape[:2]
    luma = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    u = np.clip(x + (np.arange(side) + 0.5) * (w / side) - 0.5, 0, width - 1)
    v = np.clip(y + (np.arange(side) + 0.5) * (h / side) - 0.5, 0, height - 1)
    x0, y0 = np.floor(u).astype(int), np.floor(v).astype(int)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    fx, fy = (u - x0)[None, :], (v - y0)[:, None]
    top = luma[y0][:, x0] * (1 - fx) + luma[y0][:, x1] * fx
    bottom = luma[y1][:, x0] * (1 - fx) + luma[y1][:, x1] * fx
    return ((top * (1 - fy) + bottom * fy) / 256).astype(np.float32)


def five_points(session, spec, image, face):
    """The five alignment points of a face (the landmark network on its box, 68 points reduced as pipeline.landmarks.fivePoints says)."""
    x, y, w, h = face["box"]
    shape = spec["input"]["shape"]
    (xy,) = session.run(None, {session.get_inputs()[0].name: grey_crop(image, face["box"], shape[2]).reshape(shape)})
    points = [(x + xy.ravel()[2 * i] * w, y + xy.ravel()[2 * i + 1] * h) for i in range(xy.size // 2)]
    return [tuple(np.mean([points[i] for i in indices], axis=0)) for indices in spec["fivePoints"]["from68"]]


def similarity(src, dst):
    """Least-squares similarity (Umeyama, 2-D) as (a, b, c, d, e, f): u = a x + b y + c, v = d x + e y + f."""
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    fm, tm = src.mean(0), dst.mean(0)
    s, t = src - fm, dst - tm
    norm = (s ** 2).sum()
    a = (s * t).sum() / norm
    b = (s[:, 0] * t[:, 1] - s[:, 1] * t[:, 0]).sum() / norm
    return (a, -b, tm[0] - (a * fm[0] - b * fm[1]), b, a, tm[1] - (b * fm[0] + a * fm[1]))


def warp(image, m, size):
    a, b, c, d, e, f = m
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    ic, if_ = -(ia * c + ib * f), -(id_ * c + ie * f)
    height, width = image.shape[:2]
    u, v = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5)
    sx = np.clip(ia * u + ib * v + ic - 0.5, 0, width - 1)
    sy = np.clip(id_ * u + ie * v + if_ - 0.5, 0, height - 1)
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    img = image.astype(np.float64)
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return np.floor(top * (1 - fy) + bottom * fy + 0.5).astype(np.uint8)


def eye_scale(face, size, eye_placement):
    """The eye-placement crop's scale, which picks the decode size as predict does (pipeline.alignment.cropFrom)."""
    (lx, ly), (rx, ry) = face["landmarks"][0], face["landmarks"][1]
    return eye_placement["eyeDistance"] * size / math.hypot(rx - lx, ry - ly)


def alignment_points(spec, landmarks, image, face):
    """Where the alignment points are for a face: the detector's keypoints or the landmark network's five."""
    source = face["landmarks"] if spec["alignment"]["landmarkSource"] != "landmarks" else five_points(landmarks, spec["landmarks"], image, face)
    return [source[p["index"]] for p in spec["alignment"]["points"]]


def recognize(spec, detector, recognizer, landmarks, file):
    alignment, size = spec["alignment"], spec["alignment"]["size"]
    with Image.open(file) as stored_image:
        stored_w, stored_h = ImageOps.exif_transpose(stored_image).size
    image, stored = decode(file, search_side(stored_w, stored_h, spec["detector"]["search"]))
    scale = stored / max(image.shape[:2])
    faces = detector.detect(image)
    if not faces:
        return {"file": file, "faces": []}
    # a face smaller in the shrunk photo than in its crop is cut from a larger decode
    enlargement = max([1.0] + [eye_scale(f, size, alignment["eyePlacement"]) for f in faces])
    crop_from, crop_scale = image, 1.0
    if enlargement > 1.01 and scale > 1.01:
        crop_from, _ = decode(file, math.ceil(max(image.shape[:2]) * min(enlargement, scale)))
        crop_scale = crop_from.shape[1] / image.shape[1]
    targets = [p["to"] for p in alignment["points"]]
    scaled = lambda f: {"box": tuple(v * crop_scale for v in f["box"]), "landmarks": [(x * crop_scale, y * crop_scale) for x, y in f["landmarks"]]}
    spec_in = spec["recognizer"]["input"]
    crops = np.stack([warp(crop_from, similarity(alignment_points(spec, landmarks, crop_from, scaled(f)), targets), size) for f in faces]).astype(np.float32)
    probabilities, score = recognizer.run(["probabilities", "score"], {spec_in["name"]: (crops - spec_in["mean"]) / spec_in["std"]})
    result = []
    for i, face in enumerate(faces):
        x, y, w, h = (v * scale for v in face["box"])
        accepted = score[i, 0] >= spec["threshold"]
        label = spec["labels"][int(np.argmax(probabilities[i]))] if accepted else spec["decision"]["unknownLabel"]
        result.append({"box": {"x": x, "y": y, "width": w, "height": h}, "label": label, "score": float(score[i, 0])})
    return {"file": file, "faces": result}


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: python recognize.py <export-dir> <photo>...")
    directory = sys.argv[1]
    with open(os.path.join(directory, "pipeline.json")) as f:
        spec = json.load(f)
    if spec.get("format") != "facetrain-pipeline" or spec.get("version") != 1:
        sys.exit(f"error: {directory}/pipeline.json: not a facetrain pipeline description (version 1)")
    session = lambda files: ort.InferenceSession(os.path.join(directory, files["onnx"]))
    detector = Detector(session(spec["detector"]["files"]), spec["detector"])
    recognizer = session(spec["recognizer"]["files"])
    landmarks = session(spec["landmarks"]["files"]) if "landmarks" in spec else None
    for file in sys.argv[2:]:
        print(json.dumps(recognize(spec, detector, recognizer, landmarks, file)), flush=True)


if __name__ == "__main__":
    main()
