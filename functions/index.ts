/**
 * What a host of the Lambda handlers outside Lambda needs (the local stack runs them in-process):
 * the handler factories, the configuration they read and the dependencies they take.
 */
export { createClassifyApiHandler } from './classify-api/handler.js';
export { createS3TaggerHandler } from './s3-tagger/handler.js';
export { isOwnOutput, readConfig, type FunctionConfig } from './common/config.js';
export type { FunctionDeps, HandlerClassifier } from './common/deps.js';
export { createObservability } from './common/middleware.js';
export { wholeNumberParam } from './common/query.js';
export { labelAll } from './common/worker.js';
