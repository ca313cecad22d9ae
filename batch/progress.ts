/**
 * Progress of a batch run: a cli-progress bar with rate and ETA on a terminal, a structured
 * JSON line every few seconds otherwise (CloudWatch Logs under AWS Batch).
 */
import cliProgress from 'cli-progress';

/** Counters at one moment. */
export interface ProgressSnapshot {
  /** Objects of this shard seen from the source so far. */
  listed: number;
  /** Whether the source is exhausted (so `listed` is the total). */
  listingDone: boolean;
  done: number;
  skipped: number;
  failed: number;
  /** Milliseconds since the start. */
  elapsedMs: number;
}

/** Something that shows progress. */
export interface ProgressReporter {
  update(s: ProgressSnapshot): void;
  stop(s: ProgressSnapshot): void;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Bar (true), JSON lines (false), or nothing ('off'). @default process.stderr.isTTY */
  tty?: boolean | 'off';
  /** Seconds between JSON lines. @default 10 */
  intervalSeconds?: number;
  /** Where JSON lines go. @default a line on stderr */
  log?: (line: string) => void;
  /** Stream of the bar. @default process.stderr */
  stream?: NodeJS.WritableStream;
}

function rateOf(s: ProgressSnapshot): number {
  return s.elapsedMs > 0 ? ((s.done + s.failed) * 1000) / s.elapsedMs : 0;
}

/** Creates the reporter that suits the output. */
export function createProgress(opts: ProgressOptions = {}): ProgressReporter {
  const mode = opts.tty ?? Boolean(process.stderr.isTTY);
  if (mode === 'off') return { update: () => undefined, stop: () => undefined };
  if (mode) {
    const bar = new cliProgress.SingleBar(
      {
        format: '{bar} {value}/{total}{more} | {rate} img/s | ETA {eta_formatted} | skipped {skipped} | failed {failed}',
        etaBuffer: 200,
        hideCursor: true,
        stream: opts.stream ?? process.stderr,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    const payload = (s: ProgressSnapshot): object => ({ rate: rateOf(s).toFixed(1), skipped: s.skipped, failed: s.failed, more: s.listingDone ? '' : '+' });
    return {
      update(s) {
        const value = s.done + s.skipped + s.failed;
        if (!started) {
          bar.start(Math.max(1, s.listed), value, payload(s));
          started = true;
        }
        bar.setTotal(Math.max(1, s.listed));
        bar.update(value, payload(s));
      },
      stop(s) {
        if (started) {
          bar.update(s.done + s.skipped + s.failed, payload(s));
          bar.stop();
        }
      },
    };
  }
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const every = (opts.intervalSeconds ?? 10) * 1000;
  let last = 0;
  const line = (s: ProgressSnapshot, final: boolean): string => {
    const rate = rateOf(s);
    const left = s.listed - s.done - s.skipped - s.failed;
    return JSON.stringify({
      type: final ? 'progress-final' : 'progress',
      ...s,
      imagesPerSecond: Number(rate.toFixed(2)),
      etaSeconds: s.listingDone && rate > 0 ? Math.round(left / rate) : null,
    });
  };
  return {
    update(s) {
      if (s.elapsedMs - last < every) return;
      last = s.elapsedMs;
      log(line(s, false));
    },
    stop(s) {
      log(line(s, true));
    },
  };
}
