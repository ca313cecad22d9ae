import { App } from 'aws-cdk-lib';
import { CONTEXT_DEFAULTS, loadConfig } from '../../infra/config.js';
import { InvalidContextError, MissingArtefactError } from '../../infra/errors.js';
import { buildResnetApp } from '../../infra/stack.js';

const fromObject = (ctx: Record<string, unknown>) => (k: string): unknown => ctx[k];

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(fromObject({}));
    expect(c).toMatchObject({
      modelId: 'resnet50-v2', modelSource: 'auto', modelForm: 'optimized', architecture: 'x86_64', memoryMb: 3008, apiMemoryMb: 3008,
      timeoutSeconds: 60, apiTimeoutSeconds: 29, uploadsPrefix: 'uploads/', resultsPrefix: 'resnet-results/',
      apiAuth: 'iam', sweepSchedule: 'rate(1 hour)', backlogThreshold: 5000, batch: true, topK: 5, tagParents: 2, minConfidence: 50, logRetentionDays: 30,
    });
    expect(c.batchInstanceTypes).toEqual(CONTEXT_DEFAULTS.batchInstanceTypes);
    expect(c.reservedConcurrency).toBeUndefined();
    expect(c.corsOrigins).toBeUndefined();
  });

  it('parses values given as strings on the command line', () => {
    const c = loadConfig(fromObject({
      memoryMb: '2048', batch: 'false', corsOrigins: 'https://a.example.com, https://b.example.com', architecture: 'arm64',
      reservedConcurrency: '20', batchInstanceTypes: 'g6.xlarge', apiAuth: 'jwt', jwtIssuer: 'https://issuer.example.com', jwtAudience: 'api',
    }));
    expect(c).toMatchObject({ memoryMb: 2048, apiMemoryMb: 2048, batch: false, architecture: 'arm64', reservedConcurrency: 20, apiAuth: 'jwt' });
    expect(c.corsOrigins).toEqual(['https://a.example.com', 'https://b.example.com']);
    expect(c.batchInstanceTypes).toEqual(['g6.xlarge']);
    expect(c.jwtAudience).toEqual(['api']);
  });

  it('takes the int8 form only with the int8 model, and says how to make it', () => {
    expect(loadConfig(fromObject({ modelForm: 'int8', int8Model: 'r50-int8.onnx' }))).toMatchObject({ modelForm: 'int8', int8Model: 'r50-int8.onnx' });
    expect(() => loadConfig(fromObject({ modelForm: 'int8' }))).toThrow(/"int8Model".*npx resnet quantize --out/);
  });

  it('accepts typed values from cdk.json', () => {
    const c = loadConfig(fromObject({ memoryMb: 1769, batch: false, corsOrigins: ['*'], modelId: 'resnet152-v1' }));
    expect(c).toMatchObject({ memoryMb: 1769, batch: false, modelId: 'resnet152-v1' });
    expect(c.corsOrigins).toEqual(['*']);
  });

  describe.each([
    ['memoryMb', 'abc', /"memoryMb".*integer from 128 to 10240/],
    ['memoryMb', 64, /from 128 to 10240/],
    ['memoryMb', '1.5', /integer/],
    ['timeoutSeconds', 901, /from 1 to 900/],
    ['apiTimeoutSeconds', 30, /API Gateway gives up after 30 s/],
    ['architecture', 'amd64', /"x86_64", "arm64"/],
    ['modelSource', 'disk', /"auto", "layer", "s3"/],
    ['modelForm', 'fp16', /"optimized", "int8", "original"/],
    ['int8Model', '/tmp/r50-int8.onnx', /"modelForm".*"int8" when int8Model is given/],
    ['modelId', 'resnet51-v2', /zoo id resnet\{18,34,50,101,152\}-v\{1,2\}/],
    ['uploadsPrefix', 'uploads', /ending in "\/"/],
    ['resultsPrefix', 'uploads/results/', /re-trigger the S3 trigger/],
    ['logRetentionDays', 10, /retention periods/],
    ['topK', 11, /at most 10 tags/],
    ['tagParents', 10, /at most 10 tags/],
    ['minConfidence', 101, /percent/],
    ['batch', 'yes', /true or false/],
    ['batchInstanceTypes', 'p4d.24xlarge', /g5, g6 or g6e/],
    ['batchInstanceTypes', 'g5.xlarge,c5.large', /g5, g6 or g6e/],
    ['sweepSchedule', 'every hour', /rate\(1 hour\)/],
    ['corsOrigins', 'https://a.example.com/path', /scheme and host/],
    ['bucketName', 'My_Bucket', /existing S3 bucket name/],
    ['alarmEmail', 'not-an-address', /e-mail address/],
    ['workerMaxConcurrency', 1, /from 2 to 1000/],
    ['apiAuth', 'jwt', /"jwtIssuer".*https:\/\/ issuer URL/],
  ])('rejects %s=%p', (key, value, message) => {
    it('with an InvalidContextError that names the key and how to set it', () => {
      let err: unknown;
      try { loadConfig(fromObject({ [key as string]: value })); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(InvalidContextError);
      const msg = (err as Error).message;
      expect(msg).toMatch(message as RegExp);
      expect(msg).toContain('-c ');
      expect((err as InvalidContextError).code).toBe('INVALID_ARGUMENT');
    });
  });

  it('requires an audience with a JWT issuer', () => {
    expect(() => loadConfig(fromObject({ apiAuth: 'jwt', jwtIssuer: 'https://id.example.com' }))).toThrow(/"jwtAudience"/);
  });

  it('allows a custom model id only together with a model folder', () => {
    expect(() => loadConfig(fromObject({ modelId: 'my-net' }))).toThrow(/"modelId"/);
    expect(loadConfig(fromObject({ modelId: 'my-net', modelDir: '/tmp/x' })).modelId).toBe('my-net');
  });

  it('rejects a misspelt key and suggests the right one', () => {
    expect(() => loadConfig(fromObject({}), ['memoryMB'])).toThrow(/did you mean "memoryMb"/);
    expect(() => loadConfig(fromObject({}), ['timoutSeconds'])).toThrow(/did you mean "timeoutSeconds"/);
    // CDK's own namespaced keys pass.
    expect(() => loadConfig(fromObject({}), ['@aws-cdk/core:checkSecretUsage', 'aws:cdk:enable-path-metadata', 'memoryMb'])).not.toThrow();
  });
});

