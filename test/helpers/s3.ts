/**
 * A real local S3 server (s3rver) for integration tests: started on 127.0.0.1 with a free port
 * in a temporary folder, plus an S3Client configured for it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

import { s3rverCompat } from '../../local/s3rver-compat.js';

/** A running local S3 server. */
export interface LocalS3 {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  /** Data folder (deleted by `stop`). */
  dir: string;
  /** Client with path-style addressing and s3rver's fixed credentials. */
  client: S3Client;
  server: S3rver;
  /** Creates a bucket. */
  createBucket(name: string): Promise<void>;
  /** Makes a client with its own retry budget (the default client uses maxAttempts 3). */
  makeClient(opts?: { maxAttempts?: number }): S3Client;
  /** Stops the HTTP server but keeps the data (for outage tests). */
  pause(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  resume(): Promise<void>;
  /** Stops the server and deletes the data folder. */
  stop(): Promise<void>;
}

/** Options for an S3Client pointed at s3rver (or the local stack). */
export function localS3Client(endpoint: string, opts: { maxAttempts?: number } = {}): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    maxAttempts: opts.maxAttempts ?? 3,
    // s3rver predates the SDK's default CRC checksums on every request.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Starts s3rver on 127.0.0.1 with a free port in a fresh temporary folder. */
export async function startLocalS3(opts: { buckets?: string[] } = {}): Promise<LocalS3> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 's3rver-test-'));
  let server = s3rverCompat(new S3rver({ address: '127.0.0.1', port: 0, directory: dir, silent: true, configureBuckets: (opts.buckets ?? []).map((name) => ({ name })) }));
  const addr: AddressInfo = await server.run();
  const port = addr.port;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = localS3Client(endpoint);
  const local: LocalS3 = {
    endpoint,
    port,
    dir,
    client,
    get server() {
      return server;
    },
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    makeClient: (o) => localS3Client(endpoint, o),
    async pause() {
      server.httpServer?.closeAllConnections();
      await server.close();
    },
    async resume() {
      server = s3rverCompat(new S3rver({ address: '127.0.0.1', port, directory: dir, silent: true }));
      await server.run();
    },
    async stop() {
      client.destroy();
      try {
        const http = server.httpServer;
        http?.closeAllConnections();
        if (http?.listening) await server.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  } as LocalS3;
  return local;
}
