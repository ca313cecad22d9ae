/**
 * The local stack: an embedded S3 server (s3rver), the classify API on localhost backed by the
 * same Lambda handler, and S3 ObjectCreated events driving the s3-tagger handler with AWS's event
 * shape. Everything runs in one process, without an AWS account.
 */
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import type { S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context, S3Event } from 'aws-lambda';
import S3rver from 's3rver';

import { Classifier } from '../core/classifier.js';
import {
  createClassifyApiHandler,
  createObservability,
  createS3TaggerHandler,
  isOwnOutput,
  readConfig,
  type FunctionConfig,
  type FunctionDeps,
  type HandlerClassifier,
} from '../functions/index.js';
import { createS3Client } from '../labelling/aws-clients.js';
import { isTransientS3Error } from '../labelling/errors.js';
import { BodyTooLargeError, ConcurrencyGate, LAMBDA_MAX_PAYLOAD, localContext, readBody, sendApiResult, sendJsonError, toApiEvent } from './http-adapter.js';
import { s3rverCompat } from './s3rver-compat.js';
import { toAwsEvent } from './s3-events.js';
import { createWebRoutes } from './web-routes.js';

/** s3rver's fixed credentials; clients of the local stack must sign with them. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** Options of {@link startLocalStack}. */
export interface LocalStackOptions {
  /** Zoo id or path to an .onnx file. @default 'resnet50-v2' */
  model?: string;
  /** Labels file for a user's .onnx. */
  labels?: string;
  /** Id written into results. @default the zoo id or the file's base name */
  modelId?: string;
  /** A loaded classifier to use instead of loading `model` (tests). */
  classifier?: HandlerClassifier;
  /** Download a zoo model that is not cached. @default true */
  download?: boolean;
  /** Interface to bind. @default '127.0.0.1' */
  host?: string;
  /** API port; 0 picks a free one. @default 3000 */
  port?: number;
  /** S3 port; 0 picks a free one. @default 4568 */
  s3Port?: number;
  /** s3rver data folder. @default '.local-stack/s3' */
  dataDir?: string;
  /** Input bucket (created at start). @default 'resnet-input' */
  bucket?: string;
  /** Requests served at once by the API. @default 4 */
  concurrency?: number;
  /** Requests waiting beyond `concurrency` before the API answers 429. @default 64 */
  queue?: number;
  /** Retries of a tagger invocation after a transient failure (Lambda async invoke: 2). @default 2 */
  taggerRetries?: number;
  /** s3rver request logging. @default false */
  verbose?: boolean;
  /** Progress of a model download, in bytes. */
  onProgress?: (done: number, total: number) => void;
}

/** A running local stack. */
export interface LocalStack {
  apiUrl: string;
  s3Endpoint: string;
  bucket: string;
  resultsPrefix: string;
  modelId: string;
  /** Client for the local S3 (path style, s3rver credentials). */
  s3: S3Client;
  /** Resolves once every S3 event received so far has been handled by the tagger. */
  idle(): Promise<void>;
  /** Tagger invocations: done, and failed after all retries. */
  stats: { tagged: number; failed: number };
  close(): Promise<void>;
}

