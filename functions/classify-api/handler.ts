/**
 * classify-api: API Gateway HTTP API (payload v2) — POST /classify, GET /model, POST /uploads,
 * GET /results/{key}. See api/openapi.yaml.
 */
// First: with RESNET_MODEL_THREAD=1 it starts the model's session in a thread while the rest of the bundle loads.
import '../common/preload.js';

import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

import { defaultDeps, type FunctionDeps } from '../common/deps.js';
import { httpErrors, observability } from '../common/middleware.js';
import { route } from './routes.js';

/** Builds the handler over injected deps (tests, local stack). */
export function createClassifyApiHandler(deps: FunctionDeps) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(observability(deps.obs))
    .use(httpHeaderNormalizer())
    .use(httpErrors(deps.obs.logger))
    .handler((event) => route(event, deps));
}

/** Lambda entry point. */
export const handler = createClassifyApiHandler(defaultDeps('classify-api', 'interactive'));
