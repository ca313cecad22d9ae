/**
 * Turns the event shapes the functions receive into object references: S3 notifications
 * (direct, or wrapped in an SQS message body), S3 test events, and plain `{bucket,key}` jobs.
 */
import type { S3Event, S3EventRecord, SQSRecord } from 'aws-lambda';

import { InvalidArgumentError } from '../core/errors.js';
import type { ObjectRef } from './label-object.js';

/**
 * Decodes an S3 notification key: S3 form-encodes keys (`red+flower+%C3%BC.jpg` for
 * `red flower ü.jpg`), so `+` means space and `%2B` a literal plus.
 */
export function decodeS3Key(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

/** S3's limit on an object key, in bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;

/**
 * Whether a key from a client can name an S3 object: 1 to 1,024 bytes of UTF-8 (S3's limit)
 * without NUL, which S3's XML listings cannot carry and a file-backed S3 (the local stack's)
 * cannot store.
 */
export function isValidObjectKey(key: string): boolean {
  return key !== '' && !key.includes('\0') && Buffer.byteLength(key, 'utf8') <= MAX_KEY_BYTES;
}

/** Encodes a key as S3 does in notifications (the inverse of {@link decodeS3Key}). */
export function encodeS3Key(key: string): string {
  return encodeURIComponent(key)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
    .replace(/%2F/g, '/');
}

/** What an S3 notification asks for. */
export interface S3Job extends ObjectRef {
  eventName: string;
}

/** Whether a payload is S3's `s3:TestEvent` (sent when a notification is configured). */
export function isS3TestEvent(payload: unknown): boolean {
  return typeof payload === 'object' && payload !== null && (payload as { Event?: unknown }).Event === 's3:TestEvent';
}

/** Object references of the ObjectCreated records of an S3 event (other event types are ignored). */
export function refsFromS3Event(event: Pick<S3Event, 'Records'>): S3Job[] {
  return (event.Records ?? [])
    .filter((r: S3EventRecord) => r.eventSource === 'aws:s3' && r.eventName.startsWith('ObjectCreated:'))
    .map((r) => ({
      bucket: r.s3.bucket.name,
      key: decodeS3Key(r.s3.object.key),
      eventName: r.eventName,
      ...(r.s3.object.versionId ? { versionId: r.s3.object.versionId } : {}),
      ...(r.s3.object.eTag ? { etag: r.s3.object.eTag } : {}),
      ...(r.s3.object.sequencer ? { sequencer: r.s3.object.sequencer } : {}),
    }));
}

/** A job message for the sqs-worker: a decoded key (not URL-encoded). */
export interface ObjectJobMessage {
  bucket: string;
  key: string;
  versionId?: string;
  etag?: string;
}

/**
 * Object references in one SQS message: an S3 notification (possibly a test event: no refs),
 * or an {@link ObjectJobMessage}.
 * @throws InvalidArgumentError for a body that is neither (the message then goes to the DLQ)
 */
export function refsFromSqsRecord(record: Pick<SQSRecord, 'body' | 'messageId'>): ObjectRef[] {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    throw new InvalidArgumentError(`SQS message ${record.messageId} is not JSON; expected an S3 event or {"bucket","key"}.`);
  }
  if (isS3TestEvent(body)) return [];
  if (typeof body === 'object' && body !== null && Array.isArray((body as S3Event).Records)) return refsFromS3Event(body as S3Event);
  const job = body as Partial<ObjectJobMessage>;
  if (typeof job?.bucket === 'string' && job.bucket !== '' && typeof job.key === 'string' && job.key !== '') {
    return [
      {
        bucket: job.bucket,
        key: job.key,
        ...(typeof job.versionId === 'string' ? { versionId: job.versionId } : {}),
        ...(typeof job.etag === 'string' ? { etag: job.etag } : {}),
      },
    ];
  }
  throw new InvalidArgumentError(`SQS message ${record.messageId} has neither S3 Records nor a bucket and key.`);
}
