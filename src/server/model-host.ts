import { loadRecognizer, type Recognizer } from '../recognize/recognizer.js';
import { Mutex } from './limits.js';

interface Slot {
  recognizer: Recognizer;
  users: number;
  retired: boolean;
  disposed?: boolean;
}

/** Disposes a retired recognizer once its last user is done; a request that slipped in after close() must not dispose it twice. */
function release(slot: Slot): void {
  if (slot.retired && slot.users === 0 && !slot.disposed) {
    slot.disposed = true;
    slot.recognizer.dispose();
  }
}

/**
 * Owns the served recognizer. Changes to the model directory run one at a time and end with a
 * reload; recognitions already running keep the recognizer they started with, which is
 * disposed only once the last of them finishes.
 */
export class ModelHost {
  private readonly writes = new Mutex();
  private constructor(
    readonly modelDir: string,
    private slot: Slot,
  ) {}

  static async open(modelDir: string): Promise<ModelHost> {
    return new ModelHost(modelDir, { recognizer: await loadRecognizer(modelDir), users: 0, retired: false });
  }

  get current(): Recognizer {
    return this.slot.recognizer;
  }

  async use<T>(work: (recognizer: Recognizer) => Promise<T>): Promise<T> {
    const slot = this.slot;
    slot.users++;
    try {
      return await work(slot.recognizer);
    } finally {
      slot.users--;
      release(slot);
    }
  }

  /** Serialises `change` with every other change, then serves the directory as it now is. */
  modify<T>(change: (modelDir: string) => Promise<T>): Promise<T> {
    return this.writes.run(async () => {
      const result = await change(this.modelDir);
      await this.reload();
      return result;
    });
  }

  private async reload(): Promise<void> {
    const next: Slot = { recognizer: await loadRecognizer(this.modelDir), users: 0, retired: false };
    const old = this.slot;
    this.slot = next;
    old.retired = true;
    release(old);
  }

  close(): void {
    this.slot.retired = true;
    release(this.slot);
  }
}
