/**
 * A small S3 over HTTP for `npm run bench:sweep`: enough of the REST API (path-style) for the sweep
 * and the batch worker — ListObjectsV2, HeadObject, GetObject, PutObject (with `If-None-Match: *`
 * and `If-Match`), Get/PutObjectTagging — and nothing else; signatures are not checked.
 *
 * Two kinds of bucket:
 * - `synth-<n>`: a listing stub of n objects `uploads/<9 digits>.jpg` whose results exist except
 *   for every tenth, computed from the index, so a million keys cost no memory in the server;
 * - any other name: an in-memory bucket (the state object, manifests, the batch job's objects).
 * It counts requests by operation, and PUTs per key (to prove that nothing is written twice).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { compareKeys } from '../labelling/key-order.js';

/** Results prefix and model of the synthetic buckets. */
export const STUB_RESULTS_PREFIX = 'resnet-results/';
export const STUB_MODEL = 'resnet50-v2';
/** Share of a synthetic bucket's objects without a result (every tenth). */
export const STUB_MISSING_EVERY = 10;

const LAST_MODIFIED = '2026-11-01T00:00:00.000Z';

interface Stored {
  body: Buffer;
  etag: string;
  tags: string;
}

/** A running stub. */
export interface S3Stub {
  endpoint: string;
  /** Requests by operation (`ListObjectsV2`, `HeadObject`, ...). */
  requests: Record<string, number>;
  /** Successful PutObject calls per `bucket/key`. */
  puts: Map<string, number>;
  /** Objects of an in-memory bucket. */
  bucket(name: string): Map<string, Stored>;
  close(): Promise<void>;
}

const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function synthKey(i: number): string {
  return `uploads/${String(i).padStart(9, '0')}.jpg`;
}

/** The synthetic bucket's keys under `prefix` after `after`, up to `max`: source keys, or result keys. */
function synthList(bucket: string, n: number, prefix: string, after: string, max: number): { keys: string[]; truncated: boolean } {
  const base = `${STUB_RESULTS_PREFIX}${STUB_MODEL}/${bucket}/`;
  const results = prefix.startsWith(base);
  const keyOf = (i: number): string => (results ? `${base}${synthKey(i)}.json` : synthKey(i));
  const has = (i: number): boolean => !results || i % STUB_MISSING_EVERY !== 0;
  // The bench lists whole prefixes ('uploads/' and its results prefix), which the first key has.
  if (n === 0 || !keyOf(0).startsWith(prefix)) return { keys: [], truncated: false };
  // First index whose key is after `after` (keys ascend with the index).
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareKeys(keyOf(mid), after) > 0) hi = mid;
    else lo = mid + 1;
  }
  const keys: string[] = [];
  let i = lo;
  for (; i < n && keys.length < max; i++) if (has(i) && keyOf(i).startsWith(prefix)) keys.push(keyOf(i));
  while (i < n && !(has(i) && keyOf(i).startsWith(prefix))) i++;
  return { keys, truncated: i < n };
}

function listXml(bucket: string, prefix: string, keys: readonly string[], truncated: boolean, maxKeys: number, size = (k: string) => k.length): string {
  const contents = keys
    .map((k) => `<Contents><Key>${xmlEscape(k)}</Key><LastModified>${LAST_MODIFIED}</LastModified><ETag>&quot;${createHash('md5').update(k).digest('hex')}&quot;</ETag><Size>${size(k)}</Size><StorageClass>STANDARD</StorageClass></Contents>`)
    .join('');
  const next = truncated && keys.length > 0 ? `<NextContinuationToken>${Buffer.from(keys[keys.length - 1]!, 'utf8').toString('base64')}</NextContinuationToken>` : '';
  return `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${xmlEscape(bucket)}</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${keys.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${next}${contents}</ListBucketResult>`;
}

