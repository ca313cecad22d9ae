/**
 * Asks, with a real IAM policy evaluator (@cloud-copilot/iam-simulate: identity policies,
 * resource policies, conditions, same-account rules), whether each AWS call recorded in a test
 * would be allowed by the role the synthesised template gives its caller, and which grants no
 * call used.
 *
 * - {@link iamRequestsOf} maps a recorded call to the IAM requests AWS authorises for it
 *   (HeadObject -> s3:GetObject, a 404 of it also -> s3:ListBucket, SendMessageBatch ->
 *   sqs:SendMessage, ...), with the resource ARN and the context keys the policies test.
 * - {@link StackPermissions} reads a role's identity policies (AWS::IAM::Policy and
 *   AWS::IAM::ManagedPolicy attached to it, inline policies) and the resource policy of the
 *   resource (bucket policy, queue policy, trust policy, Lambda permissions), resolved by
 *   {@link TemplateResolver}, evaluates requests and keeps, per role, which statement's action and
 *   resource each allowed request used.
 */
import { runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';

import type { AwsCall } from './aws-recorder.js';
import type { CfnTemplate, TemplateResolver } from './template-resolver.js';

/** One request as IAM authorises it. */
export interface IamRequest {
  readonly action: string;
  readonly resource: string;
  /** Request context keys beyond `aws:SecureTransport` (true: the SDK calls AWS over HTTPS). */
  readonly context?: Readonly<Record<string, string>>;
  /** What made it, for messages: `HeadObject bucket/key`. */
  readonly why: string;
}

interface PolicyDocument {
  Version?: string;
  Statement: Statement[] | Statement;
}
interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  Resource?: string | string[];
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The queue ARN of a queue URL (`https://host/<account>/<name>`). */
export function queueArnOf(queueUrl: string, region = 'us-east-1'): string {
  const [account, name] = new URL(queueUrl).pathname.split('/').filter(Boolean);
  if (!account || !name) throw new Error(`${queueUrl} is not a queue URL (…/<account>/<name>).`);
  return `arn:aws:sqs:${region}:${account}:${name}`;
}

/**
 * The IAM requests AWS authorises for one call. Throws for an operation it does not know, so a new
 * kind of call cannot slip past the check.
 */
export function iamRequestsOf(call: AwsCall): IamRequest[] {
  const why = `${call.operation} ${[call.bucket, call.key].filter(Boolean).join('/') || call.queueUrl || call.jobQueue || ''}`.trim();
  const object = `arn:aws:s3:::${call.bucket}/${call.key}`;
  const bucket = `arn:aws:s3:::${call.bucket}`;
  const v = call.versionId !== undefined;
  switch (call.operation) {
    case 'ListObjectsV2':
    case 'ListObjects':
      return [{ action: 's3:ListBucket', resource: bucket, context: { 's3:prefix': call.prefix ?? '' }, why }];
    case 'ListObjectVersions':
      return [{ action: 's3:ListBucketVersions', resource: bucket, context: { 's3:prefix': call.prefix ?? '' }, why }];
    case 'GetObject':
    case 'HeadObject': {
      const read: IamRequest = { action: v ? 's3:GetObjectVersion' : 's3:GetObject', resource: object, why };
      // S3 answers 404 for a missing key only to a caller with s3:ListBucket on the bucket (else 403).
      return call.status === 404 ? [read, { action: 's3:ListBucket', resource: bucket, why: `${why} (404: a missing key is told apart from a denied one)` }] : [read];
    }
    case 'GetObjectTagging':
      return [{ action: v ? 's3:GetObjectVersionTagging' : 's3:GetObjectTagging', resource: object, why }];
    case 'PutObjectTagging':
      return [{ action: v ? 's3:PutObjectVersionTagging' : 's3:PutObjectTagging', resource: object, why }];
    case 'DeleteObjectTagging':
      return [{ action: v ? 's3:DeleteObjectVersionTagging' : 's3:DeleteObjectTagging', resource: object, why }];
    case 'PutObject':
    case 'CreateMultipartUpload':
    case 'UploadPart':
    case 'CompleteMultipartUpload':
      return [{ action: 's3:PutObject', resource: object, why }, ...(call.withTagging ? [{ action: 's3:PutObjectTagging', resource: object, why }] : [])];
    case 'AbortMultipartUpload':
      return [{ action: 's3:AbortMultipartUpload', resource: object, why }];
    case 'CopyObject':
      return [{ action: 's3:PutObject', resource: object, why }, { action: 's3:GetObject', resource: `arn:aws:s3:::${call.copySource}`, why }];
    case 'DeleteObject':
      return [{ action: v ? 's3:DeleteObjectVersion' : 's3:DeleteObject', resource: object, why }];
    case 'SendMessage':
    case 'SendMessageBatch':
      return [{ action: 'sqs:SendMessage', resource: queueArnOf(call.queueUrl ?? ''), why }];
    case 'SubmitJob':
      // Batch authorises SubmitJob against the job queue and the job definition.
      return [call.jobQueue, call.jobDefinition].map((resource) => ({ action: 'batch:SubmitJob', resource: resource ?? '', why }));
    default:
      throw new Error(`${call.service} ${call.operation} has no IAM mapping in test/helpers/iam-check.ts; add the actions AWS authorises for it.`);
  }
}

/** Who makes a request: a role of the stack, or an AWS service principal (resource policies only). */
export type Caller = { readonly role: string } | { readonly service: string; readonly context: Readonly<Record<string, string>> };

/** A request IAM would refuse, with the evaluator's verdict. */
export interface Refusal {
  readonly caller: string;
  readonly request: IamRequest;
  readonly result: string;
}

/** One action on one resource pattern of a role's Allow statement. */
export interface Grant {
  readonly role: string;
  readonly action: string;
  readonly resource: string;
  readonly condition?: string;
  /** `<policy>#<statement>` */
  readonly statement: string;
}

/** `action resource [condition]`, the way the unused report lists a grant. */
export const grantLine = (g: Grant): string => `${g.action} ${g.resource}${g.condition ? ` if ${g.condition}` : ''}`;

interface Resources {
  [id: string]: { Type: string; Properties?: Record<string, unknown> };
}

/** The permissions of a synthesised stack, resolved, and what the evaluated requests used of them. */
export class StackPermissions {
  private readonly resources: Resources;
  private readonly used = new Set<string>();

  constructor(template: CfnTemplate, private readonly r: TemplateResolver) {
    this.resources = template.Resources as Resources;
  }

  private ofType(type: string): Array<[string, Record<string, unknown>]> {
    return Object.entries(this.resources).filter(([, x]) => x.Type === type).map(([id, x]) => [id, x.Properties ?? {}]);
  }

  /** The role logical id of a function (its `Role: {Fn::GetAtt: [role, Arn]}`). */
  functionRole(functionId: string): string {
    const role = (this.resources[functionId]?.Properties?.Role as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt']?.[0];
    if (!role) throw new Error(`${functionId} has no role of this template.`);
    return role;
  }

  /** The identity policies of a role, resolved: attached AWS::IAM::Policy / ManagedPolicy and inline policies. */
  identityPolicies(roleId: string): Array<{ name: string; policy: PolicyDocument }> {
    const attached = (p: Record<string, unknown>): boolean => list(p.Roles as unknown[]).some((x) => JSON.stringify(x) === JSON.stringify({ Ref: roleId }));
    const out: Array<{ name: string; policy: PolicyDocument }> = [];
    for (const [id, p] of [...this.ofType('AWS::IAM::Policy'), ...this.ofType('AWS::IAM::ManagedPolicy')]) {
      if (attached(p)) out.push({ name: id, policy: this.r.resolve(p.PolicyDocument) as PolicyDocument });
    }
    const role = this.resources[roleId]?.Properties ?? {};
    for (const inline of list(role.Policies as Array<{ PolicyName: string; PolicyDocument: unknown }>)) {
      out.push({ name: `${roleId}/${inline.PolicyName}`, policy: this.r.resolve(inline.PolicyDocument) as PolicyDocument });
    }
    for (const arn of list(role.ManagedPolicyArns as unknown[]).map((a) => this.r.str(a))) {
      if (arn.startsWith('arn:aws:iam::aws:policy/')) throw new Error(`${roleId} has the AWS-managed policy ${arn}, whose text is not in the template; grant what it needs explicitly.`);
    }
    return out;
  }

  /** The resource policy AWS evaluates for a resource ARN of this stack, if any. */
  resourcePolicy(arn: string): PolicyDocument | undefined {
    if (arn.startsWith('arn:aws:s3:::')) {
      const bucket = arn.slice('arn:aws:s3:::'.length).split('/')[0];
      const hit = this.ofType('AWS::S3::BucketPolicy').find(([, p]) => this.r.str(p.Bucket) === bucket);
      return hit && (this.r.resolve(hit[1].PolicyDocument) as PolicyDocument);
    }
    if (arn.startsWith('arn:aws:sqs:')) {
      const hit = this.ofType('AWS::SQS::QueuePolicy').find(([, p]) => list(p.Queues as unknown[]).some((q) => queueArnOf(this.r.str(q)) === arn));
      return hit && (this.r.resolve(hit[1].PolicyDocument) as PolicyDocument);
    }
    if (arn.startsWith('arn:aws:iam::') && arn.includes(':role/')) {
      const hit = this.ofType('AWS::IAM::Role').find(([id]) => this.r.arn(id) === arn);
      return hit && (this.r.resolve(hit[1].AssumeRolePolicyDocument) as PolicyDocument);
    }
    if (arn.startsWith('arn:aws:lambda:')) {
      const statements = this.ofType('AWS::Lambda::Permission')
        .filter(([, p]) => this.r.str(p.FunctionName) === arn)
        .map(([id, p]): Statement => {
          const principal = this.r.str(p.Principal);
          const condition: Statement['Condition'] = {};
          if (p.SourceArn) condition.ArnLike = { 'aws:SourceArn': this.r.str(p.SourceArn) };
          if (p.SourceAccount) condition.StringEquals = { 'aws:SourceAccount': this.r.str(p.SourceAccount) };
          return {
            Sid: id, Effect: 'Allow', Action: this.r.str(p.Action), Resource: arn,
            Principal: principal.endsWith('.amazonaws.com') ? { Service: principal } : { AWS: principal },
            ...(Object.keys(condition).length ? { Condition: condition } : {}),
          };
        });
      return statements.length ? { Version: '2012-10-17', Statement: statements } : undefined;
    }
    return undefined;
  }

  private principalOf(caller: Caller): string {
    if ('service' in caller) return caller.service;
    return `arn:aws:sts::${this.r.account}:assumed-role/${this.r.name(caller.role)}/session`;
  }

  /**
   * Evaluates one request; returns the refusal, or undefined when IAM allows it (and records the
   * identity statements, actions and resources that allowed it).
   */
  async check(caller: Caller, request: IamRequest): Promise<Refusal | undefined> {
    const identity = 'role' in caller ? this.identityPolicies(caller.role) : [];
    const resourcePolicy = this.resourcePolicy(request.resource);
    const simulation: Simulation = {
      identityPolicies: identity.map((p) => ({ name: p.name, policy: p.policy as unknown as Record<string, unknown> })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(resourcePolicy ? { resourcePolicy: resourcePolicy as unknown as Record<string, unknown> } : {}),
      request: {
        principal: this.principalOf(caller),
        action: request.action,
        resource: { resource: request.resource, accountId: this.r.account },
        contextVariables: { 'aws:SecureTransport': 'true', ...('service' in caller ? caller.context : {}), ...request.context },
      },
    } as Simulation;
    const out = await runSimulation(simulation, {});
    const who = 'role' in caller ? caller.role : caller.service;
    if (out.resultType === 'error') return { caller: who, request, result: `evaluator error: ${JSON.stringify(out.errors)}` };
    if (out.resultType !== 'single') return { caller: who, request, result: `unexpected ${out.resultType} result` };
    if (out.overallResult !== 'Allowed') return { caller: who, request, result: out.overallResult };
    if ('role' in caller) {
      for (const s of out.result.analysis?.identityAnalysis?.allowStatements ?? []) {
        const explain = s.explain as { identifier: string; actions: unknown; resources: unknown };
        const actions = list(explain.actions as Array<{ action: string; matches: boolean }>).filter((a) => a.matches).map((a) => a.action);
        const resources = list(explain.resources as Array<{ resource: string; matches: boolean }>).filter((x) => x.matches).map((x) => x.resource);
        for (const a of actions) for (const res of resources) this.used.add(`${caller.role}|${s.policyId}#${explain.identifier}|${a}|${res}`);
      }
    }
    return undefined;
  }

  /** Evaluates many requests of one caller; returns the refusals. */
  async checkAll(caller: Caller, requests: readonly IamRequest[]): Promise<Refusal[]> {
    const out: Refusal[] = [];
    for (const req of requests) {
      const refusal = await this.check(caller, req);
      if (refusal) out.push(refusal);
    }
    return out;
  }

  /**
   * What Lambda itself does with a function's role, read from the template: assume it, write the
   * function's logs (LoggingConfig), send X-Ray segments (TracingConfig Active), poll its SQS event
   * sources (ReceiveMessage, DeleteMessage, GetQueueAttributes, as the Lambda docs list for SQS
   * event source mappings) and deliver failed asynchronous invocations to an SQS destination.
   */
  lambdaPlatformRequests(functionId: string): Array<{ caller: Caller; request: IamRequest }> {
    const p = this.resources[functionId]?.Properties ?? {};
    const role = this.functionRole(functionId);
    const out: Array<{ caller: Caller; request: IamRequest }> = [
      { caller: { service: 'lambda.amazonaws.com', context: {} }, request: { action: 'sts:AssumeRole', resource: this.r.arn(role), why: 'Lambda assumes the function role' } },
    ];
    const as = (request: IamRequest): void => {
      out.push({ caller: { role }, request });
    };
    const logGroup = (p.LoggingConfig as { LogGroup?: unknown } | undefined)?.LogGroup;
    if (logGroup) {
      const stream = `arn:aws:logs:${this.r.region}:${this.r.account}:log-group:${this.r.str(logGroup)}:log-stream:2026/01/01/[$LATEST]0123456789abcdef`;
      for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents']) as({ action, resource: stream, why: 'function logs' });
    }
    if ((p.TracingConfig as { Mode?: string } | undefined)?.Mode === 'Active') {
      for (const action of ['xray:PutTraceSegments', 'xray:PutTelemetryRecords']) as({ action, resource: '*', why: 'X-Ray active tracing' });
    }
    const mine = (ref: unknown): boolean => {
      const name = this.r.str(ref);
      return name === this.r.name(functionId) || name === this.r.arn(functionId);
    };
    for (const [id, m] of this.ofType('AWS::Lambda::EventSourceMapping').filter(([, m]) => mine(m.FunctionName))) {
      const queue = this.r.str(m.EventSourceArn);
      for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes']) as({ action, resource: queue, why: `event source mapping ${id}` });
    }
    for (const [id, c] of this.ofType('AWS::Lambda::EventInvokeConfig').filter(([, c]) => mine(c.FunctionName))) {
      const config = this.r.resolve(c.DestinationConfig ?? {}) as { OnFailure?: { Destination?: string }; OnSuccess?: { Destination?: string } };
      for (const dest of [config.OnFailure?.Destination, config.OnSuccess?.Destination]) {
        if (dest?.startsWith('arn:aws:sqs:')) as({ action: 'sqs:SendMessage', resource: dest, why: `asynchronous invocation destination (${id})` });
        else if (dest) throw new Error(`${id}: destination ${dest} has no IAM mapping here.`);
      }
    }
    return out;
  }

  /**
   * What EventBridge Scheduler does for each schedule: assume the target role (trust policy, with
   * the schedule group as aws:SourceArn), invoke the target, and send failed deliveries to the
   * dead-letter queue, both as that role.
   */
  scheduleRequests(): Array<{ caller: Caller; request: IamRequest }> {
    const out: Array<{ caller: Caller; request: IamRequest }> = [];
    for (const [id, p] of this.ofType('AWS::Scheduler::Schedule')) {
      const target = p.Target as { Arn: unknown; RoleArn: unknown; DeadLetterConfig?: { Arn: unknown } };
      const roleArn = this.r.str(target.RoleArn);
      const role = this.ofType('AWS::IAM::Role').find(([rid]) => this.r.arn(rid) === roleArn)?.[0];
      if (!role) throw new Error(`${id}: its target role ${roleArn} is not a role of this template.`);
      const group = `arn:aws:scheduler:${this.r.region}:${this.r.account}:schedule-group/${(p.GroupName as string | undefined) ?? 'default'}`;
      out.push({
        caller: { service: 'scheduler.amazonaws.com', context: { 'aws:SourceArn': group, 'aws:SourceAccount': this.r.account } },
        request: { action: 'sts:AssumeRole', resource: roleArn, why: `${id} assumes its target role` },
      });
      const arn = this.r.str(target.Arn);
      if (!arn.startsWith('arn:aws:lambda:')) throw new Error(`${id}: target ${arn} has no IAM mapping here.`);
      out.push({ caller: { role }, request: { action: 'lambda:InvokeFunction', resource: arn, why: `${id} invokes its target` } });
      if (target.DeadLetterConfig) out.push({ caller: { role }, request: { action: 'sqs:SendMessage', resource: this.r.str(target.DeadLetterConfig.Arn), why: `${id} dead-letters a failed delivery` } });
    }
    return out;
  }

  /** What S3 does for each bucket notification to SQS: send the event, as s3.amazonaws.com, with the bucket as aws:SourceArn. */
  notificationRequests(): Array<{ caller: Caller; request: IamRequest }> {
    const out: Array<{ caller: Caller; request: IamRequest }> = [];
    for (const [id, p] of this.ofType('Custom::S3BucketNotifications')) {
      const bucketArn = `arn:aws:s3:::${this.r.str(p.BucketName)}`;
      const config = this.r.resolve(p.NotificationConfiguration) as { QueueConfigurations?: Array<{ QueueArn: string }> };
      for (const q of config.QueueConfigurations ?? []) {
        out.push({
          caller: { service: 's3.amazonaws.com', context: { 'aws:SourceArn': bucketArn, 'aws:SourceAccount': this.r.account } },
          request: { action: 'sqs:SendMessage', resource: q.QueueArn, why: `${id}: ObjectCreated event from ${bucketArn}` },
        });
      }
    }
    return out;
  }

  /** Every action on every resource pattern a role's Allow statements grant. */
  grants(roleId: string): Grant[] {
    const out: Grant[] = [];
    for (const { name, policy } of this.identityPolicies(roleId)) {
      list(policy.Statement).forEach((st, i) => {
        if (st.Effect !== 'Allow') return;
        const statement = `${name}#${st.Sid ?? String(i + 1)}`;
        const condition = st.Condition ? JSON.stringify(st.Condition) : undefined;
        for (const action of list(st.Action)) {
          for (const resource of list(st.Resource)) out.push({ role: roleId, action, resource, statement, ...(condition ? { condition } : {}) });
        }
      });
    }
    return out;
  }

  /** The grants of a role that no allowed request used. */
  unused(roleId: string): Grant[] {
    return this.grants(roleId).filter((g) => !this.used.has(`${roleId}|${g.statement}|${g.action}|${g.resource}`));
  }
}
