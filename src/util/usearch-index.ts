import usearch, { type Index as UsearchIndex } from 'usearch';

/** HNSW settings as the gallery and the cluster step tune them. */
export interface HnswSettings {
  connectivity: number;
  expansionAdd: number;
  expansionSearch: number;
}

/**
 * A usearch HNSW index of unit vectors by inner product (= cosine), float32 so that the similarities
 * of what it finds are exact (see the README's figures for f16/i8).
 */
export function unitVectorIndex(dims: number, settings: HnswSettings): UsearchIndex {
  return new usearch.Index({
    dimensions: dims,
    metric: usearch.MetricKind.IP,
    quantization: usearch.ScalarKind.F32,
    connectivity: settings.connectivity,
    expansion_add: settings.expansionAdd,
    expansion_search: settings.expansionSearch,
    multi: false,
  });
}
