/**
 * A non-default deployment in one synth: arm64, an existing bucket, a Cognito-authorised API
 * with CORS, no GPU path, alarm e-mail, and a generated ResNet-152 of the zoo's size, which
 * does not fit Lambda's 250 MiB with onnxruntime and must ship as an S3 artefact.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { acknowledgements, generatedModelLayerDir, nagFindings, type Synth, synth } from './fixtures.js';

type Json = Record<string, unknown>;
let s: Synth;
let resources: Record<string, { Type: string; Properties: Json }>;
let modelDir: string;

beforeAll(async () => {
  modelDir = await generatedModelLayerDir(152, 'variants');
  s = await synth({
    modelDir, modelId: 'resnet152-v1', architecture: 'arm64', bucketName: 'my-photos', apiAuth: 'cognito',
    corsOrigins: 'https://app.example.com', batch: 'false', alarmEmail: 'ops@example.com', memoryMb: '4096', timeoutSeconds: '120',
  });
  resources = s.template.toJSON().Resources as typeof resources;
}, 240_000);

afterAll(() => s?.cleanup());

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const logicalId = (c: { node: { defaultChild?: unknown } }) => s.stack.getLogicalId(c.node.defaultChild as never);

it('decides S3 packaging for ResNet-152 on arm64 and says why', () => {
  expect(s.stack.packaging.decision.mode).toBe('s3');
  expect(s.stack.packaging.decision.reason).toMatch(/^resnet152-v1 on arm64: model as S3 artefact loaded to \/tmp at cold start: .* exceeds Lambda's 250\.0 MiB unzipped limit/);
  expect(ofType('AWS::Lambda::LayerVersion')).toHaveLength(1);
  s.template.hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleArchitectures: ['arm64'] });
});

it('points the classifier functions at the S3 model with room in /tmp, and lets them read only those objects', () => {
  const modelMb = statSync(path.join(modelDir, 'model/model.onnx')).size / 1048576;
  for (const f of [s.stack.tagger, s.stack.worker, s.stack.classifyApi]) {
    const p = resources[logicalId(f.fn)].Properties;
    expect(p.Architectures).toEqual(['arm64']);
    expect((p.Layers as unknown[]).length).toBe(1);
    const env = (p.Environment as Json).Variables as Json;
    expect(env.MODEL_DIR).toBeUndefined();
    expect(JSON.stringify(env.MODEL_S3_URI)).toMatch(/^\{"Fn::Sub":"s3:\/\/cdk-[a-z0-9]+-assets-\$\{AWS::AccountId\}-\$\{AWS::Region\}\/[0-9a-f]{64}\.onnx"\}$/);
    expect(JSON.stringify(env.LABELS_S3_URI)).toMatch(/\.txt"\}$/);
    expect((p.EphemeralStorage as Json).Size as number).toBeGreaterThanOrEqual(Math.ceil(modelMb) + 512);
    const policy = resources[s.stack.getLogicalId(f.role.node.findChild('DefaultPolicy').node.defaultChild as never)];
    const modelRead = ((policy.Properties.PolicyDocument as Json).Statement as Json[]).find((st) => JSON.stringify(st.Resource).includes('.onnx'))!;
    expect(modelRead.Action).toBe('s3:GetObject');
    // minimizePolicies (cdk.json) may merge other GetObject grants into the statement; of the assets bucket, only these two objects.
    const assets = (modelRead.Resource as unknown[]).map((r) => JSON.stringify(r)).filter((r) => /-assets-/.test(r));
    expect(assets).toEqual([expect.stringMatching(/\.onnx"/), expect.stringMatching(/\.txt"/)]);
  }
  expect(resources[logicalId(s.stack.tagger.fn)].Properties).toMatchObject({ MemorySize: 4096, Timeout: 120 });
});

it('sizes the classifiers\' onnxruntime threads by their memory (4,096 MB: 2.3 vCPUs, 2 threads); the sweeper classifies nothing and gets none', () => {
  for (const f of [s.stack.tagger, s.stack.worker, s.stack.classifyApi]) {
    expect(((resources[logicalId(f.fn)].Properties.Environment as Json).Variables as Json).ORT_THREADS).toBe('2');
  }
  expect(((resources[logicalId(s.stack.sweeperFunction.fn)].Properties.Environment as Json).Variables as Json).ORT_THREADS).toBeUndefined();
});

it('uses the existing bucket: creates none, subscribes to it', () => {
  expect(ofType('AWS::S3::Bucket')).toHaveLength(0);
  const [[, n]] = ofType('Custom::S3BucketNotifications');
  expect(n.Properties.BucketName).toBe('my-photos');
  // 6x the 120 s timeout.
  expect(resources[logicalId(s.stack.uploads.events.queue)].Properties.VisibilityTimeout).toBe(720);
});

it('authorises routes with the Cognito user pool and answers CORS for the configured origin', () => {
  for (const [, r] of ofType('AWS::ApiGatewayV2::Route')) expect(r.Properties.AuthorizationType).toBe('JWT');
  s.template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', { AuthorizerType: 'JWT', JwtConfiguration: Match.objectLike({ Issuer: Match.anyValue() }) });
  s.template.hasResourceProperties('AWS::ApiGatewayV2::Api', { CorsConfiguration: Match.objectLike({ AllowOrigins: ['https://app.example.com'], AllowMethods: ['GET', 'POST', 'OPTIONS'] }) });
  s.template.resourceCountIs('AWS::Cognito::UserPool', 1);
  // A deployer gets a token from the CLI (admin-initiate-auth) with the pool and client ids the stack outputs.
  s.template.hasResourceProperties('AWS::Cognito::UserPoolClient', { ExplicitAuthFlows: Match.arrayWith(['ALLOW_ADMIN_USER_PASSWORD_AUTH', 'ALLOW_USER_SRP_AUTH']) });
  const outputs = Object.keys(s.template.toJSON().Outputs as Json);
  expect(outputs.filter((o) => /UserPool(Client)?Id/.test(o))).toHaveLength(2);
});

it('has no GPU path and a sweeper that only fans out', () => {
  expect(ofType('AWS::Batch::ComputeEnvironment')).toHaveLength(0);
  expect(ofType('AWS::EC2::VPC')).toHaveLength(0);
  const env = (resources[logicalId(s.stack.sweeperFunction.fn)].Properties.Environment as Json).Variables as Json;
  expect(env.BATCH_JOB_QUEUE).toBeUndefined();
  expect(env.QUEUE_URL).toBeDefined();
});

it('subscribes the alarm e-mail with a dead-letter queue', () => {
  s.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', RedrivePolicy: Match.anyValue() });
});

it('passes cdk-nag with reasons for every acknowledgement', () => {
  expect(nagFindings(s.app)).toEqual([]);
  for (const a of acknowledgements(s.app)) expect(a.reason.length).toBeGreaterThan(40);
  expect(acknowledgements(s.app).map((a) => a.id.replace(/^Annotation::/, ''))).toEqual(expect.arrayContaining(['AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::my-photos/uploads/*]']));
});
