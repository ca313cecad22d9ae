/**
 * Upload → label: S3 ObjectCreated events under the uploads prefix go to an SQS queue (with a
 * DLQ) that drives the s3-tagger. The filter is the uploads prefix, which the config keeps
 * disjoint from the results prefix, so the tagger's own writes never reach it; tagging does
 * not fire ObjectCreated, and the handler guards against its own keys as well.
 */
import { Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import { Construct } from 'constructs';
import { acknowledge } from '../nag-suppressions.js';
import type { ClassifierFunction } from './classifier-function.js';
import { QueueWithDlq } from './queue-with-dlq.js';
import type { Storage } from './storage.js';

/** Props of {@link UploadPipeline}. */
export interface UploadPipelineProps {
  readonly storage: Storage;
  /** The s3-tagger. */
  readonly tagger: ClassifierFunction;
  /** Messages per invocation. */
  readonly batchSize: number;
  /** Most concurrent invocations the event source starts. */
  readonly maxConcurrency: number;
}

/** Construct id of CDK's singleton notifications handler (aws-s3 BucketNotificationsHandler). */
const NOTIFICATIONS_HANDLER_ID = 'BucketNotificationsHandler050a0587b7544547bf325f094a3db834';

export class UploadPipeline extends Construct {
  readonly events: QueueWithDlq;

  constructor(scope: Construct, id: string, props: UploadPipelineProps) {
    super(scope, id);
    const { storage, tagger } = props;
    this.events = new QueueWithDlq(this, 'Events', { consumerTimeoutSeconds: tagger.timeoutSeconds });
    storage.bucket.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      new s3n.SqsDestination(this.events.queue),
      { prefix: storage.uploadsPrefix },
    );
    // CDK configures bucket notifications through its singleton custom-resource function.
    const notificationsHandler = Stack.of(this).node.tryFindChild(NOTIFICATIONS_HANDLER_ID);
    if (notificationsHandler) {
      acknowledge(notificationsHandler, [[
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        'CDK\'s BucketNotificationsHandler (deploy-time custom resource) uses the AWS-managed basic execution role for its own logs; its only other permission is s3:PutBucketNotification on this bucket.',
      ]]);
    }
    this.events.consumeWith(tagger.fn, { batchSize: props.batchSize, maxConcurrency: props.maxConcurrency });
    acknowledge(tagger, [
      ['Serverless-LambdaDLQ', 'Invoked synchronously by the SQS event source: failed messages go to the queue\'s dead-letter queue after 5 receives, not to a function DLQ.'],
      ['Serverless-LambdaEventSourceMappingDestination', 'SQS event source mappings do not support on-failure destinations; the queue\'s redrive policy is the failure path.'],
    ]);
    // S3 events from the versioned bucket name the version: the tagger reads and tags that version.
    storage.grantUploads(tagger.fn, 'read', { versions: true });
    storage.grantUploads(tagger.fn, 'tag', { versions: true });
    storage.grantResults(tagger.fn, 'read-write');
  }
}
