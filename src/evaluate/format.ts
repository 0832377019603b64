/** Plain-text rendering of an EvalReport for the terminal. Colour only when the caller says the output is a TTY. */
import type { ConfusionMatrix, EvalReport } from './types.js';

export interface FormatOptions {
  /** Use ANSI colours (pass `process.stdout.isTTY`); without it the output is plain text for logs and pipes. */
  color: boolean;
}

type Tone = 'good' | 'bad' | 'dim' | 'plain';

const ANSI: Record<Tone, string> = { good: '\x1b[32m', bad: '\x1b[31m', dim: '\x1b[2m', plain: '' };

interface Cell {
  text: string;
  tone: Tone;
}

export function formatReport(report: EvalReport, { color }: FormatOptions): string {
  return [formatSummary(report), formatPerPerson(report, color), formatConfusion(report.confusion, color)].join('\n\n') + '\n';
}

export function formatPercent(value: number | null): string {
  return value === null ? 'n/a' : `${(value * 100).toFixed(1)}%`;
}

function formatSummary(report: EvalReport): string {
  const { openSet, timing } = report;
  const lines = [
    `Samples: ${report.totalSamples} (${report.facesNotFound} without a detected face)${report.unreadable ? `; ${report.unreadable} unreadable photo(s) skipped` : ''}`,
    `Top-1 accuracy (known people): ${formatPercent(report.top1Accuracy)}`,
    `At threshold ${openSet.threshold.toFixed(3)}: correct accept ${formatPercent(openSet.correctAcceptRate)} of ${openSet.knownSamples} known, ` +
      `false accept ${formatPercent(openSet.falseAcceptRate)} of ${openSet.unknownSamples} unknown`,
    `AUROC known vs unknown: ${report.auroc === null ? 'n/a (needs known and unknown people)' : report.auroc.toFixed(3)}`,
    `Macro F1: ${report.macroF1.toFixed(3)}`,
  ];
  if (timing !== null) lines.push(`Time per photo: mean ${timing.meanMs.toFixed(1)} ms, median ${timing.medianMs.toFixed(1)} ms`);
  return lines.join('\n');
}

function formatPerPerson(report: EvalReport, color: boolean): string {
  const header = ['person', 'precision', 'recall', 'F1', 'support'].map(plain);
  const rows = report.perPerson.map((p) => [
    plain(p.label),
    plain(p.precision.toFixed(3)),
    plain(p.recall.toFixed(3)),
    { text: p.f1.toFixed(3), tone: p.f1 >= 0.9 ? 'good' : p.f1 < 0.5 ? 'bad' : 'plain' } satisfies Cell,
    plain(String(p.support)),
  ]);
  return renderTable([header, ...rows], color);
}

/** Rows are the true person, columns what the model answered; the diagonal is right, the rest are mistakes. */
function formatConfusion(confusion: ConfusionMatrix, color: boolean): string {
  const header = [plain('true \\ predicted'), ...confusion.columns.map(plain)];
  const rows = confusion.rows.map((rowLabel, r) => [
    plain(rowLabel),
    ...confusion.counts[r]!.map((count, c): Cell => {
      const correct = rowLabel === confusion.columns[c];
      return { text: String(count), tone: count === 0 ? 'dim' : correct ? 'good' : 'bad' };
    }),
  ]);
  return `Confusion matrix\n${renderTable([header, ...rows], color)}`;
}

function plain(text: string): Cell {
  return { text, tone: 'plain' };
}

/** First column left-aligned (names), the rest right-aligned (numbers); widths from the uncoloured text. */
function renderTable(rows: Cell[][], color: boolean): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.text.length)));
  const renderCell = (cell: Cell, c: number) => {
    const padded = c === 0 ? cell.text.padEnd(widths[c]!) : cell.text.padStart(widths[c]!);
    return color && cell.tone !== 'plain' ? `${ANSI[cell.tone]}${padded}\x1b[0m` : padded;
  };
  const lines = rows.map((row) => row.map(renderCell).join('  ').trimEnd());
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [lines[0], rule, ...lines.slice(1)].join('\n');
}
