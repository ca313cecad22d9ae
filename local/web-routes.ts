/**
 * The local stack's web page and the two read-only routes only it uses: GET /recent (stored
 * results, paged and filtered, each with a presigned GET of its image for the thumbnail) and
 * GET /objects/{key} (an object's size, tags and result, polled after an upload). The page's
 * files (local/web/) are read from disk; nothing is loaded from another host.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

import { wholeNumberParam, type FunctionConfig } from '../functions/index.js';
import { isValidObjectKey } from '../labelling/events.js';
import { s3StatusOf } from '../labelling/errors.js';
import { readResult, resultKey, type ResultDoc } from '../labelling/results.js';
import { sendJsonError } from './http-adapter.js';
import { listResults, readPage } from './recent-results.js';

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** Largest page of GET /recent. */
const MAX_LIMIT = 100;
/** Lifetime of the thumbnails' presigned GET URLs, in seconds. */
const IMAGE_URL_TTL = 900;

/**
 * The folder of the page's files: `local/web/` beside this module when run from source (tsx,
 * Jest), or the source tree's `local/web/` when run from `dist/local/`.
 */
export function webAssetsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'web'), path.resolve(here, '../../local/web')];
  const found = candidates.find((d) => existsSync(path.join(d, 'index.html')));
  if (found === undefined) throw new Error(`the web page's files are missing (looked in ${candidates.join(', ')})`);
  return found;
}

/** What the routes read from. */
export interface WebRoutesOptions {
  s3: S3Client;
  /** The S3 endpoint the browser reaches (thumbnails and uploads go there directly). */
  s3Endpoint: string;
  config: FunctionConfig;
  bucket: string;
  modelId: string;
}

function sendJson(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

function intParam(url: URL, name: string, dflt: number, max: number): number | null {
  const raw = url.searchParams.get(name);
  return raw === null ? dflt : wholeNumberParam(raw, 0, max);
}

/**
 * Builds the handler of the page's routes; it answers true when it served the request, false
 * for any other route (left to the classify API).
 */
export function createWebRoutes(o: WebRoutesOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const dir = webAssetsDir();
  const resultsBucket = o.config.resultsBucket ?? o.bucket;
  // The page may talk to this server and the local S3 only (uploads, thumbnails): no CDN, no fonts.
  const csp = `default-src 'self'; img-src 'self' blob: data: ${o.s3Endpoint}; connect-src 'self' ${o.s3Endpoint}; object-src 'none'; base-uri 'none'; form-action 'self'`;
  const imageUrl = (key: string): Promise<string> => getSignedUrl(o.s3, new GetObjectCommand({ Bucket: o.bucket, Key: key }), { expiresIn: IMAGE_URL_TTL });
  const withImage = async (doc: ResultDoc) => ({ ...doc, imageUrl: await imageUrl(doc.key) });

  async function recent(url: URL, res: ServerResponse): Promise<void> {
    const limit = intParam(url, 'limit', 12, MAX_LIMIT);
    const offset = intParam(url, 'offset', 0, Number.MAX_SAFE_INTEGER);
    if (limit === null || limit === 0 || offset === null) {
      sendJsonError(res, 400, 'INVALID_ARGUMENT', `limit must be a whole number from 1 to ${MAX_LIMIT} and offset a whole number >= 0.`);
      return;
    }
    const label = url.searchParams.get('label') ?? undefined;
    const entries = await listResults(o.s3, resultsBucket, `${o.config.resultsPrefix}${o.modelId}/${o.bucket}/`);
    const page = await readPage(entries, async (k) => (await readResult(o.s3, resultsBucket, k))?.doc ?? null, { limit, offset, ...(label ? { label } : {}) });
    sendJson(res, { ...page, results: await Promise.all(page.results.map(withImage)) });
  }

  async function object(key: string, res: ServerResponse): Promise<void> {
    let head;
    try {
      head = await o.s3.send(new HeadObjectCommand({ Bucket: o.bucket, Key: key }));
    } catch (err) {
      if (s3StatusOf(err) !== 404) throw err;
      sendJson(res, { bucket: o.bucket, key, object: null, tags: [], result: null, imageUrl: null });
      return;
    }
    const [tagging, stored] = await Promise.all([
      o.s3.send(new GetObjectTaggingCommand({ Bucket: o.bucket, Key: key })),
      readResult(o.s3, resultsBucket, resultKey(o.config.resultsPrefix, o.bucket, key, o.modelId)),
    ]);
    sendJson(res, {
      bucket: o.bucket,
      key,
      object: { size: head.ContentLength ?? 0, lastModified: head.LastModified?.toISOString() ?? null, contentType: head.ContentType ?? null },
      tags: (tagging.TagSet ?? []).map((t) => ({ key: t.Key ?? '', value: t.Value ?? '' })),
      result: stored?.doc ?? null,
      imageUrl: await imageUrl(key),
    });
  }

  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const asset = ASSETS[url.pathname];
    if (asset) {
      const body = await readFile(path.join(dir, asset.file));
      res.writeHead(200, { 'content-type': asset.type, 'content-length': String(body.length), 'cache-control': 'no-cache', 'content-security-policy': csp, 'x-content-type-options': 'nosniff' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    if (url.pathname === '/recent') {
      await recent(url, res);
      return true;
    }
    if (url.pathname.startsWith('/objects/')) {
      let key: string;
      try {
        key = decodeURIComponent(url.pathname.slice('/objects/'.length));
      } catch {
        sendJsonError(res, 400, 'MALFORMED_REQUEST', 'The object key is not valid percent-encoding.');
        return true;
      }
      if (key === '') sendJsonError(res, 400, 'MALFORMED_REQUEST', 'GET /objects/{key} needs an object key.');
      else if (!isValidObjectKey(key)) sendJsonError(res, 400, 'MALFORMED_REQUEST', 'The key in GET /objects/{key} is not a valid S3 object key (at most 1,024 bytes of UTF-8, no NUL).');
      else await object(key, res);
      return true;
    }
    return false;
  };
}
