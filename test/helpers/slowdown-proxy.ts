/**
 * A proxy in front of the local S3 that answers `503 SlowDown` (S3's throttling error, with S3's
 * XML body) for a share of requests (evenly spaced per kind) of chosen kinds, as S3 does while it repartitions a
 * prefix: the request is refused, not performed. Everything else is forwarded unchanged (the Host
 * header too, so SigV4 signatures still verify). It records what it refused and what reached S3.
 */
import http from 'node:http';

import { forwardRequest, listenLocal } from './http-proxy.js';


/** The kinds of S3 request the proxy tells apart. */
export type RequestKind = 'list' | 'get' | 'head' | 'put' | 'put-tagging' | 'get-tagging' | 'other';

/** One request that reached S3 through the proxy. */
export interface Forwarded {
  kind: RequestKind;
  /** Decoded `/bucket/key` path. */
  path: string;
  status: number;
}

/** A running proxy. */
export interface SlowDownProxy {
  endpoint: string;
  /** 503s answered, by kind. */
  refused: Record<string, number>;
  forwarded: Forwarded[];
  close(): Promise<void>;
}

function kindOf(req: http.IncomingMessage): RequestKind {
  const url = new URL(req.url ?? '/', 'http://x');
  const parts = url.pathname.split('/').filter(Boolean);
  const tagging = url.searchParams.has('tagging');
  if (req.method === 'GET' && parts.length <= 1) return 'list';
  if (req.method === 'GET') return tagging ? 'get-tagging' : 'get';
  if (req.method === 'HEAD') return 'head';
  if (req.method === 'PUT' && parts.length > 1) return tagging ? 'put-tagging' : 'put';
  return 'other';
}

const SLOW_DOWN = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>PROXY</RequestId></Error>';

/**
 * Starts the proxy on 127.0.0.1.
 * @param share - share of the requests of each kind answered 503 (absent kinds always pass): evenly
 *   spaced per kind, starting with the first request of the kind, so every kind that is requested
 *   at all is refused at least once whatever order concurrent requests arrive in
 */
export async function startSlowDownProxy(target: string, share: Partial<Record<RequestKind, number>>): Promise<SlowDownProxy> {
  const to = new URL(target);
  const refused: Record<string, number> = {};
  const seen: Record<string, number> = {};
  // Request n of a kind (from 0) is refused when the running count of refusals due steps up.
  const refuse = (kind: RequestKind): boolean => {
    const p = share[kind] ?? 0;
    if (!(p > 0)) return false;
    const n = seen[kind] ?? 0;
    seen[kind] = n + 1;
    const offset = Math.ceil(1 / p) - 1;
    return Math.floor((n + offset + 1) * p) > Math.floor((n + offset) * p);
  };
  const forwarded: Forwarded[] = [];
  const server = http.createServer((req, res) => {
    const kind = kindOf(req);
    if (refuse(kind)) {
      refused[kind] = (refused[kind] ?? 0) + 1;
      req.resume();
      req.on('end', () => {
        res.writeHead(503, { 'content-type': 'application/xml', 'x-amz-request-id': 'PROXY' });
        res.end(SLOW_DOWN);
      });
      return;
    }
    forwardRequest(req, res, to, undefined, {
      onResponse: (status) => {
        forwarded.push({ kind, path: decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname), status });
        return undefined;
      },
    });
  });
  const { endpoint, close } = await listenLocal(server);
  return { endpoint, refused, forwarded, close };
}