/** An S3 client for the local stack's S3 endpoint. */
export function localS3Client(endpoint: string): S3Client {
  return createS3Client({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/**
 * Starts s3rver, the API and the event wiring.
 * @throws the core's errors when the model cannot be loaded (e.g. MODEL_NOT_CACHED / DOWNLOAD_FAILED offline)
 */
export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const host = opts.host ?? '127.0.0.1';
  const bucket = opts.bucket ?? 'resnet-input';
  const dataDir = path.resolve(opts.dataDir ?? '.local-stack/s3');
  const classifier: HandlerClassifier =
    opts.classifier ??
    (await Classifier.load({
      model: opts.model ?? 'resnet50-v2',
      download: opts.download ?? true,
      ...(opts.labels ? { labels: opts.labels } : {}),
      ...(opts.modelId ? { modelId: opts.modelId } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    }));

  await mkdir(dataDir, { recursive: true });
  // CORS lets the web page PUT to the presigned URL on the S3 port (another origin).
  const cors =
    '<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>' +
    '<AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader></CORSRule></CORSConfiguration>';
  const s3rver = s3rverCompat(new S3rver({ address: host, port: opts.s3Port ?? 4568, directory: dataDir, silent: !opts.verbose, configureBuckets: [{ name: bucket, configs: [cors] }] }));
  const s3Port = (await s3rver.run()).port;
  const s3Endpoint = `http://${host}:${s3Port}`;
  const s3 = localS3Client(s3Endpoint);

  const config: FunctionConfig = { ...readConfig(process.env), inputBucket: bucket };
  const deps: FunctionDeps = { s3, classifier: async () => classifier, config, obs: createObservability('local') };
  const api = createClassifyApiHandler(deps) as unknown as (e: APIGatewayProxyEventV2, c: Context) => Promise<APIGatewayProxyStructuredResultV2>;
  const tagger = createS3TaggerHandler({ ...deps, obs: createObservability('local-tagger') }) as unknown as (e: S3Event, c: Context) => Promise<void>;

  // S3 → tagger: one invocation at a time, retried on transient failure like Lambda's async invoke.
  const stats = { tagged: 0, failed: 0 };
  let chain: Promise<void> = Promise.resolve();
  const retries = opts.taggerRetries ?? 2;
  s3rver.on('event', (e) => {
    const event = toAwsEvent(e, bucket);
    if (!event || event.Records.every((r) => isOwnOutput(decodeURIComponent(r.s3.object.key.replace(/\+/g, ' ')), config))) return;
    chain = chain.then(async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          await tagger(event, localContext('s3-tagger', 900_000));
          stats.tagged++;
          return;
        } catch (err) {
          if (attempt >= retries || !isTransientS3Error(err)) {
            stats.failed++;
            deps.obs.logger.error('s3-tagger invocation failed (would go to the DLQ)', { error: err instanceof Error ? err.message : String(err) });
            return;
          }
          await new Promise((r) => setTimeout(r, 1000 * 2 ** attempt));
        }
      }
    });
  });

  const web = createWebRoutes({ s3, s3Endpoint, config, bucket, modelId: classifier.modelId });
  const gate = new ConcurrencyGate(opts.concurrency ?? 4, opts.queue ?? 64);
  const server = http.createServer((req, res) => {
    void (async () => {
      if (await web(req, res)) return;
      if (!(await gate.tryEnter())) {
        req.resume();
        sendJsonError(res, 429, 'THROTTLED', 'Too many requests in flight; retry after a moment.', { 'retry-after': '1' });
        return;
      }
      try {
        const body = await readBody(req);
        const event = toApiEvent(req, body);
        // As in AWS: API Gateway took the body (<= 10 MB) but Lambda refuses an event over 6 MB,
        // and base64 makes binary bodies a third larger, so about 4.4 MB of image is the real limit.
        if (Buffer.byteLength(JSON.stringify(event)) > LAMBDA_MAX_PAYLOAD) {
          sendJsonError(res, 413, 'PAYLOAD_TOO_LARGE', 'The request exceeds Lambda\'s 6 MB payload limit (binary bodies grow by a third in base64); use POST /uploads for large images.');
          return;
        }
        sendApiResult(res, await api(event, localContext('classify-api')));
      } catch (err) {
        if (err instanceof BodyTooLargeError) {
          // Lingering close: closing (or answering "connection: close", on which node closes at
          // once) with the client's bytes unread makes the kernel answer with a reset that can
          // destroy the 413 before the client reads it. Discard (not keep) what still arrives for
          // up to 2 s, then close.
          sendJsonError(res, 413, 'PAYLOAD_TOO_LARGE', 'Request bodies are limited to 10 MB (API Gateway); use POST /uploads for larger images.');
          req.on('data', () => undefined).resume();
          setTimeout(() => req.destroy(), 2000).unref();
        } else if (err instanceof URIError) {
          // A path such as /results/%E0%A4%A: API Gateway refuses it before any function runs.
          sendJsonError(res, 400, 'MALFORMED_REQUEST', 'The request path has a malformed percent escape.');
        } else throw err;
      } finally {
        gate.leave();
      }
    })().catch((err: unknown) => {
      deps.obs.logger.error('local API failure', { error: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) sendJsonError(res, 500, 'INTERNAL', 'Local stack error; see its log.');
    });
  });
  // Longer than any client's idle reuse window: with the default 5 s, a client reusing a socket
  // just as the server closes it gets ECONNRESET (seen under load when decoding blocks the loop).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const port = await listen(server, opts.port ?? 3000, host);

  return {
    apiUrl: `http://${host}:${port}`,
    s3Endpoint,
    bucket,
    resultsPrefix: config.resultsPrefix,
    modelId: classifier.modelId,
    s3,
    stats,
    idle: async () => {
      // Events may still be arriving from requests just answered; wait until the chain is stable.
      let seen: Promise<void>;
      do {
        seen = chain;
        await seen;
        await new Promise((r) => setImmediate(r));
      } while (seen !== chain);
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await chain;
      s3rver.httpServer?.closeAllConnections();
      await s3rver.close();
      s3.destroy();
    },
  };
}
