/**
 * The default deployment (x86_64, IAM-authorised API, GPU batch path), synthesised once with
 * a small generated model; assertions over the template, the asset manifest and cdk-nag.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import type * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { acknowledgements, nagFindings, type Synth, synth } from './fixtures.js';

type Json = Record<string, unknown>;
let s: Synth;
let resources: Record<string, { Type: string; Properties: Json }>;

beforeAll(async () => {
  s = await synth();
  resources = s.template.toJSON().Resources as typeof resources;
}, 240_000);

afterAll(() => s?.cleanup());

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const logicalId = (c: { node: { defaultChild?: unknown } }) => s.stack.getLogicalId(c.node.defaultChild as never);

describe('storage', () => {
  it('creates an encrypted, versioned, private, TLS-only data bucket with access logging and an uploads lifecycle', () => {
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'data-bucket/' }),
      LifecycleConfiguration: { Rules: Match.arrayWith([
        Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
        Match.objectLike({ Id: 'expire-uploads', Prefix: 'uploads/', ExpirationInDays: 30, Status: 'Enabled' }),
      ]) },
    });
    for (const [, b] of ofType('AWS::S3::Bucket')) {
      expect(b.Properties.PublicAccessBlockConfiguration).toBeDefined();
      expect(b.Properties.BucketEncryption).toBeDefined();
    }
    const denyInsecure = ofType('AWS::S3::BucketPolicy').filter(([, p]) => JSON.stringify(p.Properties).includes('"aws:SecureTransport":"false"'));
    expect(denyInsecure).toHaveLength(ofType('AWS::S3::Bucket').length);
  });

  it('notifies only for the uploads prefix, which does not cover the results prefix', () => {
    const [[, n]] = ofType('Custom::S3BucketNotifications');
    const configs = (n.Properties.NotificationConfiguration as Json).QueueConfigurations as Json[];
    expect(configs).toHaveLength(1);
    expect(configs[0].Events).toEqual(['s3:ObjectCreated:*']);
    const rules = ((configs[0].Filter as Json).Key as Json).FilterRules as Array<{ Name: string; Value: string }>;
    expect(rules).toEqual([{ Name: 'prefix', Value: 'uploads/' }]);
    expect('resnet-results/uploads/x.jpg'.startsWith(rules[0].Value)).toBe(false);
  });
});

describe('functions', () => {
  it('bundles the four handlers as Node 24 CJS with tracing, JSON logs and the env contract', () => {
    const fns = ofType('AWS::Lambda::Function').filter(([id]) => !id.startsWith('BucketNotificationsHandler'));
    expect(fns).toHaveLength(4);
    for (const [, f] of fns) {
      expect(f.Properties).toMatchObject({ Runtime: 'nodejs24.x', Handler: 'index.handler', Architectures: ['x86_64'], TracingConfig: { Mode: 'Active' } });
      expect(f.Properties.LoggingConfig).toMatchObject({ LogFormat: 'JSON' });
    }
    const tagger = resources[logicalId(s.stack.tagger.fn)].Properties;
    expect(tagger).toMatchObject({ MemorySize: 3008, Timeout: 60 });
    expect((tagger.Layers as unknown[]).length).toBe(2);
    expect((tagger.Environment as Json).Variables).toMatchObject({
      MODEL_ID: 'resnet50-v2', MODEL_DIR: '/opt/model', RESULTS_PREFIX: 'resnet-results/', UPLOADS_PREFIX: 'uploads/', TOP_K: '5', TAG_PARENTS: '2', MIN_CONFIDENCE: '50',
      POWERTOOLS_SERVICE_NAME: 's3-tagger', POWERTOOLS_METRICS_NAMESPACE: 'ResnetServerless',
    });
    expect(resources[logicalId(s.stack.classifyApi.fn)].Properties).toMatchObject({ Timeout: 29, MemorySize: 3008 });
    const sweeperEnv = (resources[logicalId(s.stack.sweeperFunction.fn)].Properties.Environment as Json).Variables as Json;
    expect(sweeperEnv).toMatchObject({ BACKLOG_THRESHOLD: '5000' });
    expect(Object.keys(sweeperEnv)).toEqual(expect.arrayContaining(['QUEUE_URL', 'BATCH_JOB_QUEUE', 'BATCH_JOB_DEFINITION']));
    // The inventory's reports folder, as S3 writes it: <source bucket>/<inventory id>/ (no destination prefix).
    expect(sweeperEnv).toMatchObject({
      INVENTORY_BUCKET: { Ref: logicalId(s.stack.inventory.bucket!) },
      INVENTORY_PREFIX: { 'Fn::Join': ['', [{ Ref: logicalId(s.stack.storage.bucket) }, '/resnet-uploads/']] },
    });
    expect(resources[logicalId(s.stack.sweeperFunction.fn)].Properties.Layers).toBeUndefined();
  });

  it('keeps onnxruntime-node out of the bundles and each bundle within the packaging budget', () => {
    for (const f of [s.stack.tagger, s.stack.worker, s.stack.classifyApi, s.stack.sweeperFunction]) {
      const asset = f.fn.node.findChild('Code') as s3assets.Asset;
      const js = path.join(s.app.outdir, asset.assetPath, 'index.js');
      const bytes = statSync(js).size;
      expect(bytes).toBeLessThan(s.stack.config.functionBudgetMb * 1_000_000);
      const code = readFileSync(js, 'utf8');
      expect(code).not.toContain('onnxruntime_binding.node');
      if (f !== s.stack.sweeperFunction) expect(code).toMatch(/require\("onnxruntime-node"\)/);
    }
  });

  it('ships the optimised model form in the model layer and the original ONNX file to S3 for the batch job', () => {
    const p = s.stack.packaging;
    expect(p.decision.mode).toBe('layer');
    const layer = p.modelLayer!.node.findChild('Code') as s3assets.Asset;
    const files = readdirSync(path.join(s.app.outdir, layer.assetPath, 'model')).sort();
    expect(files).toEqual(['labels.txt', 'model.optimized.data', 'model.optimized.onnx']);
    expect(resources[logicalId(p.modelLayer!)].Properties.Description).toMatch(/\(optimized\)/);
    // The GPU batch job's providers get the file as it came, with standard operators only.
    expect(p.modelObject!.assetPath).toMatch(/\.onnx$/);
    expect(statSync(path.join(s.app.outdir, p.modelObject!.assetPath)).size).toBe(statSync(path.join(s.stack.config.modelDir!, 'model/model.onnx')).size);
  });

  it('gives every function a log group with the configured retention', () => {
    for (const f of [s.stack.tagger, s.stack.worker, s.stack.classifyApi, s.stack.sweeperFunction]) {
      expect(resources[logicalId(f.logGroup)].Properties.RetentionInDays).toBe(30);
      expect((resources[logicalId(f.fn)].Properties.LoggingConfig as Json).LogGroup).toEqual({ Ref: logicalId(f.logGroup) });
    }
  });

  it('grants the sweeper what the sweep calls: list uploads and results, read results and inventory manifests, write only under the sweep folder, no image reads', () => {
    const policy = resources[s.stack.getLogicalId(s.stack.sweeperFunction.role.node.findChild('DefaultPolicy').node.defaultChild as never)];
    const statements = (policy.Properties.PolicyDocument as Json).Statement as Json[];
    const actions = (st: Json): string[] => [st.Action as string | string[]].flat();
    const resource = (st: Json): string => JSON.stringify(st.Resource);
    const puts = statements.filter((st) => actions(st).includes('s3:PutObject'));
    expect(puts).toHaveLength(1);
    expect(resource(puts[0])).toContain('/resnet-results/_sweep/*');
    const reports = logicalId(s.stack.inventory.bucket!);
    const storage = logicalId(s.stack.storage.bucket);
    // Object reads (minimizePolicies may merge statements: one resource at a time): the results, and
    // the inventory reports' manifest.json files (not their CSV files).
    const gets = statements.filter((st) => actions(st).includes('s3:GetObject')).flatMap((st) => [st.Resource].flat());
    expect(gets).toContainEqual({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [reports, 'Arn'] }, '/', { Ref: storage }, '/resnet-uploads/*/manifest.json']] });
    expect(gets.map((r) => JSON.stringify(r)).every((r) => r.includes('/resnet-results/*') || (r.includes(reports) && r.endsWith('/resnet-uploads/*/manifest.json"]]}')))).toBe(true);
    // Listing the inventory bucket: only prefixes in the reports' folder.
    const lists = statements.filter((st) => actions(st).includes('s3:ListBucket') && resource(st).includes(reports));
    expect(lists).toEqual([expect.objectContaining({
      Resource: { 'Fn::GetAtt': [reports, 'Arn'] },
      Condition: { StringLike: { 's3:prefix': { 'Fn::Join': ['', [{ Ref: storage }, '/resnet-uploads/*']] } } },
    })]);
    expect(statements.some((st) => actions(st).includes('s3:PutObjectTagging'))).toBe(false);
  });

  it('configures a daily CSV inventory of the uploads prefix into a bucket of its own that the Batch job may read', () => {
    const reports = logicalId(s.stack.inventory.bucket!);
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      InventoryConfigurations: [Match.objectLike({
        Id: 'resnet-uploads', Enabled: true, ScheduleFrequency: 'Daily', IncludedObjectVersions: 'Current', Prefix: 'uploads/',
        OptionalFields: ['Size', 'LastModifiedDate', 'ETag'],
        Destination: Match.objectLike({ Format: 'CSV', BucketArn: { 'Fn::GetAtt': [reports, 'Arn'] } }),
      })],
    });
    expect(resources[reports].Properties.LifecycleConfiguration).toEqual({ Rules: [expect.objectContaining({ ExpirationInDays: 14 })] });
    const jobStatements = ofType('AWS::IAM::Policy').filter(([id]) => id.startsWith('GpuJobRole')).flatMap(([, p]) => (p.Properties.PolicyDocument as Json).Statement as Json[]);
    // The job reads the report's manifest and CSV files: the reports' folder of the inventory bucket, nothing else there.
    const onReports = jobStatements.flatMap((st) => [st.Resource].flat().filter((r) => JSON.stringify(r).includes(reports)).map((r) => ({ action: st.Action, resource: r })));
    expect(onReports).toEqual([{
      action: 's3:GetObject',
      resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [reports, 'Arn'] }, '/', { Ref: logicalId(s.stack.storage.bucket) }, '/resnet-uploads/*']] },
    }]);
  });

  it('sends failed asynchronous sweeps to a queue', () => {
    s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(s.stack.sweeperFunction.fn) },
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [s.stack.getLogicalId(s.stack.sweeper.failures.node.defaultChild as never), 'Arn'] } } },
    });
  });
});

