/**
 * The training report: one self-contained HTML file that opens from disk with no network.
 *
 * Charts use Chart.js (a maintained library we already depend on) rather than hand-drawn SVG: its UMD
 * build is inlined into the page at render time, and each chart's configuration is built here as plain
 * JSON, so the page script only hands configurations to Chart.js. Chart.js has no matrix chart, so the
 * confusion heat map is an HTML table with coloured cells, which also keeps the numbers readable by
 * screen readers and copyable. A Content-Security-Policy forbids every fetch, so a mistake here shows
 * up as a blocked request instead of a silent network call.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ChartConfiguration } from 'chart.js';
import { decide } from './metrics.js';
import { formatPercent } from './format.js';
import { UNKNOWN_LABEL, type ConfusionMatrix, type EvalReport, type EvalSample, type TrainHistory } from './types.js';

export interface ReportModelInfo {
  labels: readonly string[];
  /** Base network the recognizer was trained on, e.g. `mobilenet_v2_0.35_224`. */
  base: string;
  threshold: number;
  /** ISO date the model was trained. */
  createdAt: string;
  name?: string;
}

export interface ReportInput {
  report: EvalReport;
  history?: TrainHistory;
  model: ReportModelInfo;
  samples: readonly EvalSample[];
}

/** A chart on the page: the canvas id, its accessible description, and its Chart.js configuration. */
interface ChartSpec {
  id: string;
  description: string;
  config: ChartConfiguration<'line', XY[]> | ChartConfiguration<'bar'> | ChartConfiguration<'scatter', XY[]>;
}

// Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
const SERIES_COLOURS = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'];
const CHANCE_COLOUR = '#999999';

