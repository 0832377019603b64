import type { AlignConfig } from './align.js';

/** What the recognizer expects as input; travels with every export. */
export interface InputSpec {
  size: number;
  channels: 'RGB';
  /** value = (pixel - mean) / std */
  mean: number;
  std: number;
  /** 'aligned-face': a crop made by facetrain's detector + aligner; 'whole-image': the photo stretched to size x size. */
  crop: 'aligned-face' | 'whole-image';
  /** Where the eyes go in an aligned face, as fractions of the side. */
  align?: AlignConfig;
  /** Aligned instead to this five-point template (scaled to `size`), for bases trained that way. */
  template?: 'arcface-112';
  /** Where the template's five points come from: faceplugin's 68-point network (onnxruntime); absent, BlazeFace's eyes, nose and mouth centre. */
  landmarks?: 'faceplugin-68';
}

/** The input spec as exporters take it: mean and std per RGB channel. */
export function perChannelInput({ size, mean, std }: InputSpec): { size: number; mean: number[]; std: number[] } {
  return { size, mean: [mean, mean, mean], std: [std, std, std] };
}