describe('queues', () => {
  it('drive each SQS consumer with partial batch failures, a DLQ and visibility >= 6x its timeout', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(2);
    for (const [, m] of mappings) {
      expect(m.Properties.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
      expect(m.Properties.ScalingConfig).toEqual({ MaximumConcurrency: 10 });
      const queueId = ((m.Properties.EventSourceArn as Json)['Fn::GetAtt'] as string[])[0];
      const fnId = (m.Properties.FunctionName as Json).Ref as string;
      const queue = resources[queueId].Properties;
      const timeout = resources[fnId].Properties.Timeout as number;
      expect(queue.VisibilityTimeout as number).toBeGreaterThanOrEqual(6 * timeout);
      const redrive = queue.RedrivePolicy as Json;
      expect(redrive.maxReceiveCount).toBe(5);
      expect(resources[((redrive.deadLetterTargetArn as Json)['Fn::GetAtt'] as string[])[0]].Type).toBe('AWS::SQS::Queue');
      expect(queue.SqsManagedSseEnabled).toBe(true);
    }
  });
});

describe('HTTP API', () => {
  it('authorises every route with IAM', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(['GET /model', 'GET /results/{key+}', 'POST /classify', 'POST /uploads']);
    for (const r of routes) expect(r.AuthorizationType).toBe('AWS_IAM');
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP', CorsConfiguration: Match.absent() });
  });

  it('throttles the stage and writes JSON access logs', () => {
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default', AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': [logicalId(s.stack.api.accessLogs), 'Arn'] }, Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"') },
    });
  });
});

