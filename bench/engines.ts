import { rm } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { readImageFile } from '../src/image/decode.js';
import { loadRecognizer } from '../src/recognize/recognizer.js';
import type { RuntimeName } from '../src/runtime/runtime.js';
import { celebrityPhotos, trainTinyModel } from '../test/support/tiny-model.js';
import { median } from '../src/evaluate/metrics.js';
import { round } from './timing.js';


/** Recognition time per photo with one face (detect + align + network) for each engine and base, side by side. */
export async function benchEngines(runs = 5): Promise<Record<string, unknown>> {
  const results: Record<string, unknown> = {};
  const photos = await Promise.all((await celebrityPhotos('madonna', 5, 'val')).map((f) => readImageFile(f)));
  for (const base of ['faceres', 'mobilenetv2'] as const) {
    const model = await trainTinyModel(['ben_afflek', 'madonna'], { base });
    for (const engine of ['tfjs', 'onnx'] as RuntimeName[]) {
      const recognizer = await loadRecognizer(model.modelDir, { engine });
      await recognizer.predict(photos[0]!); // warm-up
      const times: number[] = [];
      for (let r = 0; r < runs; r++) {
        for (const photo of photos) {
          const started = performance.now();
          await recognizer.predict(photo);
          times.push(performance.now() - started);
        }
      }
      results[`${base}_${engine}_msPerPhoto`] = round(median(times));
      recognizer.dispose();
    }
    results[`${base}_onnxSpeedup`] = round((results[`${base}_tfjs_msPerPhoto`] as number) / (results[`${base}_onnx_msPerPhoto`] as number));
    await rm(model.root, { recursive: true, force: true });
  }
  results.note = 'faceres: detection (BlazeFace on TF.js wasm) + alignment + FaceRes; mobilenetv2: whole photo, no detection';
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await benchEngines(Number(process.env.BENCH_RUNS ?? 5)), null, 2));
  process.exit(0);
}
