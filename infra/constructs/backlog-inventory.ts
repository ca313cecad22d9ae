/**
 * A daily S3 Inventory of the uploads prefix, so a backlog of any size can be handed to AWS Batch
 * without listing it: `resnet batch s3://<inventory bucket>/<bucket>/resnet-uploads/<date>/manifest.json`
 * on N array children reads the report's CSV files, file i to child i mod N, and each child skips
 * the objects that already have a result. The sweeper submits that job over the newest report when
 * a backlog passes its threshold ({@link BacklogInventory.grantFindReports}, wired by BacklogSweeper). Inventory has no tag field; the result object (written
 * last, after the tags) is what marks an object labelled, in the sweep and in the worker alike.
 *
 * The reports go to a bucket of their own (S3 cannot deliver a bucket's inventory into itself from
 * one template without a dependency cycle), kept 14 days. S3 writes the first report up to 48 hours
 * after the configuration; it is eventually consistent (recent uploads may be missing; the hourly
 * sweep and the upload trigger cover those). Only a bucket the stack creates gets one: an imported
 * bucket's configuration is its owner's.
 */
import { Annotations, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from '../nag-suppressions.js';
import type { Storage } from './storage.js';

/** Props of {@link BacklogInventory}. */
export interface BacklogInventoryProps {
  readonly storage: Storage;
}

/** Id of the inventory configuration (part of the report's path). */
export const INVENTORY_ID = 'resnet-uploads';

export class BacklogInventory extends Construct {
  /** Where the reports are delivered (`<bucket>/<source bucket>/resnet-uploads/<date>/manifest.json`); undefined for an imported bucket. */
  readonly bucket?: s3.Bucket;
  /**
   * The folder S3 writes the reports into, `<source bucket>/resnet-uploads/` (no destination
   * prefix): the dated folders with `manifest.json`, and `data/` with the CSV files they name.
   */
  readonly reportsFolder: string;
  private readonly source: s3.IBucket;

  constructor(scope: Construct, id: string, props: BacklogInventoryProps) {
    super(scope, id);
    const { storage } = props;
    this.source = storage.bucket;
    this.reportsFolder = `${storage.bucket.bucketName}/${INVENTORY_ID}/`;
    if (!(storage.bucket instanceof s3.Bucket)) {
      Annotations.of(this).addInfoV2('resnet:no-inventory', 'The bucket is imported: no S3 Inventory is configured; large backlogs go through the sweep\'s manifests only.');
      return;
    }
    this.bucket = new s3.Bucket(this, 'Reports', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      serverAccessLogsBucket: storage.accessLogsBucket,
      serverAccessLogsPrefix: 'inventory-bucket/',
      lifecycleRules: [{ expiration: Duration.days(14) }],
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: false,
    });
    storage.bucket.addInventory({
      inventoryId: INVENTORY_ID,
      destination: { bucket: this.bucket },
      objectsPrefix: storage.uploadsPrefix,
      frequency: s3.InventoryFrequency.DAILY,
      format: s3.InventoryFormat.CSV,
      includeObjectVersions: s3.InventoryObjectVersion.CURRENT,
      optionalFields: ['Size', 'LastModifiedDate', 'ETag'],
    });
  }

  /** s3:GetObject on the reports' files (the Batch job reads manifest.json and its CSV files), nothing else. */
  grantRead(grantee: iam.IGrantable): void {
    if (!this.bucket) return;
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.bucket.arnForObjects(`${this.reportsFolder}*`)] });
    this.acknowledgeWildcard('*', 'S3 names each day\'s report files at delivery; the grant is s3:GetObject on the reports\' folder of the inventory bucket.');
  }

  /**
   * What the sweeper needs to find the newest report (labelling/inventory-report.ts): s3:ListBucket
   * on the inventory bucket for prefixes in the reports' folder only, and s3:GetObject on the
   * reports' `manifest.json`, not on the CSV files (the job reads those). The sweep never GETs a
   * manifest it has not listed, so it needs no unconditioned s3:ListBucket for 404s.
   */
  grantFindReports(grantee: iam.IGrantable): void {
    if (!this.bucket) return;
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['s3:ListBucket'],
      resources: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': `${this.reportsFolder}*` } },
    }));
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.bucket.arnForObjects(`${this.reportsFolder}*/manifest.json`)] });
    this.acknowledgeWildcard('*/manifest.json', 'Each report\'s folder is named for its delivery date; the grant is s3:GetObject on the reports\' manifest.json files only.');
  }

  /** Acknowledges a wildcard object grant `<reports folder><suffix>` (cdk-nag names a Ref `<logical id>`). */
  private acknowledgeWildcard(suffix: string, reason: string): void {
    const stack = Stack.of(this);
    const id = (b: s3.IBucket): string => stack.getLogicalId(b.node.defaultChild as s3.CfnBucket);
    acknowledge(stack, [[`AwsSolutions-IAM5[Resource::<${id(this.bucket!)}.Arn>/<${id(this.source)}>/${INVENTORY_ID}/${suffix}]`, reason]]);
  }
}
