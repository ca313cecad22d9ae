/**
 * An in-memory S3 for unit tests of listing logic: ListObjectsV2 in true UTF-8 binary order (as
 * S3 lists; s3rver sorts differently for characters above U+FFFF), with Prefix, StartAfter,
 * ContinuationToken and MaxKeys; HeadObject, GetObject and PutObject with S3's conditional-write
 * answers (412 for a failed If-Match / If-None-Match). Counts every request by command name.
 */
import { createHash } from 'node:crypto';

import type { S3Client } from '@aws-sdk/client-s3';

function utf8Compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

class S3Error extends Error {
  readonly $metadata: { httpStatusCode: number };
  constructor(name: string, status: number) {
    super(name);
    this.name = name;
    this.$metadata = { httpStatusCode: status };
  }
}

/** An in-memory bucket set with a `client` the code under test can use. */
export class MemoryS3 {
  private readonly objects = new Map<string, Map<string, { body: string; etag: string }>>();
  /** Requests made, by command name (`ListObjectsV2Command`, ...). */
  readonly calls: Record<string, number> = {};

  /** Stores an object (no request counted). */
  put(bucket: string, key: string, body = ''): void {
    let b = this.objects.get(bucket);
    if (!b) this.objects.set(bucket, (b = new Map()));
    b.set(key, { body, etag: `"${createHash('md5').update(body).digest('hex')}"` });
  }

  /** The body of an object, or undefined. */
  get(bucket: string, key: string): string | undefined {
    return this.objects.get(bucket)?.get(key)?.body;
  }

  /** Keys of a bucket under a prefix, in S3's order. */
  keys(bucket: string, prefix = ''): string[] {
    return [...(this.objects.get(bucket)?.keys() ?? [])].filter((k) => k.startsWith(prefix)).sort(utf8Compare);
  }

  /** A stand-in for an S3Client (only `send` of the commands above). */
  get client(): S3Client {
    return { send: (cmd: { constructor: { name: string }; input: Record<string, unknown> }) => this.send(cmd) } as unknown as S3Client;
  }

  private async send(cmd: { constructor: { name: string }; input: Record<string, unknown> }): Promise<unknown> {
    const name = cmd.constructor.name;
    this.calls[name] = (this.calls[name] ?? 0) + 1;
    const i = cmd.input as { Bucket: string; Key?: string; Prefix?: string; StartAfter?: string; ContinuationToken?: string; MaxKeys?: number; Body?: string; IfMatch?: string; IfNoneMatch?: string };
    const bucket = this.objects.get(i.Bucket) ?? new Map<string, { body: string; etag: string }>();
    switch (name) {
      case 'ListObjectsV2Command': {
        const after = i.ContinuationToken ?? i.StartAfter;
        const all = this.keys(i.Bucket, i.Prefix ?? '').filter((k) => after === undefined || utf8Compare(k, after) > 0);
        const max = i.MaxKeys ?? 1000;
        const page = all.slice(0, max);
        const truncated = all.length > max;
        return { Contents: page.map((Key) => ({ Key })), IsTruncated: truncated, ...(truncated ? { NextContinuationToken: page[page.length - 1] } : {}) };
      }
      case 'HeadObjectCommand': {
        const o = bucket.get(i.Key!);
        if (!o) throw new S3Error('NotFound', 404);
        return { ETag: o.etag };
      }
      case 'GetObjectCommand': {
        const o = bucket.get(i.Key!);
        if (!o) throw new S3Error('NoSuchKey', 404);
        return { ETag: o.etag, Body: { transformToString: async () => o.body } };
      }
      case 'PutObjectCommand': {
        const o = bucket.get(i.Key!);
        if (i.IfNoneMatch === '*' && o) throw new S3Error('PreconditionFailed', 412);
        if (i.IfMatch !== undefined && o?.etag !== i.IfMatch) throw new S3Error('PreconditionFailed', 412);
        this.put(i.Bucket, i.Key!, String(i.Body ?? ''));
        return { ETag: this.objects.get(i.Bucket)!.get(i.Key!)!.etag };
      }
      default:
        throw new Error(`MemoryS3 does not implement ${name}`);
    }
  }
}
