/**
 * Streams lines into one S3 object with bounded memory: lib-storage's `Upload` sends a single
 * PutObject for a small body and a multipart upload (5 MiB parts, 4 in flight, so about 20 MiB
 * held at most) for a large one. Used for backlog manifests, whatever their length.
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';

import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

import { s3Call } from './errors.js';

/** Writes lines to `s3://bucket/key`. */
export class LineUpload {
  private readonly body = new PassThrough();
  private readonly done: Promise<unknown>;
  /** Lines written so far. */
  lines = 0;

  constructor(s3: S3Client, readonly bucket: string, readonly key: string, contentType = 'application/x-ndjson') {
    const upload = new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: this.body, ContentType: contentType } });
    this.done = s3Call(`Upload s3://${bucket}/${key}`, () => upload.done());
    // A failed upload surfaces in close(); keep it from being reported as unhandled before that.
    this.done.catch(() => undefined);
  }

  /** Appends one line (a newline is added); waits when the upload is behind. */
  async write(line: string): Promise<void> {
    this.lines++;
    if (!this.body.write(`${line}\n`)) await Promise.race([once(this.body, 'drain'), this.done]);
  }

  /** Ends the object and waits until S3 has it. */
  async close(): Promise<void> {
    this.body.end();
    await this.done;
  }
}
