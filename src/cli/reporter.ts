import { formatReport } from '../evaluate/format.js';
import { cliText } from './options.js';
import type { TrainEvent } from '../events.js';

export interface ReporterOptions {
  json: boolean;
  /** Redraw one status line in place (a terminal); otherwise print plain lines. */
  tty: boolean;
  write?: (text: string) => void;
}

export function seconds(ms: number): string {
  return ms >= 60_000 ? `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s` : `${(ms / 1000).toFixed(1)}s`;
}

function percent(x: number | undefined): string {
  return x === undefined ? '-' : `${(100 * x).toFixed(1)}%`;
}

export function formatDatasetSummary(e: Extract<TrainEvent, { type: 'dataset' }>): string {
  const width = Math.max(6, ...e.people.map((p) => p.name.length));
  const rows = e.people.map((p) => `  ${p.name.padEnd(width)}  ${String(p.train).padStart(5)}  ${String(p.val).padStart(4)}`);
  const totals = e.people.reduce((a, p) => [a[0]! + p.train, a[1]! + p.val], [0, 0]);
  return [
    `${e.people.length} people, ${totals[0]} training and ${totals[1]} validation photos${e.explicitSplit ? ' (train/ and val/ folders)' : ''}, ${e.skipped.length} skipped`,
    `  ${'person'.padEnd(width)}  train   val`,
    ...rows,
  ].join('\n');
}

function formatEpoch(e: Extract<TrainEvent, { type: 'epoch' }>): string {
  const val = e.valAccuracy === undefined ? '' : ` - val_loss ${e.valLoss?.toFixed(4)} - val_accuracy ${percent(e.valAccuracy)}`;
  return `[${e.phase}] epoch ${e.epoch}/${e.epochs} - ${seconds(e.ms)} - loss ${e.loss.toFixed(4)} - accuracy ${percent(e.accuracy)}${val}`;
}

/**
 * Turns training events into output: one JSON object per line with --json, a redrawn status
 * line on a terminal, and plain lines (epochs, skips, summary) everywhere else.
 */
export function createReporter({ json, tty, write = (t) => process.stderr.write(t) }: ReporterOptions): (e: TrainEvent) => void {
  if (json) return (e) => process.stdout.write(`${JSON.stringify(e)}\n`);
  let statusShown = false;
  let phaseStarted = 0;
  let stepsDone = 0;
  const line = (text: string) => {
    write(`${statusShown ? '\r\x1b[K' : ''}${text}\n`);
    statusShown = false;
  };
  const status = (text: string) => {
    if (!tty) return;
    write(`\r\x1b[K${text}`);
    statusShown = true;
  };
  return (e) => {
    switch (e.type) {
      case 'skip':
        line(`skipped ${e.file}: ${e.reason}`);
        break;
      case 'warning':
        line(`warning: ${cliText(e.message)}`);
        break;
      case 'faces':
        line(`${e.file}: ${e.count} faces, the largest was used`);
        break;
      case 'dataset':
        line(formatDatasetSummary(e));
        break;
      case 'progress':
        status(`${e.stage === 'prepare' ? 'reading photos' : 'computing frozen features'} ${e.done}/${e.total}`);
        break;
      case 'batch': {
        if (e.batch === 1 && stepsDone === 0) phaseStarted = performance.now();
        stepsDone++;
        const remaining = (e.epochs - e.epoch) * e.batches + e.batches - e.batch;
        const perStep = (performance.now() - phaseStarted) / stepsDone;
        status(`[${e.phase}] epoch ${e.epoch}/${e.epochs} batch ${e.batch}/${e.batches} - loss ${e.loss.toFixed(4)} - ETA ${seconds(remaining * perStep)}`);
        break;
      }
      case 'epoch':
        line(formatEpoch(e));
        if (e.epoch === e.epochs) stepsDone = 0;
        break;
      case 'evaluation':
        line(formatReport(e.report, { color: tty }));
        break;
      case 'exported':
        line(`exported ${e.format}: ${e.file}`);
        break;
      case 'saved':
        line(`saved ${e.outDir} in ${seconds(e.ms)} - validation accuracy ${percent(e.valAccuracy)}`);
        break;
    }
  };
}
