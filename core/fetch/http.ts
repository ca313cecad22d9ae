/**
 * One HTTP(S) GET over node:http(s) with redirects and a stall timeout, and the errors that sort its
 * failures into permanent, transient and unreachable.
 */
import { type Hash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { Transform, type TransformCallback } from 'node:stream';

import type { FetchFileOptions, ProgressCallback } from './types.js';

/** An HTTP answer that retrying the same URL will not change (404, 403, 410…). */
export class PermanentHttpError extends Error {
  constructor(readonly status: number, detail?: string) {
    super(status > 0 ? `HTTP ${status}${detail ? ` (${detail})` : ''}` : (detail ?? 'request failed'));
  }
}

/** A failure worth retrying: reset, 5xx, stall, truncated body, server ignoring our range. */
export class TransientError extends Error {
  constructor(message: string, readonly immediate = false, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The host cannot be reached at all (refused, no DNS, no route): retrying the same host now is pointless. */
export class UnreachableError extends Error {}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ENETUNREACH', 'EHOSTUNREACH', 'EAI_NONAME']);

export const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

interface OpenResponse {
  res: http.IncomingMessage;
  req: http.ClientRequest;
  finalUrl: string;
}

/** GET with redirects followed; rejects with Unreachable/Transient/Permanent errors. */
export function get(url: string, headers: Record<string, string>, opts: Required<Pick<FetchFileOptions, 'maxRedirects' | 'stallTimeoutMs'>>): Promise<OpenResponse> {
  return new Promise<OpenResponse>((resolve, reject) => {
    const go = (current: string, hops: number): void => {
      let u: URL;
      try {
        u = new URL(current);
      } catch (err) {
        reject(new PermanentHttpError(0, `invalid URL ${current}: ${(err as Error).message}`));
        return;
      }
      const lib = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : null;
      if (!lib) {
        reject(new PermanentHttpError(0, `unsupported protocol in ${current}`));
        return;
      }
      const req = lib.get(u, { headers: { 'user-agent': 'resnet-serverless', 'accept-encoding': 'identity', ...headers } });
      req.setTimeout(opts.stallTimeoutMs, () => req.destroy(new TransientError(`no data from ${u.host} for ${opts.stallTimeoutMs} ms`)));
      req.on('error', (err) => {
        const code = errnoCode(err);
        if (code && UNREACHABLE_CODES.has(code)) reject(new UnreachableError(`${u.host}: ${code}`, { cause: err }));
        else if (err instanceof TransientError) reject(err);
        else reject(new TransientError(`${u.host}: ${code ?? err.message}`, false, { cause: err }));
      });
      req.once('response', (res) => {
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if ([301, 302, 303, 307, 308].includes(status) && location) {
          res.resume();
          if (hops >= opts.maxRedirects) {
            reject(new PermanentHttpError(status, `more than ${opts.maxRedirects} redirects, last ${current}`));
            return;
          }
          go(new URL(location, current).toString(), hops + 1);
          return;
        }
        resolve({ res, req, finalUrl: current });
      });
    };
    go(url, 0);
  });
}

/** Counts, hashes and reports bytes as they pass; fails fast when more arrive than expected. */
export class Meter extends Transform {
  constructor(
    private readonly sha: Hash,
    private readonly md5: Hash,
    public done: number,
    private readonly total: number,
    private readonly maxBytes: number | undefined,
    private readonly onProgress: ProgressCallback | undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.done += chunk.length;
    if (this.maxBytes !== undefined && this.done > this.maxBytes) {
      cb(new OversizeError(this.done, this.maxBytes));
      return;
    }
    this.sha.update(chunk);
    this.md5.update(chunk);
    this.onProgress?.(this.done, this.total);
    cb(null, chunk);
  }
}

export class OversizeError extends Error {
  constructor(readonly got: number, readonly max: number) {
    super(`more than ${max} bytes received`);
  }
}

export async function readMd5(url: string, o: Required<Pick<FetchFileOptions, 'maxRedirects' | 'stallTimeoutMs'>>): Promise<string> {
  const { res } = await get(url, {}, o);
  const status = res.statusCode ?? 0;
  if (status !== 200) {
    res.resume();
    if (TRANSIENT_STATUS.has(status)) throw new TransientError(`HTTP ${status} from ${url}`);
    throw new PermanentHttpError(status, `checksum file ${url}`);
  }
  let text = '';
  for await (const chunk of res) {
    text += (chunk as Buffer).toString('utf8');
    if (text.length > 4096) break;
  }
  res.destroy();
  const m = /^\s*([0-9a-fA-F]{32})\b/.exec(text);
  if (!m) throw new PermanentHttpError(0, `no MD5 digest in ${url}`);
  return m[1]!.toLowerCase();
}
