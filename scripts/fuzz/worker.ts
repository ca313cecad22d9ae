/**
 * The fuzzer's decode process (forked with an IPC channel): one input at a time through
 * {@link decodeOutcome}, so the parent can kill a decode that hangs and read the memory this
 * process takes (its own RSS, not shared with the parent's). With `scale`, it also returns
 * the project decoder's own pixels at that DCT scale for the differential check against djpeg.
 */
import { decodeJpeg } from '../../core/jpeg-decoder/index.js';
import { decodeOutcome, type Outcome } from './outcome.js';

/** A request to the worker. */
export interface WorkRequest {
  id: number;
  bytes: Uint8Array;
  minShortSide?: number;
  /** decodeImage's pixel limit. */
  maxPixels: number;
  /** When set, also decode with decodeJpeg at 1/scale (differential check). */
  scale?: 1 | 2 | 4 | 8;
}

/** The worker's answer. */
export interface WorkResult {
  id: number;
  result: Outcome;
  /** decodeJpeg's pixels at `scale`, or null when it declined or threw. */
  pixels?: { width: number; height: number; data: Uint8Array } | null;
  /** decodeJpeg's error message (numbers taken out) when it threw. */
  jpegError?: string;
  rss: number;
}

// jimp's GIF and TIFF decoders print warnings for damaged files; thousands of them would bury the report.
console.log = () => undefined;
console.warn = () => undefined;

process.on('message', (req: WorkRequest) => {
  void (async () => {
    const result = await decodeOutcome(req.bytes, req.maxPixels, req.minShortSide);
    let pixels: WorkResult['pixels'];
    let jpegError: string | undefined;
    if (req.scale !== undefined) {
      try {
        const img = decodeJpeg(req.bytes, req.scale);
        pixels = img ? { width: img.width, height: img.height, data: img.data } : null;
      } catch (err) {
        pixels = null;
        jpegError = (err instanceof Error ? err.message : String(err)).replace(/\d+/g, 'N');
      }
    }
    const msg: WorkResult = { id: req.id, result, ...(pixels !== undefined ? { pixels } : {}), ...(jpegError !== undefined ? { jpegError } : {}), rss: process.memoryUsage.rss() };
    process.send?.(msg);
  })();
});
