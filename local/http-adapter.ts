/**
 * Node http ⇄ API Gateway HTTP API (payload v2) translation for the local stack, with API
 * Gateway's limits: 10 MB request bodies (413 above), binary bodies base64-encoded, and a
 * concurrency gate that answers 429 when more requests wait than the stack can serve.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';

/** API Gateway's request payload limit, in bytes. */
export const API_GATEWAY_MAX_BODY = 10 * 1024 * 1024;

/** Lambda's synchronous invocation payload limit (the whole event JSON, base64 body included), in bytes. */
export const LAMBDA_MAX_PAYLOAD = 6 * 1024 * 1024;

/** Thrown by {@link readBody} when the body exceeds the limit. */
export class BodyTooLargeError extends Error {}

/**
 * Reads a request body up to `limit` bytes; beyond it, stops keeping chunks and rejects, leaving
 * the request open (leaving a `for await` loop would destroy the socket with the client's bytes
 * unread, and the kernel's reset can then destroy the 413 before the client reads it).
 */
export async function readBody(req: IncomingMessage, limit = API_GATEWAY_MAX_BODY): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) throw new BodyTooLargeError();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else {
        req.off('data', onData);
        req.pause();
        reject(new BodyTooLargeError());
      }
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

const TEXT_TYPES = /^(text\/|application\/(json|xml|x-www-form-urlencoded)|application\/[\w.+-]+\+(json|xml))/i;

/** Builds the HTTP API v2 event API Gateway would send for this request. */
export function toApiEvent(req: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  const method = (req.method ?? 'GET').toUpperCase();
  const text = TEXT_TYPES.test(headers['content-type'] ?? '');
  const resultsKey = url.pathname.startsWith('/results/') ? decodeURIComponent(url.pathname.slice('/results/'.length)) : undefined;
  const now = new Date();
  return {
    version: '2.0',
    routeKey: resultsKey !== undefined ? 'GET /results/{key+}' : `${method} ${url.pathname}`,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(resultsKey !== undefined ? { pathParameters: { key: resultsKey } } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: { method, path: url.pathname, protocol: `HTTP/${req.httpVersion}`, sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: headers['user-agent'] ?? '' },
      requestId: randomUUID(),
      routeKey: `${method} ${url.pathname}`,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length ? { body: text ? body.toString('utf8') : body.toString('base64'), isBase64Encoded: !text } : { isBase64Encoded: false }),
  };
}

/** Writes a handler's structured result to the node response. */
export function sendApiResult(res: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  const body = result.body === undefined ? Buffer.alloc(0) : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  res.writeHead(result.statusCode ?? 200, { ...(result.headers as Record<string, string> | undefined), 'content-length': String(body.length) });
  res.end(body);
}

/** Sends `{error:{code,message}}`. */
export function sendJsonError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

/** A Lambda context for one local invocation. */
export function localContext(functionName: string, timeoutMs = 30_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '3008',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * Admits at most `concurrency` requests at once and queues up to `queue` more; beyond that,
 * `tryEnter` answers false (→ 429), like a Lambda function at its reserved concurrency.
 */
export class ConcurrencyGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(
    readonly concurrency: number,
    readonly queue: number,
  ) {}

  /** Waits for a slot; resolves false at once when the queue is full. */
  async tryEnter(): Promise<boolean> {
    if (this.active < this.concurrency) {
      this.active++;
      return true;
    }
    if (this.waiting.length >= this.queue) return false;
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    return true;
  }

  leave(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}