describe('schedule', () => {
  it('invokes the sweeper hourly with retries and a dead-letter queue', () => {
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [logicalId(s.stack.sweeperFunction.fn), 'Arn'] },
        RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 2 },
        DeadLetterConfig: { Arn: Match.anyValue() },
      }),
    });
  });
});

describe('GPU batch', () => {
  it('has a Spot and an on-demand GPU compute environment that scale to zero, Spot first', () => {
    const ces = ofType('AWS::Batch::ComputeEnvironment').map(([id, r]) => [id, r.Properties.ComputeResources as Json] as const);
    expect(ces.map(([, c]) => c.Type).sort()).toEqual(['EC2', 'SPOT']);
    for (const [, c] of ces) {
      expect(c.MinvCpus).toBe(0);
      expect(c.InstanceTypes).toEqual(['g5.xlarge', 'g5.2xlarge', 'g6.xlarge', 'g6.2xlarge']);
      expect(c.Ec2Configuration).toEqual([{ ImageType: 'ECS_AL2023_NVIDIA' }]);
    }
    const spotId = ces.find(([, c]) => c.Type === 'SPOT')![0];
    expect(ces.find(([, c]) => c.Type === 'SPOT')![1]).toMatchObject({ AllocationStrategy: 'SPOT_PRICE_CAPACITY_OPTIMIZED', MaxvCpus: 64 });
    const [[, q]] = ofType('AWS::Batch::JobQueue');
    const order = q.Properties.ComputeEnvironmentOrder as Array<{ Order: number; ComputeEnvironment: Json }>;
    expect(order.find((o) => o.Order === 1)!.ComputeEnvironment).toEqual({ 'Fn::GetAtt': [spotId, 'ComputeEnvironmentArn'] });
    expect(order).toHaveLength(2);
  });

  it('runs the worker image with one GPU, the model from S3, retries on Spot reclaim', () => {
    const [[, jd]] = ofType('AWS::Batch::JobDefinition');
    const c = jd.Properties.ContainerProperties as Json;
    expect(c.Command).toEqual(['batch', 'Ref::input']);
    expect(c.ResourceRequirements).toEqual(expect.arrayContaining([{ Type: 'GPU', Value: '1' }, { Type: 'VCPU', Value: '4' }]));
    expect(JSON.stringify(c.Image)).toContain('container-assets');
    const env = Object.fromEntries((c.Environment as Array<{ Name: string; Value: unknown }>).map((e) => [e.Name, e.Value]));
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['MODEL_ID', 'MODEL_S3_URI', 'LABELS_S3_URI', 'RESULTS_BUCKET', 'RESULTS_PREFIX']));
    expect(jd.Properties.Timeout).toEqual({ AttemptDurationSeconds: 240 * 60 });
    expect((jd.Properties.RetryStrategy as Json).EvaluateOnExit).toEqual(expect.arrayContaining([{ Action: 'RETRY', OnStatusReason: 'Host EC2*' }]));
  });

  it('builds the image from batch/Dockerfile with the CUDA build of onnxruntime-node', () => {
    const manifest = JSON.parse(readFileSync(path.join(s.app.outdir, `${s.stack.artifactId}.assets.json`), 'utf8')) as { dockerImages: Record<string, { source: Json }> };
    const images = Object.values(manifest.dockerImages);
    expect(images).toHaveLength(1);
    expect(images[0].source).toMatchObject({ dockerFile: 'batch/Dockerfile', dockerBuildArgs: { ONNXRUNTIME_NODE_INSTALL: 'cuda12' }, platform: 'linux/amd64' });
  });

  it('lets the sweeper submit jobs to this queue and job definition only', () => {
    const policy = resources[s.stack.getLogicalId(s.stack.sweeperFunction.role.node.findChild('DefaultPolicy').node.defaultChild as never)];
    const submit = ((policy.Properties.PolicyDocument as Json).Statement as Json[]).filter((st) => st.Action === 'batch:SubmitJob');
    expect(submit).toHaveLength(1);
    expect(JSON.stringify(submit[0].Resource)).not.toContain('"*"');
  });
});

