/**
 * One fuzz input through the product's decode entry (`decodeImage`), and what counts as a pass.
 * Passing: pixels of a consistent shape, or a typed error (`ResnetError` with a stable `code`).
 * Failing: anything else thrown, a `CORRUPT_IMAGE` that only wraps a JavaScript engine fault
 * (TypeError, RangeError, ...) raised in the project's own decoder code (a bug the wrapper
 * hides), or pixels whose buffer does not match their size. Engine faults inside third-party
 * decoders (jimp's PNG/GIF/BMP/TIFF plugins) are typed by the wrapper as the product promises;
 * they are counted apart ({@link Outcome.thirdPartyFault}) so the report shows them.
 */
import { decodeImage } from '../../core/decode.js';
import { ResnetError } from '../../core/errors.js';

/** What one input did. */
export interface Outcome {
  /** 'ok', an error code, 'UNTYPED' (a failure), 'BAD_OUTPUT' (a failure); the harness adds 'TIMEOUT' and 'MEMORY'. */
  outcome: string;
  /** Whether this outcome is a failure to be saved as a reproducer. */
  failure: boolean;
  /** The error's message and top stack frames, for reproducers. */
  detail?: string;
  /** A CORRUPT_IMAGE whose cause was an engine fault inside a third-party decoder. */
  thirdPartyFault?: boolean;
  /** Decoded size, for 'ok'. */
  width?: number;
  height?: number;
}

const ENGINE_FAULTS = new Set(['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', 'EvalError', 'URIError']);

/** True when the first stack frame of `err` is in the project's code (core/), not in node_modules. */
function thrownByProject(err: Error): boolean {
  const frame = (err.stack ?? '').split('\n').find((l) => /^\s+at /.test(l)) ?? '';
  return !frame.includes('node_modules') && /[/\\]core[/\\]/.test(frame);
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return `${err.name}: ${err.message}\n${(err.stack ?? '').split('\n').slice(1, 6).join('\n')}`;
}

/**
 * Decodes `bytes` as the product does and classifies the result.
 * @param maxPixels decodeImage's pixel limit
 * @param minShortSide passed to decodeImage (selects the JPEG DCT scale); undefined decodes at full size
 */
export async function decodeOutcome(bytes: Uint8Array, maxPixels: number, minShortSide?: number): Promise<Outcome> {
  try {
    const img = await decodeImage(bytes, { maxPixels, ...(minShortSide === undefined ? {} : { minShortSide }) });
    const ok = img.width > 0 && img.height > 0 && Number.isInteger(img.width) && Number.isInteger(img.height) && img.data.length === img.width * img.height * 3;
    return ok ? { outcome: 'ok', failure: false, width: img.width, height: img.height } : { outcome: 'BAD_OUTPUT', failure: true, detail: `${img.width}x${img.height} with ${img.data.length} bytes` };
  } catch (err) {
    if (!(err instanceof ResnetError)) return { outcome: 'UNTYPED', failure: true, detail: describe(err) };
    const cause = err.cause;
    if (err.code === 'CORRUPT_IMAGE' && cause instanceof Error && ENGINE_FAULTS.has(cause.name)) {
      if (thrownByProject(cause)) return { outcome: 'UNTYPED', failure: true, detail: `CORRUPT_IMAGE wrapping ${describe(cause)}` };
      return { outcome: err.code, failure: false, thirdPartyFault: true, detail: describe(cause) };
    }
    return { outcome: err.code, failure: false };
  }
}