export function renderReport({ report, history, model, samples }: ReportInput): string {
  const title = `facetrain report${model.name ? ` — ${model.name}` : ''}`;
  const charts = [...trainingCharts(history), perPersonChart(report), ...rocChart(report)];
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLES}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${modelSection(model)}
${summarySection(report)}
${trainingSection(history, charts)}
${confusionSection(report.confusion)}
${perPersonSection(report, charts)}
${rocSection(report, charts)}
${gallerySection(samples, report.openSet.threshold)}
</main>
<script>${chartJsSource()}</script>
<script type="application/json" id="chart-specs">${jsonForScript(charts.map(({ id, config }) => ({ id, config })))}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** JSON that cannot end its <script> element early. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function chartJsSource(): string {
  // chart.js exports only its ESM/CJS entries; the UMD build sits beside the CJS one.
  const cjsEntry = createRequire(import.meta.url).resolve('chart.js');
  const source = readFileSync(path.join(path.dirname(cjsEntry), 'chart.umd.js'), 'utf8');
  // The source-map comment would make DevTools fetch a file that is not there.
  return source.replace(/\/\/# sourceMappingURL=\S+\s*$/, '').replace(/<\/script/gi, '<\\/script');
}

// Animation off: the charts are drawn once, fully, before printing or a screenshot.
const PAGE_SCRIPT = `
Chart.defaults.animation = false;
for (const spec of JSON.parse(document.getElementById('chart-specs').textContent)) {
  new Chart(document.getElementById(spec.id), spec.config);
}
`;

const STYLES = `
body { font: 15px/1.45 system-ui, sans-serif; color: #1a1a1a; background: #fff; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .25rem .6rem; border: 1px solid #ddd; text-align: right; }
th[scope=row], thead th:first-child { text-align: left; }
caption { text-align: left; font-weight: 600; padding-bottom: .3rem; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1.5rem; }
.chart { position: relative; max-width: 680px; }
.confusion td { min-width: 3rem; font-variant-numeric: tabular-nums; }
.gallery { display: flex; flex-wrap: wrap; gap: 1rem; padding: 0; list-style: none; }
.gallery figure { margin: 0; width: 140px; font-size: .8rem; overflow-wrap: anywhere; }
.gallery img { width: 112px; height: 112px; object-fit: cover; border: 1px solid #ccc; display: block; }
.no-thumbnail { width: 112px; height: 112px; display: grid; place-items: center; background: #f1f1f1; color: #555; }
.note { color: #555; }
`;

function modelSection(model: ReportModelInfo): string {
  const rows: [string, string][] = [
    ['Base network', model.base],
    ['People', model.labels.join(', ')],
    ['Threshold', model.threshold.toFixed(3)],
    ['Created', model.createdAt],
  ];
  return `<section aria-labelledby="model-heading"><h2 id="model-heading">Model</h2>${keyValueTable('Model details', rows)}</section>`;
}

function summarySection(report: EvalReport): string {
  const { openSet, timing } = report;
  const rows: [string, string][] = [
    ['Photos evaluated', String(report.totalSamples)],
    ['Photos without a detected face', String(report.facesNotFound)],
    ...(report.unreadable ? [['Unreadable photos skipped', String(report.unreadable)] as [string, string]] : []),
    ['Top-1 accuracy on known people', formatPercent(report.top1Accuracy)],
    [`Correct accept rate at threshold (${openSet.knownSamples} known)`, formatPercent(openSet.correctAcceptRate)],
    [`False accept rate at threshold (${openSet.unknownSamples} unknown)`, formatPercent(openSet.falseAcceptRate)],
    ['AUROC, known vs unknown', report.auroc === null ? 'n/a' : report.auroc.toFixed(3)],
    ['Macro F1', report.macroF1.toFixed(3)],
  ];
  if (timing !== null) {
    rows.push(['Mean time per photo', `${timing.meanMs.toFixed(1)} ms`], ['Median time per photo', `${timing.medianMs.toFixed(1)} ms`]);
  }
  return `<section aria-labelledby="summary-heading"><h2 id="summary-heading">Summary</h2>${keyValueTable('Evaluation summary', rows)}</section>`;
}

function keyValueTable(caption: string, rows: readonly [string, string][]): string {
  const body = rows.map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('');
  return `<table><caption>${escapeHtml(caption)}</caption><tbody>${body}</tbody></table>`;
}

function canvasFor(charts: readonly ChartSpec[], id: string): string {
  const spec = charts.find((c) => c.id === id);
  if (spec === undefined) return '';
  return `<div class="chart"><canvas id="${spec.id}" role="img" aria-label="${escapeHtml(spec.description)}">${escapeHtml(spec.description)}</canvas></div>`;
}

interface XY {
  x: number;
  y: number;
}

/**
 * Loss and accuracy across every phase on one epoch axis, so fine-tuning visibly continues from
 * where the head-only phase stopped; train solid, validation dashed, one colour per phase and split.
 */
function trainingCharts(history: TrainHistory | undefined): ChartSpec[] {
  if (history === undefined || history.phases.every((p) => p.epochs.length === 0)) return [];
  const metric = (key: 'loss' | 'accuracy', title: string): ChartSpec => {
    const datasets: ChartConfiguration<'line', XY[]>['data']['datasets'] = [];
    let offset = 0;
    history.phases.forEach((phase, p) => {
      const train = phase.epochs.map((e, i) => ({ x: offset + i + 1, y: e[key] }));
      const validationKey = key === 'loss' ? 'valLoss' : 'valAccuracy';
      const validation = phase.epochs.flatMap((e, i) => (e[validationKey] === undefined ? [] : [{ x: offset + i + 1, y: e[validationKey] }]));
      const colour = (n: number) => SERIES_COLOURS[(2 * p + n) % SERIES_COLOURS.length]!;
      datasets.push({ label: `${phase.name} train`, data: train, borderColor: colour(0), backgroundColor: colour(0), pointRadius: 2 });
      if (validation.length > 0) {
        datasets.push({ label: `${phase.name} validation`, data: validation, borderColor: colour(1), backgroundColor: colour(1), borderDash: [6, 4], pointRadius: 2 });
      }
      offset += phase.epochs.length;
    });
    const config: ChartConfiguration<'line', XY[]> = {
      type: 'line',
      data: { datasets },
      options: {
        parsing: false,
        aspectRatio: 1.4,
        scales: {
          x: { type: 'linear', title: { display: true, text: 'epoch (all phases)' }, ticks: { precision: 0 } },
          y: { title: { display: true, text: title }, ...(key === 'accuracy' ? { min: 0, max: 1 } : { beginAtZero: true }) },
        },
        plugins: { title: { display: true, text: `Training ${title}` }, legend: { position: 'bottom' } },
      },
    };
    return {
      id: `chart-${key}`,
      description: `Line chart of training and validation ${title} per epoch for phases ${history.phases.map((p) => p.name).join(', ')}`,
      config,
    };
  };
  return [metric('loss', 'loss'), metric('accuracy', 'accuracy')];
}

function perPersonChart(report: EvalReport): ChartSpec {
  const labels = report.perPerson.map((p) => p.label);
  const config: ChartConfiguration<'bar'> = {
    type: 'bar',
    data: {
      labels,
      datasets: [
        { label: 'precision', data: report.perPerson.map((p) => p.precision), backgroundColor: SERIES_COLOURS[0] },
        { label: 'recall', data: report.perPerson.map((p) => p.recall), backgroundColor: SERIES_COLOURS[1] },
      ],
    },
    options: {
      scales: { y: { min: 0, max: 1, title: { display: true, text: 'fraction' } } },
      plugins: { title: { display: true, text: `Precision and recall per person at threshold ${report.openSet.threshold.toFixed(3)}` } },
    },
  };
  return {
    id: 'chart-per-person',
    description: `Bar chart of precision and recall for ${labels.length} people; the numbers are in the table below`,
    config,
  };
}

/** The ROC curve with the chance diagonal and the operating point of the chosen threshold. */
function rocChart(report: EvalReport): ChartSpec[] {
  if (report.roc === null || report.auroc === null) return [];
  const { knownAcceptRate, falseAcceptRate, threshold } = report.openSet;
  const operatingPoint = knownAcceptRate === null || falseAcceptRate === null ? [] : [{ x: falseAcceptRate, y: knownAcceptRate }];
  const config: ChartConfiguration<'scatter', XY[]> = {
    type: 'scatter',
    data: {
      datasets: [
        {
          label: `ROC (AUROC ${report.auroc.toFixed(3)})`,
          data: report.roc.map((p) => ({ x: p.falsePositiveRate, y: p.truePositiveRate })),
          showLine: true,
          borderColor: SERIES_COLOURS[0],
          backgroundColor: SERIES_COLOURS[0],
          pointRadius: 2,
        },
        {
          label: `threshold ${threshold.toFixed(3)}`,
          data: operatingPoint,
          borderColor: SERIES_COLOURS[3],
          backgroundColor: SERIES_COLOURS[3],
          pointRadius: 8,
          pointStyle: 'rectRot',
          // Lowest order is drawn last, so the curve does not hide the marker.
          order: -1,
        },
        { label: 'chance', data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], showLine: true, borderColor: CHANCE_COLOUR, borderDash: [4, 4], pointRadius: 0 },
      ],
    },
    options: {
      parsing: false,
      aspectRatio: 1.3,
      scales: {
        x: { min: 0, max: 1, title: { display: true, text: 'false accept rate (unknown people scoring >= t)' } },
        y: { min: 0, max: 1, title: { display: true, text: 'known people scoring >= t' } },
      },
      plugins: { title: { display: true, text: 'Known vs unknown: ROC of the recognizer score' } },
    },
  };
  return [
    {
      id: 'chart-roc',
      description: `ROC curve of the score separating known from unknown people, AUROC ${report.auroc.toFixed(3)}, threshold ${threshold.toFixed(3)} marked`,
      config,
    },
  ];
}

