/**
 * A daily S3 Inventory of the uploads prefix, so a backlog of any size can be handed to AWS Batch
 * without listing it: `resnet batch s3://<inventory bucket>/<bucket>/resnet-uploads/<date>/manifest.json`
 * on N array children reads the report's CSV files, file i to child i mod N, and each child skips
 * the objects that already have a result. Inventory has no tag field; the result object (written
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

  constructor(scope: Construct, id: string, props: BacklogInventoryProps) {
    super(scope, id);
    const { storage } = props;
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

  /** s3:GetObject on the reports (the Batch job reads manifest.json and its CSV files), nothing else. */
  grantRead(grantee: iam.IGrantable): void {
    if (!this.bucket) return;
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.bucket.arnForObjects('*')] });
    const id = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket);
    acknowledge(Stack.of(this), [[`AwsSolutions-IAM5[Resource::<${id}.Arn>/*]`, 'S3 names each day\'s report files at delivery; the grant is s3:GetObject on the inventory bucket, which holds nothing else.']]);
  }
}