describe('monitoring', () => {
  it('alarms on errors, throttles, duration near timeout, DLQ depth and API 5xx, all to the SNS topic', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const byMetric = (name: string) => alarms.filter((a) => a.MetricName === name);
    expect(byMetric('Errors')).toHaveLength(4);
    expect(byMetric('Throttles')).toHaveLength(4);
    expect(byMetric('Duration')).toHaveLength(4);
    expect(byMetric('ApproximateNumberOfMessagesVisible')).toHaveLength(3);
    expect(byMetric('5xx')).toHaveLength(1);
    const taggerDuration = byMetric('Duration').find((a) => JSON.stringify(a.Dimensions).includes(logicalId(s.stack.tagger.fn)))!;
    expect(taggerDuration.Threshold).toBe(48_000);
    const topic = s.stack.getLogicalId(s.stack.monitoring.topic.node.defaultChild as never);
    for (const a of alarms) expect(a.AlarmActions).toEqual([{ Ref: topic }]);
    expect(ofType('AWS::CloudWatch::Dashboard')).toHaveLength(1);
  });
});

describe('least privilege', () => {
  // Resource "*" only where the service has no resource-level permissions.
  const STAR_ALLOWED: Record<string, string> = {
    'xray:PutTraceSegments': 'X-Ray has no resource-level permissions',
    'xray:PutTelemetryRecords': 'X-Ray has no resource-level permissions',
    'ecr:GetAuthorizationToken': 'ECR auth tokens are account-wide',
  };
  it('has no wildcard actions and Resource "*" only for actions that require it', () => {
    const statements: Json[] = [];
    for (const [, r] of ofType('AWS::IAM::Policy')) statements.push(...((r.Properties.PolicyDocument as Json).Statement as Json[]));
    for (const [, r] of ofType('AWS::IAM::Role')) for (const p of (r.Properties.Policies as Json[] | undefined) ?? []) statements.push(...((p.PolicyDocument as Json).Statement as Json[]));
    expect(statements.length).toBeGreaterThan(20);
    for (const st of statements) {
      const actions = ([] as string[]).concat(st.Action as string | string[]);
      for (const a of actions) expect(a).not.toMatch(/(^\*$|:\*$)/);
      const resources = ([] as unknown[]).concat(st.Resource as unknown);
      if (resources.includes('*')) for (const a of actions) expect(Object.keys(STAR_ALLOWED)).toContain(a);
    }
  });

  it('attaches AWS-managed policies only to the Batch hosts and CDK\'s notifications handler', () => {
    const managed = ofType('AWS::IAM::Role').flatMap(([id, r]) => ((r.Properties.ManagedPolicyArns as Json[] | undefined) ?? []).map((m) => `${id.replace(/[0-9A-F]{8}$/, '')}:${JSON.stringify(m).match(/policy\/([^"]+)/)![1]}`));
    expect(managed.sort()).toEqual([
      'BucketNotificationsHandler050a0587b7544547bf325f094a3db834Role:service-role/AWSLambdaBasicExecutionRole',
      'GpuOnDemandInstanceProfileRole:service-role/AmazonEC2ContainerServiceforEC2Role',
      'GpuSpotInstanceProfileRole:service-role/AmazonEC2ContainerServiceforEC2Role',
    ]);
  });
});

describe('cdk-nag', () => {
  it('AwsSolutions and Serverless packs report no unacknowledged finding', () => {
    expect(nagFindings(s.app)).toEqual([]);
  });

  it('every acknowledgement carries a reason', () => {
    const acks = acknowledgements(s.app);
    expect(acks.length).toBeGreaterThan(10);
    for (const a of acks) expect(a.reason.length).toBeGreaterThan(40);
  });
});
