/**
 * Model and label files kept in S3 (`MODEL_S3_URI`, `LABELS_S3_URI`, `batch --model s3://...`),
 * downloaded once to local disk by the Lambda functions and the batch worker alike.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';

import { InvalidArgumentError } from '../core/errors.js';
import { s3Call } from './errors.js';

/** Splits `s3://bucket/key`. @throws InvalidArgumentError */
export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m) throw new InvalidArgumentError(`Not an s3://bucket/key URI: "${uri}".`);
  return { bucket: m[1]!, key: m[2]! };
}

/**
 * Downloads an S3 object to `dest` (streamed, temp file + rename) unless a file of the same size is
 * already there (warm /tmp). Shared by the Lambda functions and the batch worker.
 * @throws InvalidArgumentError for a malformed URI, TransientStorageError for retryable S3 failures
 */
export async function downloadOnce(s3: S3Client, uri: string, dest: string): Promise<void> {
  const { bucket, key } = parseS3Uri(uri);
  const out = await s3Call(`GetObject ${uri}`, () => s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
  const have = await stat(dest).then((s) => s.size, () => -1);
  if (have >= 0 && have === out.ContentLength) {
    (out.Body as Readable | undefined)?.destroy();
    return;
  }
  await mkdir(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.part-${process.pid}`;
  // Streamed to disk: a 250 MB model must not sit in the function's memory twice.
  await s3Call(`GetObject ${uri}`, () => pipeline(out.Body as Readable, createWriteStream(tmp)));
  await rename(tmp, dest);
}
