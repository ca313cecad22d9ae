/**
 * CDK entry point (`cdk.json`: `npx tsx infra/app.ts`). Configuration: CDK context, see
 * infra/config.ts and the README's context table.
 */
import { App } from 'aws-cdk-lib';
import { buildResnetApp } from './stack.js';

const app = new App();
try {
  const stack = buildResnetApp(app);
  // stderr: `cdk synth` prints the template on stdout.
  console.error(`[resnet] ${stack.packaging.decision.reason}`);
  app.synth();
} catch (err) {
  console.error(`[resnet] synth failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
