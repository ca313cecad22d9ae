/**
 * A bounded FIFO channel between two pipeline stages. `push` waits while the queue is full,
 * which is what carries backpressure upstream: a slow inference stage stops the decoders,
 * they stop the downloads, and the downloads stop the listing.
 */
export class BoundedQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private readonly takers: Array<(r: IteratorResult<T>) => void> = [];
  private readonly pushers: Array<() => void> = [];
  private closed = false;

  /** @param capacity - items held before `push` waits; at least 1. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be >= 1, got ${capacity}`);
  }

  /** Items waiting now. */
  get size(): number {
    return this.items.length;
  }

  /** Whether `close` was called (items may still be waiting). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Adds an item, waiting for room. Throws if the queue was closed. */
  async push(item: T): Promise<void> {
    while (this.items.length >= this.capacity && this.takers.length === 0) {
      if (this.closed) throw new Error('push on a closed queue');
      await new Promise<void>((resolve) => this.pushers.push(resolve));
    }
    if (this.closed) throw new Error('push on a closed queue');
    const taker = this.takers.shift();
    if (taker) taker({ value: item, done: false });
    else this.items.push(item);
  }

  /** Takes the next item, waiting for one; `undefined` once closed and empty. */
  async take(): Promise<T | undefined> {
    const r = await this.next();
    return r.done ? undefined : r.value;
  }

  /** Takes an item only if one is waiting now. */
  tryTake(): T | undefined {
    if (this.items.length === 0) return undefined;
    const item = this.items.shift() as T;
    this.pushers.shift()?.();
    return item;
  }

  /**
   * Takes the next item, waiting at most `ms` milliseconds.
   * @returns the item, `undefined` when closed and empty, or `'timeout'`.
   */
  async takeWithin(ms: number): Promise<T | undefined | 'timeout'> {
    const now = this.tryTake();
    if (now !== undefined) return now;
    if (this.closed) return undefined;
    return new Promise((resolve) => {
      const taker = (r: IteratorResult<T>): void => {
        clearTimeout(timer);
        resolve(r.done ? undefined : r.value);
      };
      const timer = setTimeout(() => {
        const i = this.takers.indexOf(taker);
        if (i >= 0) this.takers.splice(i, 1);
        resolve('timeout');
      }, ms);
      this.takers.push(taker);
    });
  }

  /** No more pushes; takers drain what is left, then see the end. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pushers.splice(0)) p();
    if (this.items.length === 0) for (const t of this.takers.splice(0)) t({ value: undefined, done: true });
  }

  private next(): Promise<IteratorResult<T>> {
    const item = this.tryTake();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.takers.push(resolve));
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}

/**
 * Runs `concurrency` loops that take from `input`, call `fn`, and push what it returns (unless
 * `undefined`) to `output`; closes `output` when `input` is drained and every loop is done.
 */
export async function pumpStage<I, O>(
  input: BoundedQueue<I>,
  output: BoundedQueue<O>,
  concurrency: number,
  fn: (item: I) => Promise<O | undefined>,
): Promise<void> {
  const loop = async (): Promise<void> => {
    for (;;) {
      const item = await input.take();
      if (item === undefined) return;
      const out = await fn(item);
      if (out !== undefined) await output.push(out);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, loop));
  } finally {
    output.close();
  }
}
