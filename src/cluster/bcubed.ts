/** BCubed precision and recall (Bagga & Baldwin 1998; Amigó et al. 2009) of a clustering against the truth. */
export interface BCubed {
  precision: number;
  recall: number;
  f1: number;
}

/**
 * For each item: precision is the share of its group that has its label, recall the share of its
 * label that is in its group; both averaged over items. `groups[i]` and `labels[i]` describe item i.
 */
export function bcubed(groups: readonly (string | number)[], labels: readonly string[]): BCubed {
  const n = groups.length;
  if (n === 0) return { precision: 1, recall: 1, f1: 1 };
  const count = <K>(keys: K[]) => keys.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<K, number>());
  const groupSize = count([...groups]);
  const labelSize = count([...labels]);
  const both = count(groups.map((g, i) => `${g}\u0000${labels[i]}`));
  let precision = 0;
  let recall = 0;
  for (let i = 0; i < n; i++) {
    const shared = both.get(`${groups[i]}\u0000${labels[i]}`)!;
    precision += shared / groupSize.get(groups[i]!)!;
    recall += shared / labelSize.get(labels[i]!)!;
  }
  precision /= n;
  recall /= n;
  return { precision, recall, f1: (2 * precision * recall) / (precision + recall) };
}
