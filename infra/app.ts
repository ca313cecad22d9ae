/**
 * CDK entry point (`cdk.json`: `npx tsx infra/app.ts`). Configuration: CDK context, see
 * infra/config.ts and the README's configuration table. The model layer is resolved first
 * (layers/resolve-model-layer.ts): built from the fetch cache, or from the generated untrained
 * ResNet-50 v2 when nothing is fetched, so `npm run synth` works offline on a fresh clone. Then
 * the model form the layer ships (`-c modelForm`, layers/build-model-form.ts) is built beside it.
 */
import { App } from 'aws-cdk-lib';
import { buildModelForm } from '../layers/build-model-form.js';
import { resolveModelLayer } from '../layers/resolve-model-layer.js';
import { findDocker } from './docker.js';
import { buildResnetApp } from './stack.js';

const app = new App();
try {
  const str = (key: string): string | undefined => {
    const v: unknown = app.node.tryGetContext(key);
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const model = await resolveModelLayer({ modelId: str('modelId'), modelDir: str('modelDir') });
  // stderr: `cdk synth` prints the template on stdout.
  console.error(`[resnet] ${model.message}`);
  app.node.setContext('modelId', model.modelId);
  app.node.setContext('modelDir', model.modelDir);
  const form = str('modelForm') ?? 'optimized';
  if (form === 'optimized' || form === 'int8') {
    const int8Model = str('int8Model');
    const built = await buildModelForm({ sourceDir: model.modelDir, form, ...(int8Model ? { int8Model } : {}) });
    console.error(`[resnet] model form ${form}: ${built.modelFile}, ${(built.bytes / 1e6).toFixed(1)} MB`);
  }
  const stack = buildResnetApp(app);
  console.error(`[resnet] ${stack.packaging.decision.reason}`);
  if (stack.gpu && findDocker() === null) {
    console.error('[resnet] WARNING: no Docker client found: `cdk deploy` builds the GPU worker image with it (CUDA base, a multi-GB pull, linux/amd64). Install Docker, or deploy without the GPU path: -c batch=false.');
  }
  app.synth();
} catch (err) {
  console.error(`[resnet] synth failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
