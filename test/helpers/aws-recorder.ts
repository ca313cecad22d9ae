/**
 * A recording proxy for the AWS calls a process under test makes: it sits between the process and
 * a local endpoint (s3rver, the local SQS endpoint) or answers itself (AWS Batch), forwards every
 * request unchanged (the Host header too, so SigV4 signatures still verify), and records each as an
 * {@link AwsCall}: service, operation, bucket/key or queue, and the status the endpoint answered.
 * Recording on the wire needs no change to the bundled code: the process only gets another endpoint.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';

import { forwardRequest, listenLocal } from './http-proxy.js';

/** The services the functions and the batch worker call. */
export type AwsService = 's3' | 'sqs' | 'batch';

/** One request seen by the proxy. */
export interface AwsCall {
  readonly service: AwsService;
  /** API operation, e.g. `ListObjectsV2`, `HeadObject`, `SendMessageBatch`, `SubmitJob`. */
  readonly operation: string;
  /** HTTP status the endpoint answered. */
  readonly status: number;
  readonly bucket?: string;
  /** Decoded object key. */
  readonly key?: string;
  /** `versionId` query parameter (a versioned read or tagging call). */
  readonly versionId?: string;
  /** ListObjectsV2 `prefix`. */
  readonly prefix?: string;
  /** PutObject with an `x-amz-tagging` header also needs s3:PutObjectTagging. */
  readonly withTagging?: boolean;
  /** CopyObject's source, `bucket/key`. */
  readonly copySource?: string;
  /** SQS QueueUrl of the request. */
  readonly queueUrl?: string;
  /** Batch SubmitJob's jobQueue and jobDefinition. */
  readonly jobQueue?: string;
  readonly jobDefinition?: string;
}

/** A running proxy. */
export interface RecordingProxy {
  /** `http://127.0.0.1:<port>`: give it to the process instead of the endpoint. */
  readonly endpoint: string;
  /** Calls so far, in arrival order. */
  readonly calls: AwsCall[];
  close(): Promise<void>;
}

