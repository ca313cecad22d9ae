/**
 * The newest S3 Inventory report of the uploads prefix, and the record of the Batch job the sweep
 * last submitted over a report, so that a large backlog is handed to AWS Batch as the report (every
 * object of the prefix, read by the children file by file) instead of being found by listing.
 *
 * S3 delivers a report as `<destination prefix><source bucket>/<config id>/<YYYY-MM-DDTHH-MMZ>/manifest.json`
 * naming CSV files under `.../data/` ([inventory location](https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html));
 * `manifest.json` is written after the files it names. The record lives beside the sweep's cursor:
 * `<resultsPrefix>_sweep/<model>/<bucket>/inventory-job.json`.
 *
 * Every request on the inventory bucket stays inside the reports' folder: LISTs with a prefix under
 * it, and a GET of a `manifest.json` only after a LIST has shown it. The stack grants the sweeper
 * s3:ListBucket on that bucket only with an s3:prefix condition, which S3 does not apply to the
 * 404-or-403 decision of a GET (no prefix there): a GET of a missing manifest would be refused
 * with AccessDenied instead of answering NoSuchKey.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

import { s3Call, s3ErrorName } from './errors.js';
import { SWEEP_FOLDER } from './sweep-state.js';

/** Where a bucket's inventory reports are delivered. */
export interface InventoryLocation {
  /** The inventory bucket. */
  bucket: string;
  /** `<source bucket>/<inventory id>/`, the folder holding the dated report folders. */
  prefix: string;
}

/** A delivered report. */
export interface InventoryReport {
  /** Its folder's name, e.g. `2026-12-06T01-00Z`. */
  date: string;
  /** `s3://<inventory bucket>/<prefix><date>/manifest.json`, the input `resnet batch` reads. */
  manifestUri: string;
  /** CSV files the report names (an array child reads files i, i + n, ...). */
  files: number;
}

/** What the sweep records after submitting a job over a report. */
export interface InventoryJobRecord {
  report: string;
  manifestUri: string;
  jobId?: string;
  arraySize: number;
  submittedAt: string;
}

const DATE_FOLDER = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z$/;

async function readText(s3: S3Client, bucket: string, key: string): Promise<string | null> {
  try {
    const res = await s3Call(`GetObject s3://${bucket}/${key}`, () => s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
    return await res.Body!.transformToString();
  } catch (err) {
    if (s3ErrorName(err) === 'NoSuchKey') return null;
    throw err;
  }
}

/** Whether `key` exists, by a LIST of it as prefix (no GET of a missing key, see the module comment). */
async function listed(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  const page = await s3Call(`ListObjectsV2 s3://${bucket}/${key}`, () => s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 })));
  return page.Contents?.[0]?.Key === key;
}

/**
 * The newest report whose `manifest.json` is in place, or null when there is none yet (S3 writes
 * the first up to 48 hours after the configuration). One LIST of the report folders, then, newest
 * first until one is found, a LIST of the folder's `manifest.json` and a GET of it.
 */
export async function newestInventoryReport(s3: S3Client, loc: InventoryLocation): Promise<InventoryReport | null> {
  const dates: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3Call(`ListObjectsV2 s3://${loc.bucket}/${loc.prefix}`, () =>
      s3.send(new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: loc.prefix, Delimiter: '/', ContinuationToken: token })),
    );
    for (const p of page.CommonPrefixes ?? []) {
      const name = (p.Prefix ?? '').slice(loc.prefix.length).replace(/\/$/, '');
      if (DATE_FOLDER.test(name)) dates.push(name);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  for (const date of dates.sort().reverse()) {
    const key = `${loc.prefix}${date}/manifest.json`;
    if (!(await listed(s3, loc.bucket, key))) continue;
    const text = await readText(s3, loc.bucket, key);
    if (text === null) continue;
    const files = (JSON.parse(text) as { files?: unknown[] }).files;
    if (!Array.isArray(files) || files.length === 0) continue;
    return { date, manifestUri: `s3://${loc.bucket}/${key}`, files: files.length };
  }
  return null;
}

/** Key of the record of the last job submitted over a report. */
export function inventoryJobKey(resultsPrefix: string, model: string, sourceBucket: string): string {
  return `${resultsPrefix}${SWEEP_FOLDER}${model}/${sourceBucket}/inventory-job.json`;
}

/** The last job submitted over a report, or null. */
export async function loadInventoryJob(s3: S3Client, bucket: string, key: string): Promise<InventoryJobRecord | null> {
  const text = await readText(s3, bucket, key);
  return text === null ? null : (JSON.parse(text) as InventoryJobRecord);
}

/** Records a job submitted over a report. */
export async function saveInventoryJob(s3: S3Client, bucket: string, key: string, record: InventoryJobRecord): Promise<void> {
  await s3Call(`PutObject s3://${bucket}/${key}`, () =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `${JSON.stringify(record, null, 2)}\n`, ContentType: 'application/json' })),
  );
}
