/**
 * A throwaway HTTP server on 127.0.0.1 for download tests: records every request and lets
 * each test script the answers (ranges, truncation, redirects, errors).
 */
import http from 'node:http';

import { listenLocal } from './http-proxy.js';

export interface RecordedRequest {
  path: string;
  range?: string;
  ifRange?: string;
}

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

/** The n-th request (0-based, over the server's life) and its path. */
export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;

/** Starts a server on an ephemeral port. */
export async function startTestServer(handler: Handler): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const rec: RecordedRequest = { path: req.url ?? '' };
    if (typeof req.headers.range === 'string') rec.range = req.headers.range;
    if (typeof req.headers['if-range'] === 'string') rec.ifRange = req.headers['if-range'];
    requests.push(rec);
    handler(req, res, requests.length - 1);
  });
  const { endpoint, close } = await listenLocal(server);
  return { origin: endpoint, requests, close };
}

export interface SendOptions {
  /** Honour `Range: bytes=N-` with 206. @default true */
  ranges?: boolean;
  /** ETag header (strong). @default '"v1"' */
  etag?: string;
  /** Send full headers, then only this many body bytes, then drop the connection. */
  truncateAt?: number;
}

/** Answers a GET with `body`, as a static file server (or a misbehaving one) would. */
export function sendBody(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, opts: SendOptions = {}): void {
  const etag = opts.etag ?? '"v1"';
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const ifRange = req.headers['if-range'];
  let start = 0;
  if ((opts.ranges ?? true) && range && (ifRange === undefined || ifRange === etag)) {
    start = Number(range[1]);
    if (start >= body.length) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` });
      res.end();
      return;
    }
    res.writeHead(206, {
      'content-length': body.length - start,
      'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
      etag,
      'accept-ranges': 'bytes',
    });
  } else {
    res.writeHead(200, { 'content-length': body.length, etag, 'accept-ranges': (opts.ranges ?? true) ? 'bytes' : 'none' });
  }
  const slice = body.subarray(start);
  if (opts.truncateAt !== undefined && opts.truncateAt < slice.length) {
    res.write(slice.subarray(0, opts.truncateAt), () => {
      // Give the bytes a moment on the wire, then cut the connection mid-body.
      setTimeout(() => res.socket?.destroy(), 20);
    });
    return;
  }
  res.end(slice);
}
