/**
 * Keeps the local stack's event loop free while images decode: decoding and preprocessing run on a
 * pool of worker threads (the batch worker's pool), inference on its own thread, so the API and
 * the embedded S3 server keep answering while a 98 MP PNG decodes. Decodes share a pixel budget,
 * so at most about one image at the pixel limit is in memory at a time, however many arrive.
 */
import { PreparePool } from '../batch/index.js';
import type { Classifier, PreparedImage } from '../core/classifier.js';
import { defaultMaxPixels, probeImage } from '../core/decode.js';

/**
 * Admits work by weight (pixels) while the total in flight stays within the budget; one job
 * heavier than the whole budget runs alone. First come, first served.
 */
export class PixelBudget {
  private used = 0;
  private readonly waiting: Array<{ px: number; go: () => void }> = [];

  /** @param budget pixels that may be decoding at once */
  constructor(readonly budget: number) {}

  /** Pixels admitted now. */
  get inFlight(): number {
    return this.used;
  }

  /** Resolves when `px` pixels may start. */
  acquire(px: number): Promise<void> {
    if (this.waiting.length === 0 && this.fits(px)) {
      this.used += px;
      return Promise.resolve();
    }
    return new Promise((go) => this.waiting.push({ px, go }));
  }

  /** Returns `px` pixels and starts whoever now fits. */
  release(px: number): void {
    this.used -= px;
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.px)) {
      const next = this.waiting.shift()!;
      this.used += next.px;
      next.go();
    }
  }

  private fits(px: number): boolean {
    return this.used === 0 || this.used + px <= this.budget;
  }
}

/** Options of {@link decodeOffThread}. */
export interface OffThreadOptions {
  /** Decode worker threads. @default 2 */
  workers?: number;
  /** Pixels decoding at once, over all workers. @default the pixel limit (RESNET_MAX_PIXELS or 100e6) */
  pixelBudget?: number;
  /** Largest image, in pixels. @default the decoder's default */
  maxPixels?: number;
}

/**
 * Routes `classifier`'s decoding through a worker pool with a pixel budget.
 * @returns the pool's mode and a `close` that stops the workers (and decodes in-thread again)
 */
export async function decodeOffThread(classifier: Classifier, opts: OffThreadOptions = {}): Promise<{ mode: 'workers' | 'in-thread'; close(): Promise<void> }> {
  const pool = await PreparePool.start({
    workers: opts.workers ?? 2,
    cfg: classifier.preprocessConfig,
    ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
    inThread: (bytes, o) => classifier.prepareHere(bytes, o),
  });
  const budget = new PixelBudget(opts.pixelBudget ?? opts.maxPixels ?? defaultMaxPixels());
  classifier.usePreparer(async (bytes, o): Promise<PreparedImage> => {
    // The pool's recipe has no ten-crop; the stack's handlers never ask for it.
    if (o.tenCrop) return classifier.prepareHere(bytes, o);
    let px = 0;
    try {
      const info = probeImage(bytes);
      px = Math.min(info.width * info.height, budget.budget);
    } catch {
      px = 0; // not an image: the worker answers with the typed error at once
    }
    await budget.acquire(px);
    try {
      // A copy goes to the worker: the caller's bytes stay usable (the pool transfers what it sends).
      return await pool.prepare(new Uint8Array(bytes));
    } finally {
      budget.release(px);
    }
  });
  return {
    mode: pool.mode,
    close: async () => {
      classifier.usePreparer(null);
      await pool.close();
    },
  };
}
