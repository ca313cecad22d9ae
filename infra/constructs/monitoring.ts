/**
 * Alarms (function errors, throttles, duration near the timeout, dead-letter queue depth, API
 * 5xx) published to an SNS topic, and one dashboard with the same signals.
 */
import { Duration } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledge } from '../nag-suppressions.js';
import type { ClassifierFunction } from './classifier-function.js';

/** Props of {@link Monitoring}. */
export interface MonitoringProps {
  /** Functions by display name. */
  readonly functions: Record<string, ClassifierFunction>;
  /** Dead-letter queues by display name; any message in one is an alarm. */
  readonly deadLetterQueues: Record<string, sqs.IQueue>;
  /** Work queues by display name (dashboard only). */
  readonly queues: Record<string, sqs.IQueue>;
  readonly api?: apigw.HttpApi;
  /** @default undefined (no subscription) */
  readonly alarmEmail?: string;
  /** Duration alarm threshold as a fraction of the function timeout. @default 0.8 */
  readonly durationFraction?: number;
}

const PERIOD = Duration.minutes(5);

export class Monitoring extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cw.Alarm[] = [];
  readonly dashboard: cw.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Alarms', { enforceSSL: true, displayName: 'resnet-serverless alarms' });
    if (props.alarmEmail) {
      const undelivered = new sqs.Queue(this, 'UndeliveredAlarms', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true, retentionPeriod: Duration.days(14) });
      acknowledge(undelivered, [
        ['AwsSolutions-SQS3', 'This queue is itself the dead-letter queue of the e-mail subscription.'],
        ['Serverless-SQSRedrivePolicy', 'This queue is itself a dead-letter queue.'],
      ]);
      this.topic.addSubscription(new subs.EmailSubscription(props.alarmEmail, { deadLetterQueue: undelivered }));
    }
    const action = new cwActions.SnsAction(this.topic);
    const alarm = (name: string, metric: cw.IMetric, threshold: number, description: string): cw.Alarm => {
      const a = new cw.Alarm(this, name, {
        metric, threshold, evaluationPeriods: 1, alarmDescription: description,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cw.TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(action);
      this.alarms.push(a);
      return a;
    };

    const fraction = props.durationFraction ?? 0.8;
    const fnWidgets: cw.IWidget[] = [];
    for (const [name, f] of Object.entries(props.functions)) {
      const errors = f.fn.metricErrors({ period: PERIOD, statistic: 'Sum' });
      const throttles = f.fn.metricThrottles({ period: PERIOD, statistic: 'Sum' });
      const duration = f.fn.metricDuration({ period: PERIOD, statistic: 'p99' });
      alarm(`${name}Errors`, errors, 1, `${name}: invocations failed (see its log group)`);
      alarm(`${name}Throttles`, throttles, 1, `${name}: invocations throttled (raise reserved/account concurrency or lower the event source's maxConcurrency)`);
      alarm(`${name}Duration`, duration, Math.round(f.timeoutSeconds * 1000 * fraction),
        `${name}: p99 duration above ${Math.round(fraction * 100)}% of the ${f.timeoutSeconds} s timeout (raise memory or timeout)`);
      fnWidgets.push(new cw.GraphWidget({
        title: name, width: 8,
        left: [f.fn.metricInvocations({ period: PERIOD }), errors, throttles],
        right: [duration, f.fn.metricDuration({ period: PERIOD, statistic: 'p50' })],
      }));
    }
    const queueMetrics: cw.IMetric[] = [];
    for (const [name, q] of Object.entries(props.deadLetterQueues)) {
      const depth = q.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' });
      alarm(`${name}Depth`, depth, 1, `${name}: messages were dead-lettered; inspect them, fix the cause, then redrive`);
      queueMetrics.push(depth.with({ label: name }));
    }
    const workMetrics = Object.entries(props.queues).map(([name, q]) =>
      q.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum', label: name }));
    const apiWidgets: cw.IWidget[] = [];
    if (props.api) {
      const serverErrors = props.api.metricServerError({ period: PERIOD, statistic: 'Sum' });
      alarm('Api5xx', serverErrors, 5, 'classify API: 5xx responses (500 is only for our own bugs; check the function logs)');
      apiWidgets.push(new cw.GraphWidget({
        title: 'API', width: 12,
        left: [props.api.metricCount({ period: PERIOD }), props.api.metricClientError({ period: PERIOD }), serverErrors],
        right: [props.api.metricLatency({ period: PERIOD, statistic: 'p95' })],
      }));
    }
    this.dashboard = new cw.Dashboard(this, 'Dashboard', {
      widgets: [
        fnWidgets,
        [
          new cw.GraphWidget({ title: 'Queues (visible messages)', width: 12, left: workMetrics }),
          new cw.GraphWidget({ title: 'Dead-letter queues', width: 12, left: queueMetrics }),
        ],
        apiWidgets,
        [new cw.AlarmStatusWidget({ title: 'Alarms', width: 24, alarms: this.alarms })],
      ],
    });
  }
}
