import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { evaluate } from '../src/evaluate/metrics.js';
import { renderReport, type ReportInput } from '../src/evaluate/report.js';
import type { EvalSample, TrainHistory } from '../src/evaluate/types.js';
import { blockNetwork, chromiumAvailable, collectPageErrors, launch } from './support/browser.js';

const LABELS = ['ada', 'bob', 'cyd'];
const THRESHOLD = 0.5;

/** A real JPEG data URL: a flat square in the person's colour, standing in for a face crop. */
async function thumbnail(rgb: [number, number, number]): Promise<string> {
  const [r, g, b] = rgb;
  const jpeg = await sharp({ create: { width: 48, height: 48, channels: 3, background: { r, g, b } } }).jpeg({ quality: 80 }).toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}

async function fixtureSamples(): Promise<EvalSample[]> {
  const face = await thumbnail([200, 150, 120]);
  const row = (file: string, truth: string | null, predicted: string, score: number, faceFound = true): EvalSample => ({
    file,
    truth,
    predicted,
    score,
    faceFound,
    ms: 20 + score * 10,
    thumbnail: face,
  });
  return [
    row('ada/1.jpg', 'ada', 'ada', 0.9),
    row('ada/2.jpg', 'ada', 'ada', 0.6),
    // A hostile file name: if it were not escaped the browser would try to fetch it.
    row('ada/<img src="http://example.invalid/x.jpg">.jpg', 'ada', 'bob', 0.7),
    row('bob/1.jpg', 'bob', 'bob', 0.8),
    row('bob/2.jpg', 'bob', 'bob', 0.4),
    row('bob/3.jpg', 'bob', 'cyd', 0.3),
    row('cyd/1.jpg', 'cyd', 'cyd', 0.7),
    row('cyd/2.jpg', 'cyd', 'ada', 0.5),
    row('cyd/3.jpg', 'cyd', 'unknown', 0, false),
    row('strangers/1.jpg', null, 'bob', 0.7),
    row('strangers/2.jpg', null, 'cyd', 0.4),
    row('strangers/3.jpg', null, 'ada', 0.2),
  ];
}

const HISTORY: TrainHistory = {
  phases: [
    {
      name: 'head',
      epochs: [
        { epoch: 1, loss: 1.05, accuracy: 0.42, valLoss: 0.98, valAccuracy: 0.5 },
        { epoch: 2, loss: 0.71, accuracy: 0.66, valLoss: 0.75, valAccuracy: 0.62 },
        { epoch: 3, loss: 0.52, accuracy: 0.78, valLoss: 0.63, valAccuracy: 0.7 },
        { epoch: 4, loss: 0.44, accuracy: 0.83, valLoss: 0.6, valAccuracy: 0.72 },
      ],
    },
    {
      name: 'fine-tune',
      epochs: [
        { epoch: 1, loss: 0.35, accuracy: 0.88, valLoss: 0.52, valAccuracy: 0.78 },
        { epoch: 2, loss: 0.27, accuracy: 0.92, valLoss: 0.49, valAccuracy: 0.8 },
        { epoch: 3, loss: 0.21, accuracy: 0.95, valLoss: 0.5, valAccuracy: 0.81 },
      ],
    },
  ],
};

async function fixtureInput(): Promise<ReportInput> {
  const samples = await fixtureSamples();
  return {
    report: evaluate(samples, LABELS, THRESHOLD),
    history: HISTORY,
    model: { labels: LABELS, base: 'mobilenet_v2_0.35_224', threshold: THRESHOLD, createdAt: '2025-01-02T03:04:05Z', name: 'fixture' },
    samples,
  };
}

