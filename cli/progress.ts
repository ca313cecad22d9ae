import cliProgress from 'cli-progress';

/** A progress reporter: a bar on a terminal, silent otherwise (logs and pipes stay clean). */
export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

/**
 * A cli-progress bar on stderr when stderr is a TTY, else a no-op.
 * @param label text before the bar.
 * @param unit `bytes` shows MB, `items` shows counts.
 */
export function createProgress(label: string, unit: 'bytes' | 'items'): Progress {
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const format =
    unit === 'bytes'
      ? `${label} [{bar}] {percentage}% | {doneMB}/{totalMB} MB | ETA {eta_formatted}`
      : `${label} [{bar}] {percentage}% | {value}/{total} | {rate}/s | ETA {eta_formatted}`;
  const bar = new cliProgress.SingleBar({ format, stream: process.stderr, hideCursor: true, etaBuffer: 50 }, cliProgress.Presets.shades_classic);
  const started = Date.now();
  let begun = false;
  return {
    update(done, total) {
      const payload = {
        doneMB: (done / 1e6).toFixed(1),
        totalMB: (total / 1e6).toFixed(1),
        rate: (done / Math.max((Date.now() - started) / 1000, 1e-3)).toFixed(1),
      };
      if (!begun) {
        bar.start(Math.max(total, 1), done, payload);
        begun = true;
      } else {
        bar.setTotal(Math.max(total, 1));
        bar.update(done, payload);
      }
    },
    stop() {
      if (begun) bar.stop();
    },
  };
}
