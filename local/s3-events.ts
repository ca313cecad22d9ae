/**
 * Converts s3rver's object-created events into the exact shape AWS delivers to Lambda
 * (eventVersion 2.1, form-URL-encoded key, eTag, size, sequencer), so the local stack drives the
 * s3-tagger with the same payload as production.
 */
import type { S3Event, S3EventRecord } from 'aws-lambda';
import type { S3rverEvent } from 's3rver';

import { encodeS3Key } from '../labelling/events.js';

/** One s3rver record → AWS S3 notification record. s3rver's keys are raw; AWS's are encoded. */
export function toAwsRecord(r: S3rverEvent['Records'][number]): S3EventRecord {
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: r.awsRegion || 'us-east-1',
    eventTime: r.eventTime,
    eventName: r.eventName,
    userIdentity: { principalId: 'AWS:LOCALSTACKUSER' },
    requestParameters: { sourceIPAddress: '127.0.0.1' },
    responseElements: { 'x-amz-request-id': 'LOCAL', 'x-amz-id-2': 'LOCAL' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'resnet-local-tagger',
      bucket: { name: r.s3.bucket.name, ownerIdentity: { principalId: 'LOCAL' }, arn: `arn:aws:s3:::${r.s3.bucket.name}` },
      object: {
        key: encodeS3Key(r.s3.object.key),
        size: r.s3.object.size ?? 0,
        eTag: r.s3.object.eTag ?? '',
        sequencer: r.s3.object.sequencer.padStart(16, '0'),
      },
    },
  };
}

/** The ObjectCreated records of an s3rver event for `bucket`, as one AWS S3Event (or null if none). */
export function toAwsEvent(e: S3rverEvent, bucket: string): S3Event | null {
  const records = e.Records.filter((r) => r.eventName.startsWith('ObjectCreated:') && r.s3.bucket.name === bucket).map(toAwsRecord);
  return records.length ? { Records: records } : null;
}