function trainingSection(history: TrainHistory | undefined, charts: readonly ChartSpec[]): string {
  const heading = '<h2 id="training-heading">Training curves</h2>';
  if (!charts.some((c) => c.id === 'chart-loss')) {
    return `<section aria-labelledby="training-heading">${heading}<p class="note">No training history was recorded for this model.</p></section>`;
  }
  return `<section aria-labelledby="training-heading">${heading}
<div class="charts">${canvasFor(charts, 'chart-loss')}${canvasFor(charts, 'chart-accuracy')}</div>
<details><summary>Training history as a table</summary>${historyTable(history!)}</details>
</section>`;
}

function historyTable(history: TrainHistory): string {
  const number = (v: number | undefined) => (v === undefined ? '' : v.toFixed(4));
  const rows = history.phases
    .flatMap((phase) =>
      phase.epochs.map(
        (e) =>
          `<tr><th scope="row">${escapeHtml(phase.name)}</th><td>${e.epoch}</td><td>${number(e.loss)}</td><td>${number(e.accuracy)}</td><td>${number(e.valLoss)}</td><td>${number(e.valAccuracy)}</td></tr>`,
      ),
    )
    .join('');
  return `<table><caption>Loss and accuracy per epoch</caption><thead><tr><th scope="col">phase</th><th scope="col">epoch</th><th scope="col">loss</th><th scope="col">accuracy</th><th scope="col">validation loss</th><th scope="col">validation accuracy</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** Cell colour: blue for correct answers, orange for mistakes, stronger the larger the share of the row. */
function heatColour(count: number, rowTotal: number, correct: boolean): { background: string; text: string } {
  const share = rowTotal === 0 ? 0 : count / rowTotal;
  const [r, g, b] = correct ? [0, 114, 178] : [213, 94, 0];
  const alpha = count === 0 ? 0 : 0.15 + 0.85 * share;
  return { background: `rgba(${r}, ${g}, ${b}, ${alpha.toFixed(3)})`, text: alpha > 0.7 ? '#ffffff' : '#1a1a1a' };
}

function confusionSection(confusion: ConfusionMatrix): string {
  const head = `<tr><th scope="col">true \\ predicted</th>${confusion.columns.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join('')}</tr>`;
  const body = confusion.rows
    .map((rowLabel, r) => {
      const counts = confusion.counts[r]!;
      const total = counts.reduce((a, b) => a + b, 0);
      const cells = counts
        .map((count, c) => {
          const predicted = confusion.columns[c]!;
          const { background, text } = heatColour(count, total, rowLabel === predicted);
          const title = `true ${rowLabel}, predicted ${predicted}: ${count} of ${total}`;
          return `<td style="background:${background};color:${text}" title="${escapeHtml(title)}">${count}</td>`;
        })
        .join('');
      return `<tr><th scope="row">${escapeHtml(rowLabel)}</th>${cells}</tr>`;
    })
    .join('');
  return `<section aria-labelledby="confusion-heading"><h2 id="confusion-heading">Confusion matrix</h2>
<p class="note">Rows: who is in the photo (${escapeHtml(UNKNOWN_LABEL)} = people the model was not trained on). Columns: the answer at the threshold. Blue cells are right, orange cells are mistakes; colour strength is the share of the row.</p>
<table class="confusion"><caption>Photos per true person and answer</caption><thead>${head}</thead><tbody>${body}</tbody></table></section>`;
}

function perPersonSection(report: EvalReport, charts: readonly ChartSpec[]): string {
  const rows = report.perPerson
    .map(
      (p) =>
        `<tr><th scope="row">${escapeHtml(p.label)}</th><td>${p.precision.toFixed(3)}</td><td>${p.recall.toFixed(3)}</td><td>${p.f1.toFixed(3)}</td><td>${p.support}</td></tr>`,
    )
    .join('');
  return `<section aria-labelledby="per-person-heading"><h2 id="per-person-heading">Per person</h2>
${canvasFor(charts, 'chart-per-person')}
<table><caption>Precision, recall and F1 per person</caption><thead><tr><th scope="col">person</th><th scope="col">precision</th><th scope="col">recall</th><th scope="col">F1</th><th scope="col">support</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

function rocSection(report: EvalReport, charts: readonly ChartSpec[]): string {
  const heading = '<h2 id="roc-heading">Known vs unknown people</h2>';
  if (report.roc === null) {
    return `<section aria-labelledby="roc-heading">${heading}<p class="note">No ROC curve: it needs photos of both known and unknown people.</p></section>`;
  }
  return `<section aria-labelledby="roc-heading">${heading}
<p class="note">Positives are photos of known people, negatives photos of people the model does not know; a photo counts as accepted when its score reaches the threshold.</p>
${canvasFor(charts, 'chart-roc')}</section>`;
}

interface GalleryItem {
  sample: EvalSample;
  caption: string;
}

/** Misclassified: named, but wrongly (including strangers given a name). Rejected: known people answered `unknown`. */
function galleryGroups(samples: readonly EvalSample[], threshold: number): { misclassified: GalleryItem[]; rejected: GalleryItem[]; noFace: GalleryItem[] } {
  const withFace = samples.filter((s) => s.faceFound);
  const score = (s: EvalSample) => s.score.toFixed(3);
  return {
    misclassified: withFace
      .filter((s) => decide(s, threshold) !== UNKNOWN_LABEL && s.predicted !== s.truth)
      .map((s) => ({ sample: s, caption: `true: ${s.truth ?? UNKNOWN_LABEL} · predicted: ${s.predicted} (score ${score(s)})` })),
    rejected: withFace
      .filter((s) => s.truth !== null && decide(s, threshold) === UNKNOWN_LABEL)
      .map((s) => ({
        sample: s,
        caption: `true: ${s.truth} · answered unknown (${s.predicted === UNKNOWN_LABEL ? '' : `best guess ${s.predicted}, `}score ${score(s)})`,
      })),
    noFace: samples.filter((s) => !s.faceFound).map((s) => ({ sample: s, caption: `true: ${s.truth ?? UNKNOWN_LABEL} · no face detected` })),
  };
}

function gallerySection(samples: readonly EvalSample[], threshold: number): string {
  const groups = galleryGroups(samples, threshold);
  const block = (id: string, title: string, items: readonly GalleryItem[]) => {
    const content = items.length === 0 ? '<p class="note">None.</p>' : `<ul class="gallery">${items.map(galleryFigure).join('')}</ul>`;
    return `<section aria-labelledby="${id}"><h3 id="${id}">${escapeHtml(title)} (${items.length})</h3>${content}</section>`;
  };
  return `<section aria-labelledby="mistakes-heading"><h2 id="mistakes-heading">Mistakes</h2>
${block('misclassified-heading', 'Misclassified faces', groups.misclassified)}
${block('rejected-heading', 'Known people rejected as unknown', groups.rejected)}
${block('no-face-heading', 'Photos without a detected face', groups.noFace)}</section>`;
}

// Only inline images: anything else would be a network request or a script.
const SAFE_THUMBNAIL = /^data:image\/(?:jpeg|png|webp);base64,[A-Za-z0-9+/]+={0,2}$/;

function galleryFigure({ sample, caption }: GalleryItem): string {
  const image =
    sample.thumbnail !== undefined && SAFE_THUMBNAIL.test(sample.thumbnail)
      ? `<img src="${sample.thumbnail}" alt="${escapeHtml(`Face crop from ${sample.file}; ${caption}`)}">`
      : '<div class="no-thumbnail" aria-hidden="true">no image</div>';
  return `<li><figure>${image}<figcaption><strong>${escapeHtml(sample.file)}</strong><br>${escapeHtml(caption)}</figcaption></figure></li>`;
}