/** The S3 REST operation of a path-style request (`/bucket/key?query`). */
export function s3Operation(method: string, url: URL, headers: http.IncomingHttpHeaders): Omit<AwsCall, 'service' | 'status'> {
  const [, bucket = '', ...rest] = url.pathname.split('/');
  const key = decodeURIComponent(rest.join('/'));
  const q = url.searchParams;
  const at = { bucket: decodeURIComponent(bucket), ...(key ? { key } : {}), ...(q.get('versionId') ? { versionId: q.get('versionId')! } : {}) };
  if (!key) {
    if (method === 'GET' && q.get('list-type') === '2') return { operation: 'ListObjectsV2', ...at, prefix: q.get('prefix') ?? '' };
    if (method === 'GET' && q.has('versions')) return { operation: 'ListObjectVersions', ...at, prefix: q.get('prefix') ?? '' };
    if (method === 'GET' && [...q.keys()].length === 0) return { operation: 'ListObjects', ...at, prefix: '' };
    if (method === 'HEAD') return { operation: 'HeadBucket', ...at };
    if (method === 'POST' && q.has('delete')) return { operation: 'DeleteObjects', ...at };
    return { operation: `${method} bucket ?${[...q.keys()].join('&')}`, ...at };
  }
  if (q.has('tagging')) return { operation: ({ GET: 'GetObjectTagging', PUT: 'PutObjectTagging', DELETE: 'DeleteObjectTagging' } as Record<string, string>)[method] ?? `${method} ?tagging`, ...at };
  if (q.has('uploads') && method === 'POST') return { operation: 'CreateMultipartUpload', ...at };
  if (q.has('uploadId')) return { operation: ({ PUT: 'UploadPart', POST: 'CompleteMultipartUpload', DELETE: 'AbortMultipartUpload', GET: 'ListParts' } as Record<string, string>)[method] ?? `${method} ?uploadId`, ...at };
  switch (method) {
    case 'GET': return { operation: 'GetObject', ...at };
    case 'HEAD': return { operation: 'HeadObject', ...at };
    case 'DELETE': return { operation: 'DeleteObject', ...at };
    case 'PUT': {
      const source = headers['x-amz-copy-source'];
      if (typeof source === 'string') return { operation: 'CopyObject', ...at, copySource: decodeURIComponent(source.replace(/^\//, '').split('?')[0]!) };
      return { operation: 'PutObject', ...at, ...(headers['x-amz-tagging'] ? { withTagging: true } : {}) };
    }
    default: return { operation: `${method} object`, ...at };
  }
}

/** The SQS operation of an AWS JSON 1.0 request (`X-Amz-Target: AmazonSQS.<Operation>`). */
export function sqsOperation(headers: http.IncomingHttpHeaders, body: Buffer): Omit<AwsCall, 'service' | 'status'> {
  const target = String(headers['x-amz-target'] ?? '');
  let queueUrl: string | undefined;
  try {
    queueUrl = (JSON.parse(body.toString('utf8')) as { QueueUrl?: string }).QueueUrl;
  } catch {
    // A query-protocol request has no JSON body; its operation then reads as unknown below.
  }
  return { operation: target.startsWith('AmazonSQS.') ? target.slice('AmazonSQS.'.length) : `unknown (${target || 'no X-Amz-Target'})`, ...(queueUrl ? { queueUrl } : {}) };
}

/** The AWS Batch operation of a REST-JSON request (`POST /v1/<operation>`). */
export function batchOperation(url: URL, body: Buffer): Omit<AwsCall, 'service' | 'status'> {
  const op = url.pathname.replace(/^\/v1\//, '');
  if (op === 'submitjob') {
    const input = JSON.parse(body.toString('utf8')) as { jobQueue?: string; jobDefinition?: string };
    return { operation: 'SubmitJob', ...(input.jobQueue ? { jobQueue: input.jobQueue } : {}), ...(input.jobDefinition ? { jobDefinition: input.jobDefinition } : {}) };
  }
  return { operation: `unknown (${url.pathname})` };
}

/** A Batch endpoint's answer: SubmitJob succeeds with a fresh job id, anything else is refused. */
function answerBatch(url: URL, body: Buffer): { status: number; body: string } {
  const call = batchOperation(url, body);
  if (call.operation !== 'SubmitJob') return { status: 400, body: JSON.stringify({ __type: 'ClientException', message: `${url.pathname} is not answered here` }) };
  const input = JSON.parse(body.toString('utf8')) as { jobName: string };
  const jobId = randomUUID();
  return { status: 200, body: JSON.stringify({ jobId, jobName: input.jobName, jobArn: `arn:aws:batch:us-east-1:123456789012:job/${jobId}` }) };
}

/** Options of {@link startRecordingProxy}. */
export interface RecordingProxyOptions {
  /**
   * s3rver keeps no versions and answers a read with `?versionId=` as a plain read without a
   * version header. With this set, such an answer carries `x-amz-version-id` with the requested
   * id, as S3 answers a read of that version, so the caller goes on as it would against a
   * versioned bucket (tagging that version). Objects written locally have one version only.
   * @default false
   */
  readonly echoVersionId?: boolean;
}

/**
 * Starts a recording proxy on 127.0.0.1.
 * @param service - how requests are read.
 * @param target - endpoint to forward to; for `batch`, omitted: the proxy answers SubmitJob itself.
 */
export async function startRecordingProxy(service: AwsService, target?: string, opts: RecordingProxyOptions = {}): Promise<RecordingProxy> {
  if (service !== 'batch' && !target) throw new Error(`A ${service} recording proxy needs the endpoint to forward to.`);
  const to = target ? new URL(target) : undefined;
  const calls: AwsCall[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://proxy');
      const method = req.method ?? 'GET';
      const op = service === 's3' ? s3Operation(method, url, req.headers) : service === 'sqs' ? sqsOperation(req.headers, body) : batchOperation(url, body);
      const record = (status: number): void => {
        calls.push({ service, status, ...op });
      };
      if (!to) {
        const answer = answerBatch(url, body);
        record(answer.status);
        res.writeHead(answer.status, { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID() });
        res.end(answer.body);
        return;
      }
      forwardRequest(req, res, to, body, {
        onResponse: (status) => {
          record(status);
          const version = opts.echoVersionId && service === 's3' && (method === 'GET' || method === 'HEAD') && status === 200 ? op.versionId : undefined;
          return version ? { 'x-amz-version-id': version } : undefined;
        },
        onError: () => record(502),
      });
    });
  });
  const { endpoint, close } = await listenLocal(server);
  return { endpoint, calls, close };
}
