/**
 * Event factories shaped exactly like AWS's payloads (typed with @types/aws-lambda), for driving
 * the handlers in the integration tests, the Lambda artefact test and `npm run bench:artifacts`.
 */
import { randomUUID } from 'node:crypto';

import type {
  APIGatewayProxyEventV2,
  Context,
  S3Event,
  S3EventRecord,
  ScheduledEvent,
  SQSEvent,
  SQSRecord,
} from 'aws-lambda';

import { encodeS3Key } from '../labelling/events.js';

/** Fields of one S3 ObjectCreated record; `key` is the real (decoded) key, encoded here as S3 does. */
export interface S3RecordSpec {
  bucket: string;
  key: string;
  etag?: string;
  size?: number;
  versionId?: string;
  sequencer?: string;
  eventName?: string;
  eventTime?: string;
}

let seq = 0x1a0000000000;
/** A monotonically increasing sequencer, like S3's per-key sequencers. */
export function nextSequencer(): string {
  seq += 1;
  return seq.toString(16).toUpperCase().padStart(16, '0');
}

/** One S3 notification record (eventVersion 2.1). */
export function s3Record(spec: S3RecordSpec): S3EventRecord {
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: spec.eventTime ?? new Date().toISOString(),
    eventName: spec.eventName ?? 'ObjectCreated:Put',
    userIdentity: { principalId: 'AWS:AIDAEXAMPLE' },
    requestParameters: { sourceIPAddress: '127.0.0.1' },
    responseElements: { 'x-amz-request-id': 'C3D13FE58DE4C810', 'x-amz-id-2': 'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'resnet-tagger',
      bucket: { name: spec.bucket, ownerIdentity: { principalId: 'A3NL1KOZZKExample' }, arn: `arn:aws:s3:::${spec.bucket}` },
      object: {
        key: encodeS3Key(spec.key),
        size: spec.size ?? 0,
        eTag: spec.etag ?? '',
        ...(spec.versionId ? { versionId: spec.versionId } : {}),
        sequencer: spec.sequencer ?? nextSequencer(),
      },
    },
  };
}

/** An S3 notification event with one record per spec. */
export function s3Event(...specs: S3RecordSpec[]): S3Event {
  return { Records: specs.map(s3Record) };
}

/** The `s3:TestEvent` S3 sends when a notification configuration is saved. */
export function s3TestEvent(bucket = 'input'): { Service: string; Event: 's3:TestEvent'; Time: string; Bucket: string; RequestId: string; HostId: string } {
  return { Service: 'Amazon S3', Event: 's3:TestEvent', Time: new Date().toISOString(), Bucket: bucket, RequestId: '5582815E1AEA5ADF', HostId: 'example' };
}

/** One SQS record with a JSON (or raw string) body. */
export function sqsRecord(body: unknown, messageId: string = randomUUID()): SQSRecord {
  return {
    messageId,
    receiptHandle: `AQEB${messageId}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:resnet-jobs',
    awsRegion: 'us-east-1',
  };
}

/** An SQS event; each body becomes one record (ids `msg-0`, `msg-1`, … unless given). */
export function sqsEvent(bodies: unknown[], ids?: string[]): SQSEvent {
  return { Records: bodies.map((b, i) => sqsRecord(b, ids?.[i] ?? `msg-${i}`)) };
}

/** Spec of an HTTP API request. */
export interface HttpSpec {
  method: string;
  path: string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  /** Bytes are base64-encoded (as API Gateway does for binary media); strings are sent as text. */
  body?: Buffer | Uint8Array | string;
  pathParameters?: Record<string, string>;
  routeKey?: string;
}

/** An API Gateway HTTP API (payload format 2.0) event. */
export function httpEvent(spec: HttpSpec): APIGatewayProxyEventV2 {
  const headers = Object.fromEntries(Object.entries(spec.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const query = spec.query ?? {};
  const rawQueryString = new URLSearchParams(query).toString();
  const binary = spec.body !== undefined && typeof spec.body !== 'string';
  const now = new Date();
  return {
    version: '2.0',
    routeKey: spec.routeKey ?? `${spec.method.toUpperCase()} ${spec.path}`,
    rawPath: spec.path,
    rawQueryString,
    headers: { host: 'api.example.com', ...headers },
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(spec.pathParameters ? { pathParameters: spec.pathParameters } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method: spec.method.toUpperCase(), path: spec.path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: randomUUID(),
      routeKey: spec.routeKey ?? `${spec.method.toUpperCase()} ${spec.path}`,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(spec.body !== undefined
      ? { body: binary ? Buffer.from(spec.body as Uint8Array).toString('base64') : (spec.body as string), isBase64Encoded: binary }
      : { isBase64Encoded: false }),
  };
}

/** An EventBridge scheduled event (the sweeper's trigger). */
export function scheduledEvent(): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:123456789012:rule/resnet-sweeper'],
    detail: {},
  };
}

/** A Lambda context for direct handler calls. */
export function lambdaContext(name = 'resnet-test'): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${name}`,
    memoryLimitInMB: '2048',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: '2026/11/28/[$LATEST]abc',
    getRemainingTimeInMillis: () => 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