function errorXml(code: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code}</Message><RequestId>STUB</RequestId></Error>`;
}

/** Starts the stub on 127.0.0.1 (a free port). */
export async function startS3Stub(): Promise<S3Stub> {
  const buckets = new Map<string, Map<string, Stored>>();
  const sorted = new Map<string, string[]>();
  const requests: Record<string, number> = {};
  const puts = new Map<string, number>();
  const bucket = (name: string): Map<string, Stored> => {
    let b = buckets.get(name);
    if (!b) buckets.set(name, (b = new Map()));
    return b;
  };
  const count = (op: string): void => {
    requests[op] = (requests[op] ?? 0) + 1;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stub');
      const [, name = '', ...rest] = url.pathname.split('/');
      const key = decodeURIComponent(rest.join('/'));
      const synth = /^synth-(\d+)$/.exec(name);
      const send = (status: number, body = '', headers: http.OutgoingHttpHeaders = {}): void => {
        res.writeHead(status, { 'content-length': Buffer.byteLength(body), ...(body ? { 'content-type': 'application/xml' } : {}), ...headers });
        res.end(body);
      };
      if (req.method === 'GET' && key === '' && url.searchParams.get('list-type') === '2') {
        count('ListObjectsV2');
        const prefix = url.searchParams.get('prefix') ?? '';
        const token = url.searchParams.get('continuation-token');
        const after = token ? Buffer.from(token, 'base64').toString('utf8') : (url.searchParams.get('start-after') ?? '');
        const max = Math.min(1000, Number(url.searchParams.get('max-keys') ?? 1000));
        if (synth) {
          const { keys, truncated } = synthList(name, Number(synth[1]), prefix, after, max);
          return send(200, listXml(name, prefix, keys, truncated, max));
        }
        let all = sorted.get(name);
        if (!all) sorted.set(name, (all = [...bucket(name).keys()].sort(compareKeys)));
        let lo = 0;
        let hi = all.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (compareKeys(all[mid]!, after) > 0) hi = mid;
          else lo = mid + 1;
        }
        const keys: string[] = [];
        let i = lo;
        for (; i < all.length && keys.length < max; i++) if (all[i]!.startsWith(prefix)) keys.push(all[i]!);
        while (i < all.length && !all[i]!.startsWith(prefix)) i++;
        return send(200, listXml(name, prefix, keys, i < all.length, max, (k) => bucket(name).get(k)?.body.length ?? 0));
      }
      const objects = bucket(name);
      const stored = objects.get(key);
      const synthHas = synth !== null && key.startsWith(`${STUB_RESULTS_PREFIX}${STUB_MODEL}/${name}/uploads/`) && Number(/(\d{9})\.jpg\.json$/.exec(key)?.[1] ?? 0) % STUB_MISSING_EVERY !== 0;
      const meta = (o: Stored): http.OutgoingHttpHeaders => ({ etag: o.etag, 'last-modified': new Date(LAST_MODIFIED).toUTCString() });
      if (url.searchParams.has('tagging')) {
        if (req.method === 'GET') {
          count('GetObjectTagging');
          if (!stored) return send(404, errorXml('NoSuchKey'));
          return send(200, `<?xml version="1.0" encoding="UTF-8"?>\n<Tagging><TagSet>${stored.tags}</TagSet></Tagging>`);
        }
        count('PutObjectTagging');
        if (!stored) return send(404, errorXml('NoSuchKey'));
        const body = Buffer.concat(chunks).toString('utf8');
        stored.tags = /<TagSet>([\s\S]*)<\/TagSet>/.exec(body)?.[1] ?? '';
        return send(200);
      }
      switch (req.method) {
        case 'HEAD':
          count('HeadObject');
          if (synthHas) return send(200, '', { etag: '"synth"' });
          return stored ? send(200, '', { ...meta(stored), 'content-length': stored.body.length }) : send(404);
        case 'GET':
          count('GetObject');
          if (!stored) return send(404, errorXml('NoSuchKey'));
          res.writeHead(200, { ...meta(stored), 'content-length': stored.body.length, 'content-type': 'application/octet-stream' });
          return res.end(stored.body);
        case 'PUT': {
          count('PutObject');
          const ifNone = req.headers['if-none-match'];
          const ifMatch = req.headers['if-match'];
          if ((ifNone === '*' && stored) || (ifMatch !== undefined && stored?.etag !== ifMatch)) return send(412, errorXml('PreconditionFailed'));
          const body = Buffer.concat(chunks);
          const etag = `"${createHash('md5').update(body).digest('hex')}"`;
          objects.set(key, { body, etag, tags: stored?.tags ?? '' });
          sorted.delete(name);
          puts.set(`${name}/${key}`, (puts.get(`${name}/${key}`) ?? 0) + 1);
          return send(200, '', { etag });
        }
        default:
          count(`other ${req.method}`);
          return send(501, errorXml('NotImplemented'));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    puts,
    bucket,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
