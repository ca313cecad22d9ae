/**
 * What a host of the Lambda handlers outside Lambda needs (the local stack runs them in-process):
 * the handler factories, the configuration they read and the dependencies they take.
 */
export { createClassifyApiHandler } from './classify-api/handler.js';
export { createS3TaggerHandler } from './s3-tagger/handler.js';
export { isOwnOutput, readConfig, type FunctionConfig } from './shared/config.js';
export type { FunctionDeps, HandlerClassifier } from './shared/deps.js';
export { createObservability } from './shared/middleware.js';
export { wholeNumberParam } from './shared/query.js';
export { labelAll } from './shared/worker.js';
