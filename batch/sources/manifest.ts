/**
 * The run manifest: one JSON line per object (done / skipped / failed with a code), appended to
 * a local file. Lines are buffered briefly, written with one `write` per flush and fsynced at
 * intervals, so a `kill -9` loses at most the last unflushed second of lines and never tears a
 * line that was written. The manifest is advisory: on a rerun, the result objects in S3 are the
 * truth (an object whose line was lost is found labelled and reported `skipped`).
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** What happened to one object. */
export type ManifestStatus = 'done' | 'skipped' | 'failed';

/** One line of the manifest. */
export interface ManifestLine {
  /** Source bucket (absent for local files). */
  bucket?: string;
  key: string;
  status: ManifestStatus;
  /** Error code for `failed` (a ResnetError code, `STORAGE_UNAVAILABLE`, `INTERNAL`); reason for `skipped`. */
  code?: string;
  message?: string;
  /** Source ETag (no quotes), when known. */
  etag?: string;
  /** Top-1 class name, for `done`. */
  label?: string;
  /** Where the result was written. */
  result?: string;
  /** ISO 8601 time. */
  at: string;
}

/** Options of {@link ManifestWriter.open}. */
export interface ManifestOptions {
  /** Buffered lines are written at least this often, in milliseconds. @default 500 */
  flushMs?: number;
  /** The file is fsynced at least this often, in milliseconds. @default 5000 */
  fsyncMs?: number;
  /** Buffered lines that force a write. @default 256 */
  maxBuffered?: number;
}

/** Append-only JSONL writer. */
export class ManifestWriter {
  private buffer: string[] = [];
  private chain: Promise<void> = Promise.resolve();
  private lastSync = Date.now();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** Lines accepted so far. */
  lines = 0;

  private constructor(
    private readonly fh: FileHandle,
    /** Absolute path of the file. */
    readonly path: string,
    private readonly opts: Required<ManifestOptions>,
  ) {
    this.timer = setInterval(() => void this.flush(), opts.flushMs);
    this.timer.unref();
  }

  /** Opens (creates or appends to) the manifest file. */
  static async open(file: string, opts: ManifestOptions = {}): Promise<ManifestWriter> {
    const abs = path.resolve(file);
    await mkdir(path.dirname(abs), { recursive: true });
    const fh = await open(abs, 'a');
    return new ManifestWriter(fh, abs, { flushMs: opts.flushMs ?? 500, fsyncMs: opts.fsyncMs ?? 5000, maxBuffered: opts.maxBuffered ?? 256 });
  }

  /** Adds a line (written at the next flush). */
  append(line: Omit<ManifestLine, 'at'> & { at?: string }): void {
    if (this.closed) throw new Error('manifest is closed');
    const full: ManifestLine = { ...line, at: line.at ?? new Date().toISOString() };
    this.buffer.push(`${JSON.stringify(full)}\n`);
    this.lines++;
    if (this.buffer.length >= this.opts.maxBuffered) void this.flush();
  }

  /** Writes buffered lines; fsyncs when `sync` or when the fsync interval has passed. */
  flush(sync = false): Promise<void> {
    const data = this.buffer.join('');
    this.buffer = [];
    this.chain = this.chain.then(async () => {
      if (data) await this.fh.write(data);
      if (sync || Date.now() - this.lastSync >= this.opts.fsyncMs) {
        await this.fh.sync();
        this.lastSync = Date.now();
      }
    });
    return this.chain;
  }

  /** Flushes, fsyncs and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    await this.flush(true);
    this.closed = true;
    await this.fh.close();
  }
}
