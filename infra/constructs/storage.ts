/**
 * The bucket images are uploaded to and results are written to (a results prefix in the same
 * bucket), with grants scoped to the prefix each function needs.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from '../nag-suppressions.js';

/** Props of {@link Storage}. */
export interface StorageProps {
  /** Use this existing bucket instead of creating one. @default undefined (create one) */
  readonly bucketName?: string;
  /** Prefix watched by the S3 trigger, ending in "/". */
  readonly uploadsPrefix: string;
  /** Prefix of result objects, ending in "/". */
  readonly resultsPrefix: string;
  /** Days after which uploads expire; 0 keeps them. */
  readonly uploadsExpirationDays: number;
}

/**
 * What a function may do with the uploads: read an image (s3:GetObject), read and write its tags
 * (the labeller merges its tags with the user's), create objects (a presigned upload), list.
 */
export type UploadsAccess = 'read' | 'tag' | 'presign-put' | 'list';

/** Options of {@link Storage.grantUploads}. */
export interface UploadsGrantOptions {
  /**
   * Also the version-specific actions (s3:GetObjectVersion, s3:Get/PutObjectVersionTagging) for
   * 'read' and 'tag': for a caller that gets S3 events from the versioned bucket, which name the
   * version they are about. @default false
   */
  readonly versions?: boolean;
}

/**
 * A created bucket is SSE-S3 encrypted, blocks public access, enforces TLS, is versioned
 * (results record the source version so a newer upload is never overwritten by an older
 * event) and logs server access to a separate bucket. An imported bucket is used as is.
 */
export class Storage extends Construct {
  readonly bucket: s3.IBucket;
  /** Undefined for an imported bucket. */
  readonly accessLogsBucket?: s3.Bucket;
  readonly uploadsPrefix: string;
  readonly resultsPrefix: string;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    this.uploadsPrefix = props.uploadsPrefix;
    this.resultsPrefix = props.resultsPrefix;
    if (props.bucketName) {
      this.bucket = s3.Bucket.fromBucketName(this, 'Bucket', props.bucketName);
      this.acknowledgePrefixGrants(`arn:<AWS::Partition>:s3:::${props.bucketName}`);
      return;
    }
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const rules: s3.LifecycleRule[] = [
      { id: 'abort-incomplete-multipart', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      // Versioning keeps every overwritten upload; old versions are only needed while their events are in flight.
      { id: 'expire-noncurrent', noncurrentVersionExpiration: Duration.days(7) },
    ];
    if (props.uploadsExpirationDays > 0) {
      rules.push({ id: 'expire-uploads', prefix: props.uploadsPrefix, expiration: Duration.days(props.uploadsExpirationDays) });
    }
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'data-bucket/',
      lifecycleRules: rules,
      // Uploaded images and results are user data: never deleted by `cdk destroy`.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.acknowledgePrefixGrants(`<${Stack.of(this).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>`);
  }

  /**
   * Acknowledges the prefix-wide object grants (`<bucket>/<prefix>*`): images and results are
   * created at run time under user-chosen keys, so the prefix is the narrowest possible scope.
   */
  private acknowledgePrefixGrants(bucketRef: string): void {
    acknowledge(Stack.of(this), [this.uploadsPrefix, this.resultsPrefix].map((prefix) =>
      [`AwsSolutions-IAM5[Resource::${bucketRef}/${prefix}*]`,
        `Objects under "${prefix}" have run-time keys; the grant is limited to that prefix of the one bucket.`] as const));
  }

  /** Object ARN pattern of a prefix. */
  private objects(prefix: string): string {
    return this.bucket.arnForObjects(`${prefix}*`);
  }

  /** Grants one kind of access to the uploads prefix only. */
  grantUploads(grantee: iam.IGrantable, access: UploadsAccess, opts: UploadsGrantOptions = {}): void {
    const actions: Record<UploadsAccess, string[]> = {
      read: opts.versions ? ['s3:GetObject', 's3:GetObjectVersion'] : ['s3:GetObject'],
      tag: opts.versions
        ? ['s3:GetObjectTagging', 's3:PutObjectTagging', 's3:GetObjectVersionTagging', 's3:PutObjectVersionTagging']
        : ['s3:GetObjectTagging', 's3:PutObjectTagging'],
      'presign-put': ['s3:PutObject'],
      list: [],
    };
    if (access === 'list') {
      this.grantList(grantee, this.uploadsPrefix);
      return;
    }
    iam.Grant.addToPrincipal({ grantee, actions: actions[access], resourceArns: [this.objects(this.uploadsPrefix)] });
  }

  /**
   * Read (and optionally write) result objects. s3:ListBucket on the bucket comes with it
   * because S3 answers a GET/HEAD of a missing key with 403 instead of 404 without it, and
   * the idempotency check must tell "no result yet" from "denied"; S3 evaluates that
   * permission without an s3:prefix, so it cannot be narrowed by a prefix condition.
   */
  grantResults(grantee: iam.IGrantable, access: 'read' | 'read-write'): void {
    const actions = access === 'read' ? ['s3:GetObject'] : ['s3:GetObject', 's3:PutObject'];
    iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [this.objects(this.resultsPrefix)] });
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:ListBucket'], resourceArns: [this.bucket.bucketArn] });
  }

  /** s3:ListBucket restricted to one prefix by condition. */
  private grantList(grantee: iam.IGrantable, prefix: string): void {
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['s3:ListBucket'],
      resources: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${prefix}*`, prefix] } },
    }));
  }
}