describe('synth with invalid context', () => {
  it('fails before building anything, naming the key', () => {
    const app = new App({ context: { memoryMb: 'lots' } });
    expect(() => buildResnetApp(app, { nag: false })).toThrow(InvalidContextError);
    expect(() => buildResnetApp(new App({ context: { memoryMb: 'lots' } }), { nag: false })).toThrow(/Invalid CDK context "memoryMb": got "lots"/);
  });

  it('fails with the layer build command when the model layer is missing', () => {
    const app = new App({ context: { modelDir: '/nonexistent/model-layer', batch: false } });
    let err: unknown;
    try { buildResnetApp(app, { nag: false }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(MissingArtefactError);
    expect((err as Error).message).toMatch(/\/nonexistent\/model-layer\/model\/model\.onnx.*npx tsx layers\/build-model-layer\.ts --model resnet50-v2/);
  });
});

describe('API authorisation', () => {
  it('is IAM unless configured; a JWT issuer alone selects the JWT authoriser', () => {
    expect(loadConfig(fromObject({})).apiAuth).toBe('iam');
    expect(loadConfig(fromObject({ jwtIssuer: 'https://id.example.com', jwtAudience: 'api' }))).toMatchObject({ apiAuth: 'jwt', publicApi: false });
    expect(() => loadConfig(fromObject({ jwtIssuer: 'https://id.example.com' }))).toThrow(/"jwtAudience"/);
  });

  it('opens the API only with publicApi=true, and never together with an apiAuth mode', () => {
    expect(loadConfig(fromObject({ publicApi: 'true' }))).toMatchObject({ apiAuth: 'none', publicApi: true });
    expect(loadConfig(fromObject({ publicApi: false })).apiAuth).toBe('iam');
    expect(() => loadConfig(fromObject({ publicApi: 'true', apiAuth: 'iam' }))).toThrow(/"apiAuth".*publicApi=true/);
    expect(() => loadConfig(fromObject({ publicApi: 'yes' }))).toThrow(/"publicApi".*true or false/);
    expect(() => loadConfig(fromObject({ apiAuth: 'none' }))).toThrow(/"apiAuth"/);
  });
});
