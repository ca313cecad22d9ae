/**
 * A backlog handed to AWS Batch as exactly the missing keys, cut into parts: child `i` of the
 * array job reads part `i` and nothing else (no listing). The parts are JSONL manifests
 * (`{"bucket","key"}` per line, the format `resnet batch` reads); `backlog.json` beside them names
 * the parts and is what the job is given as its input.
 *
 * Layout: `<resultsPrefix>_sweep/<model>/<bucket>/backlogs/<run id>/{backlog.json, part-00000.jsonl, ...}`.
 */
import { randomBytes } from 'node:crypto';

import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

import { s3Call } from './errors.js';
import { LineUpload } from './line-upload.js';
import { SWEEP_FOLDER } from './sweep-state.js';

/** File name that marks a backlog document (how `resnet batch` recognises its input). */
export const BACKLOG_FILE = 'backlog.json';
/** Value of {@link BacklogDocument.format}. */
export const BACKLOG_FORMAT = 'resnet-backlog/1';

/** The `backlog.json` document. */
export interface BacklogDocument {
  format: typeof BACKLOG_FORMAT;
  /** Bucket of the listed objects. */
  bucket: string;
  model: string;
  /** Objects in all parts. */
  objects: number;
  /** Parts in array-index order; keys are in the bucket that holds `backlog.json`. */
  parts: { key: string; objects: number }[];
  createdAt: string;
}

/** A written backlog: where its document is, and what it holds. */
export interface BacklogManifest {
  /** `s3://<bucket>/<...>/backlog.json` */
  uri: string;
  document: BacklogDocument;
}

/** Options of {@link BacklogWriter}. */
export interface BacklogWriterOptions {
  /** Bucket the manifest is written to (the results bucket). */
  bucket: string;
  resultsPrefix: string;
  /** Bucket of the objects listed. */
  sourceBucket: string;
  model: string;
  /** Objects per part, i.e. per array child. */
  partObjects: number;
  now?: Date;
}

/** Folder of one run's backlog. */
export function backlogFolder(resultsPrefix: string, model: string, sourceBucket: string, now: Date): string {
  const stamp = now.toISOString().replace(/[^0-9]/g, '').slice(0, 14);
  return `${resultsPrefix}${SWEEP_FOLDER}${model}/${sourceBucket}/backlogs/${stamp}-${randomBytes(3).toString('hex')}/`;
}

/** Streams keys into parts of at most `partObjects` keys; {@link close} writes `backlog.json`. */
export class BacklogWriter {
  readonly folder: string;
  private readonly parts: { key: string; objects: number }[] = [];
  private current: LineUpload | undefined;
  private readonly createdAt: Date;
  /** Keys written so far. */
  objects = 0;

  constructor(private readonly s3: S3Client, private readonly o: BacklogWriterOptions) {
    if (!Number.isInteger(o.partObjects) || o.partObjects < 1) throw new RangeError(`partObjects must be a whole number >= 1, got ${o.partObjects}`);
    this.createdAt = o.now ?? new Date();
    this.folder = backlogFolder(o.resultsPrefix, o.model, o.sourceBucket, this.createdAt);
  }

  /** Adds one key of the source bucket. */
  async add(key: string): Promise<void> {
    if (this.current === undefined) {
      const name = `${this.folder}part-${String(this.parts.length).padStart(5, '0')}.jsonl`;
      this.current = new LineUpload(this.s3, this.o.bucket, name);
    }
    await this.current.write(JSON.stringify({ bucket: this.o.sourceBucket, key }));
    this.objects++;
    if (this.current.lines >= this.o.partObjects) await this.finishPart();
  }

  private async finishPart(): Promise<void> {
    const part = this.current;
    if (part === undefined) return;
    this.current = undefined;
    await part.close();
    this.parts.push({ key: part.key, objects: part.lines });
  }

  /** Finishes the last part and writes `backlog.json`. */
  async close(): Promise<BacklogManifest> {
    await this.finishPart();
    const document: BacklogDocument = {
      format: BACKLOG_FORMAT,
      bucket: this.o.sourceBucket,
      model: this.o.model,
      objects: this.objects,
      parts: this.parts,
      createdAt: this.createdAt.toISOString(),
    };
    const key = `${this.folder}${BACKLOG_FILE}`;
    await s3Call(`PutObject s3://${this.o.bucket}/${key}`, () =>
      this.s3.send(new PutObjectCommand({ Bucket: this.o.bucket, Key: key, Body: `${JSON.stringify(document, null, 2)}\n`, ContentType: 'application/json' })),
    );
    return { uri: `s3://${this.o.bucket}/${key}`, document };
  }
}

/** Parses a `backlog.json`; throws a message that says what is wrong. */
export function parseBacklogDocument(text: string, where: string): BacklogDocument {
  let v: Partial<BacklogDocument>;
  try {
    v = JSON.parse(text) as Partial<BacklogDocument>;
  } catch {
    throw new Error(`${where} is not JSON; a backlog document is written by the sweeper (resnet sweep).`);
  }
  if (v.format !== BACKLOG_FORMAT || !Array.isArray(v.parts) || typeof v.bucket !== 'string') {
    throw new Error(`${where} is not a ${BACKLOG_FORMAT} document (format, bucket and parts are required).`);
  }
  return v as BacklogDocument;
}