test('report escapes names, inlines Chart.js and references nothing outside the file', async () => {
  const input = await fixtureInput();
  const hostile = '</script><b onclick="x">o\'neil & co</b>';
  const html = renderReport({ ...input, model: { ...input.model, name: hostile } });
  assert.ok(!html.includes(hostile), 'raw model name must not appear');
  assert.ok(html.includes('&#60;/script&#62;&#60;b onclick=&#34;x&#34;&#62;o&#39;neil &#38; co&#60;/b&#62;'));
  assert.ok(!html.includes('<img src="http://'), 'file names are escaped');
  assert.ok(html.includes('Chart.register') || html.includes('window.Chart'), 'Chart.js is inlined');
  assert.ok(!/\b(?:src|href)="(?!data:)/.test(html), 'no src/href other than data: URLs');
  assert.ok(!html.includes('sourceMappingURL'), 'no source map to fetch');
});

test('report without history or strangers says so instead of drawing empty charts', async () => {
  const samples = (await fixtureSamples()).filter((s) => s.truth !== null);
  const html = renderReport({
    report: evaluate(samples, LABELS, THRESHOLD),
    model: { labels: LABELS, base: 'mobilenet_v2_0.35_224', threshold: THRESHOLD, createdAt: '2025-01-02T03:04:05Z' },
    samples,
  });
  assert.match(html, /No training history was recorded/);
  assert.match(html, /No ROC curve/);
  assert.ok(!html.includes('id="chart-loss"') && !html.includes('id="chart-roc"'));
  assert.ok(html.includes('id="chart-per-person"'));
});

test('report renders offline in headless Chromium: charts drawn, heat map, thumbnails, no errors, no network', { skip: chromiumAvailable(), timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'facetrain-report-'));
  const { context, close } = await launch();
  try {
    const file = path.join(dir, 'report.html');
    await writeFile(file, renderReport(await fixtureInput()));
    const attempted = await blockNetwork(context);
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

    const charts = await page.evaluate(countChartPixels);
    assert.deepEqual(charts.map((c) => c.id).sort(), ['chart-accuracy', 'chart-loss', 'chart-per-person', 'chart-roc']);
    for (const chart of charts) {
      assert.ok(chart.opaquePixels > 5000, `${chart.id}: only ${chart.opaquePixels} drawn pixels`);
      for (const series of chart.series) {
        assert.ok(series.pixels >= 20, `${chart.id}: series "${series.label}" (${series.colour}) has ${series.pixels} pixels of its colour`);
      }
    }

    const heatMap = await page.$$eval('table.confusion tbody tr', (rows) =>
      rows.map((row) => Array.from(row.querySelectorAll('td')).map((td) => ({ count: td.textContent, background: getComputedStyle(td).backgroundColor }))),
    );
    assert.deepEqual(heatMap.map((row) => row.map((cell) => cell.count)), [
      ['2', '1', '0', '0'],
      ['0', '1', '0', '2'],
      ['1', '0', '1', '0'],
      ['0', '1', '0', '2'],
    ]);
    assert.ok(heatMap.flat().every((cell) => (cell.count === '0') === /rgba\(\d+, \d+, \d+, 0\)/.test(cell.background)), 'exactly the non-zero cells are coloured');

    const images = await page.$$eval('img', (imgs) => imgs.map((img) => ({ loaded: img.complete && img.naturalWidth > 0, alt: img.alt })));
    // Misclassified: ada/<img…>, cyd/2, strangers/1. Rejected: bob/2, bob/3. No face: cyd/3.
    assert.equal(images.length, 6);
    assert.ok(images.every((img) => img.loaded && img.alt.startsWith('Face crop from ')));
    assert.ok(images.some((img) => img.alt.includes('<img src="http://example.invalid/x.jpg">')), 'hostile file name shown as text');

    await mkdir(artifactDir(), { recursive: true });
    const screenshot = path.join(artifactDir(), 'evaluate-report.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    t.diagnostic(`report screenshot: ${screenshot}`);

    assert.deepEqual(errors, []);
    assert.deepEqual(attempted, []);
  } finally {
    await close();
    await rm(dir, { recursive: true, force: true });
  }
});

function artifactDir(): string {
  return process.env.FACETRAIN_ARTIFACTS ?? path.join(os.tmpdir(), 'facetrain-artifacts');
}

interface ChartPixels {
  id: string;
  opaquePixels: number;
  series: { label: string; colour: string; pixels: number }[];
}

/**
 * Runs in the page: for every canvas, how many pixels were drawn at all, and how many inside the plot
 * area (so legend swatches do not count) carry each dataset's colour, which proves the data were drawn.
 */
function countChartPixels(): ChartPixels[] {
  type ChartLike = {
    chartArea: { left: number; top: number; right: number; bottom: number };
    currentDevicePixelRatio: number;
    data: { datasets: { label: string; data: unknown[]; borderColor?: unknown; backgroundColor?: unknown }[] };
  };
  const getChart = (window as unknown as { Chart: { getChart(c: HTMLCanvasElement): ChartLike | undefined } }).Chart.getChart;
  const hexToRgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return Array.from(document.querySelectorAll('canvas')).map((canvas) => {
    const context = canvas.getContext('2d')!;
    const whole = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let opaquePixels = 0;
    for (let i = 3; i < whole.length; i += 4) if (whole[i]! > 0) opaquePixels++;
    const chart = getChart(canvas);
    if (chart === undefined) return { id: canvas.id, opaquePixels, series: [] };
    const ratio = chart.currentDevicePixelRatio;
    const { left, top, right, bottom } = chart.chartArea;
    const plot = context.getImageData(left * ratio, top * ratio, (right - left) * ratio, (bottom - top) * ratio).data;
    const series = chart.data.datasets
      .filter((d) => d.data.length > 0)
      .map((d) => {
        const colour = String(d.backgroundColor ?? d.borderColor);
        const [r, g, b] = hexToRgb(colour);
        let pixels = 0;
        for (let i = 0; i < plot.length; i += 4) {
          if (plot[i + 3] === 255 && Math.abs(plot[i]! - r!) <= 8 && Math.abs(plot[i + 1]! - g!) <= 8 && Math.abs(plot[i + 2]! - b!) <= 8) pixels++;
        }
        return { label: d.label, colour, pixels };
      });
    return { id: canvas.id, opaquePixels, series };
  });
}
