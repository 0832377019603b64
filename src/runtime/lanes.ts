/** A place jobs run (a thread, a worker): `slots` jobs at once, from when `ready` settles (never, if it rejects). */
export interface Lane<Job, Result> {
  run: (job: Job) => Promise<Result>;
  slots: number;
  ready: Promise<unknown>;
}

/**
 * Each job goes to the first lane with a free slot; jobs wait in arrival order while every slot is
 * taken. A job is given to a lane only when it can start there, so none waits behind a slow job
 * (a 40 MP photo) while another lane is free.
 */
export class Lanes<Job, Result> {
  private readonly free: Lane<Job, Result>[] = [];
  private readonly waiting: ((lane: Lane<Job, Result>) => void)[] = [];
  private unfinished = 0;
  private onDrained: (() => void)[] = [];
  readonly slots: number;

  constructor(lanes: Lane<Job, Result>[]) {
    this.slots = lanes.reduce((n, lane) => n + lane.slots, 0);
    for (const lane of lanes) {
      // a lane that fails to start leaves its jobs to the others
      lane.ready.then(() => {
        for (let i = 0; i < lane.slots; i++) this.release(lane);
      }, () => undefined);
    }
  }

  private release(lane: Lane<Job, Result>): void {
    const next = this.waiting.shift();
    if (next) next(lane);
    else this.free.push(lane);
  }

  async run(job: Job): Promise<Result> {
    this.unfinished++;
    try {
      const lane = this.free.shift() ?? (await new Promise<Lane<Job, Result>>((resolve) => this.waiting.push(resolve)));
      try {
        return await lane.run(job);
      } finally {
        this.release(lane);
      }
    } finally {
      if (--this.unfinished === 0) for (const resolve of this.onDrained.splice(0)) resolve();
    }
  }

  /** Settles once every job given so far (waiting or running) has finished. */
  drained(): Promise<void> {
    return this.unfinished === 0 ? Promise.resolve() : new Promise((resolve) => this.onDrained.push(resolve));
  }
}
