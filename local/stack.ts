/**
 * The local stack: an embedded S3 server (s3rver), the classify API on localhost backed by the
 * same Lambda handler, and S3 ObjectCreated events driving the s3-tagger handler with AWS's event
 * shape. Everything runs in one process, without an AWS account.
 *
 * Nothing uploaded stays unlabelled: the work queue lives in memory, so the deployed sweeper's
 * code runs at start-up (objects a crash left behind) and on a schedule (anything else missed),
 * and a stopping stack refuses new uploads before it drains what it accepted. Decoding and
 * inference run off the event loop, so a huge image does not stall the API or the S3 server.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import type { S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context, S3Event } from 'aws-lambda';
import S3rver from 's3rver';

import { InferenceThread } from '../batch/index.js';
import { Classifier } from '../core/classifier.js';
import type { SessionOptions } from '../core/session.js';
import {
  createClassifyApiHandler,
  createObservability,
  createS3TaggerHandler,
  isOwnOutput,
  labelAll,
  readConfig,
  type FunctionConfig,
  type FunctionDeps,
  type HandlerClassifier,
} from '../functions/index.js';
import { createS3Client } from '../labelling/aws-clients.js';
import { isTransientS3Error } from '../labelling/errors.js';
import type { ObjectJobMessage } from '../labelling/events.js';
import { BodyTooLargeError, ConcurrencyGate, LAMBDA_MAX_PAYLOAD, localContext, readBody, sendApiResult, sendJsonError, toApiEvent } from './http-adapter.js';
import { s3rverCompat } from './s3rver-compat.js';
import { decodeOffThread } from './off-thread.js';
import { toAwsEvent } from './s3-events.js';
import { sweepLocal } from './sweep.js';
import { createWebRoutes } from './web-routes.js';

/** Header that marks the stack's own S3 requests (the value is a per-process token). */
const INTERNAL_HEADER = 'x-resnet-local-internal';

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
  /**
   * Seconds between backlog sweeps (one also runs at start-up); 0 sweeps only at start-up.
   * @default 300
   */
  sweepIntervalSeconds?: number;
  /** Decode worker threads for a loaded Classifier (0 decodes on the event loop). @default 2 */
  decodeWorkers?: number;
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
  /**
   * Tagger invocations done and failed after all retries; objects the sweeps found without a
   * result (`swept`); uploads refused because the stack was stopping (`refused`).
   */
  stats: { tagged: number; failed: number; swept: number; refused: number };
  /** Runs one backlog sweep now (as at start-up) and resolves with how many objects it queued. */
  sweep(): Promise<number>;
  /**
   * Stops: refuses new uploads (503) and API requests, finishes the uploads in flight, labels
   * everything accepted, then closes the servers.
   */
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
  const owned = opts.classifier === undefined;
  const classifier: HandlerClassifier =
    opts.classifier ??
    (await Classifier.load({
      model: opts.model ?? 'resnet50-v2',
      download: opts.download ?? true,
      ...(opts.labels ? { labels: opts.labels } : {}),
      ...(opts.modelId ? { modelId: opts.modelId } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      // Inference on its own thread: onnxruntime's run would otherwise hold the event loop.
      openSession: (p: string, o: SessionOptions) => InferenceThread.create(p, o),
    }));
  const offThread = classifier instanceof Classifier && (opts.decodeWorkers ?? 2) > 0 ? await decodeOffThread(classifier, { workers: opts.decodeWorkers ?? 2 }) : null;

  await mkdir(dataDir, { recursive: true });
  // CORS lets the web page POST its presigned upload to the S3 port (another origin).
  const cors =
    '<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>POST</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>' +
    '<AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader></CORSRule></CORSConfiguration>';
  const s3rver = s3rverCompat(new S3rver({ address: host, port: opts.s3Port ?? 4568, directory: dataDir, silent: !opts.verbose, configureBuckets: [{ name: bucket, configs: [cors] }] }));
  const s3Port = (await s3rver.run()).port;
  const s3Endpoint = `http://${host}:${s3Port}`;
  const s3 = localS3Client(s3Endpoint);
  // The stack's own requests carry a token, so that a stopping stack can refuse other writers'
  // uploads and still write its tags and results.
  const token = randomUUID();
  const internal = localS3Client(s3Endpoint);
  internal.middlewareStack.add(
    (next) => async (args) => {
      const req = args.request as { headers?: Record<string, string> };
      if (req.headers) req.headers[INTERNAL_HEADER] = token;
      return next(args);
    },
    { step: 'build', name: 'resnetLocalInternal' },
  );
  const stats = { tagged: 0, failed: 0, swept: 0, refused: 0 };
  let closing = false;
  let writesInFlight = 0;
  const s3Http = s3rver.httpServer!;
  const [s3App] = s3Http.listeners('request') as Array<(req: http.IncomingMessage, res: http.ServerResponse) => void>;
  s3Http.removeAllListeners('request');
  s3Http.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const write = req.method === 'PUT' || req.method === 'POST' || req.method === 'DELETE';
    if (write && req.headers[INTERNAL_HEADER] !== token) {
      if (closing) {
        stats.refused++;
        req.resume();
        res.writeHead(503, { 'content-type': 'application/xml', 'retry-after': '5', connection: 'close' });
        res.end('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code><Message>The local stack is stopping; upload again once it has restarted.</Message></Error>');
        return;
      }
      // Uploads already accepted are finished (and their events queued) before the stack drains.
      writesInFlight++;
      res.once('close', () => writesInFlight--);
    }
    s3App!.call(s3Http, req, res);
  });

  const config: FunctionConfig = { ...readConfig(process.env), inputBucket: bucket };
  const deps: FunctionDeps = { s3: internal, classifier: async () => classifier, config, obs: createObservability('local') };
  const api = createClassifyApiHandler(deps) as unknown as (e: APIGatewayProxyEventV2, c: Context) => Promise<APIGatewayProxyStructuredResultV2>;
  const tagger = createS3TaggerHandler({ ...deps, obs: createObservability('local-tagger') }) as unknown as (e: S3Event, c: Context) => Promise<void>;

  // The work queue: one invocation at a time, retried on transient failure like Lambda's async
  // invoke. S3 events go to the s3-tagger; the sweeps' jobs to the sqs-worker's labelling step.
  let chain: Promise<void> = Promise.resolve();
  let queued = 0;
  const retries = opts.taggerRetries ?? 2;
  const enqueue = (what: string, run: () => Promise<unknown>): void => {
    queued++;
    chain = chain.then(async () => {
      try {
        for (let attempt = 0; ; attempt++) {
          try {
            await run();
            stats.tagged++;
            return;
          } catch (err) {
            if (attempt >= retries || !isTransientS3Error(err)) {
              stats.failed++;
              deps.obs.logger.error(`${what} failed (would go to the DLQ; the next sweep tries again)`, { error: err instanceof Error ? err.message : String(err) });
              return;
            }
            await new Promise((r) => setTimeout(r, 1000 * 2 ** attempt));
          }
        }
      } finally {
        queued--;
      }
    });
  };
  s3rver.on('event', (e) => {
    const event = toAwsEvent(e, bucket);
    if (!event || event.Records.every((r) => isOwnOutput(decodeURIComponent(r.s3.object.key.replace(/\+/g, ' ')), config))) return;
    enqueue('s3-tagger invocation', () => tagger(event, localContext('s3-tagger', 900_000)));
  });
  const modelId = classifier.modelId;
  let sweeping: Promise<number> | null = null;
  const runSweep = (): Promise<number> => {
    sweeping ??= sweepLocal(
      internal,
      { bucket, model: modelId, resultsPrefix: config.resultsPrefix, ...(config.resultsBucket ? { resultsBucket: config.resultsBucket } : {}), maxList: config.sweepMaxList },
      (job: ObjectJobMessage) => enqueue('sweep job', () => labelAll([job], deps, 'sqs-worker')),
    )
      .then((report) => {
        stats.swept += report.backlog;
        if (report.backlog > 0 || report.truncated) {
          deps.obs.logger.warn('sweep queued objects that had no result', { listed: report.listed, backlog: report.backlog, truncated: report.truncated, cursor: report.cursor });
        }
        return report.backlog;
      })
      .finally(() => {
        sweeping = null;
      });
    return sweeping;
  };
  // At start-up: whatever a crash (kill -9, power loss) left in the in-memory queue.
  await runSweep();
  // On a schedule, while the queue is empty (a busy queue's objects would be found again).
  const interval = (opts.sweepIntervalSeconds ?? 300) * 1000;
  const timer = interval > 0
    ? setInterval(() => {
        if (queued === 0 && !closing) runSweep().catch((err: unknown) => deps.obs.logger.error('sweep failed', { error: err instanceof Error ? err.message : String(err) }));
      }, interval)
    : null;
  timer?.unref();

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

  async function idle(): Promise<void> {
    // Events may still be arriving from requests just answered; wait until the chain is stable.
    let seen: Promise<void>;
    do {
      seen = chain;
      await seen;
      await new Promise((r) => setImmediate(r));
    } while (seen !== chain);
  }

  return {
    apiUrl: `http://${host}:${port}`,
    s3Endpoint,
    bucket,
    resultsPrefix: config.resultsPrefix,
    modelId: classifier.modelId,
    s3,
    stats,
    idle,
    sweep: runSweep,
    close: async () => {
      closing = true;
      if (timer) clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      // Uploads accepted before the stop finish, and their events join the queue; then it drains.
      while (writesInFlight > 0) await new Promise((r) => setTimeout(r, 20));
      await sweeping?.catch(() => 0);
      await idle();
      s3Http.closeAllConnections();
      await s3rver.close();
      await offThread?.close();
      if (owned && classifier instanceof Classifier) await classifier.dispose();
      s3.destroy();
      internal.destroy();
    },
  };
}
