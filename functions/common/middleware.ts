/**
 * Cross-cutting concerns of the handlers as middy middlewares: Powertools logging, metrics and
 * tracing; and the HTTP error mapping of the classify API (ResnetError code → status + JSON body).
 */
import type middy from '@middy/core';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

import { ResnetError } from '../../core/errors.js';
import { TransientStorageError } from '../../labelling/errors.js';
import type { LabelObserver, LabelOutcome, ObjectRef } from '../../labelling/label-object.js';

/** One function's logger, metrics and tracer. */
export interface Observability {
  logger: Logger;
  metrics: Metrics;
  tracer: Tracer;
}

/**
 * Creates the Powertools trio for a function. Service name and namespace come from
 * `POWERTOOLS_SERVICE_NAME` / `POWERTOOLS_METRICS_NAMESPACE` when set.
 * @param service - default service name. @default 'resnet'
 */
export function createObservability(service = 'resnet'): Observability {
  const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? service;
  const logger = new Logger({ serviceName });
  // Where one Metrics instance serves overlapping invocations (the local stack), one flush can
  // empty the store before another's: that "no metrics" warning is noise, so it goes to debug.
  const metricsLogger = {
    debug: (...a: unknown[]) => logger.debug(String(a[0])),
    info: (...a: unknown[]) => logger.info(String(a[0])),
    error: (...a: unknown[]) => logger.error(String(a[0])),
    warn: (...a: unknown[]) => (String(a[0]).startsWith('No application metrics') ? logger.debug(String(a[0])) : logger.warn(String(a[0]))),
  };
  return {
    logger,
    metrics: new Metrics({ serviceName, namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'ResnetServerless', logger: metricsLogger }),
    tracer: new Tracer({ serviceName }),
  };
}

/**
 * Powertools middlewares (context in logs, X-Ray subsegment, metrics flushed after each
 * invocation). Every invocation counts one `Invocations`, so no flush is ever empty.
 */
export function observability(o: Observability): middy.MiddlewareObj[] {
  return [
    injectLambdaContext(o.logger, { resetKeys: true }),
    captureLambdaHandler(o.tracer, { captureResponse: false }),
    logMetrics(o.metrics, { captureColdStartMetric: true, throwOnEmptyMetrics: false }),
    { before: () => void o.metrics.addMetric('Invocations', MetricUnit.Count, 1) },
  ];
}

const STAGE_METRIC: Record<string, string> = {
  download: 'DownloadLatency',
  decode: 'DecodeLatency',
  preprocess: 'PreprocessLatency',
  inference: 'InferenceLatency',
  postprocess: 'PostprocessLatency',
  tags: 'TagWriteLatency',
  write: 'ResultWriteLatency',
};

/** A LabelObserver that turns per-image observations into metrics and log lines. */
export function labelObserver(o: Observability): LabelObserver {
  return {
    stage(name, ms) {
      const metric = STAGE_METRIC[name];
      if (metric) o.metrics.addMetric(metric, MetricUnit.Milliseconds, ms);
    },
    imageError(code, message, ref: ObjectRef) {
      o.logger.warn('image could not be labelled', { code, reason: message, bucket: ref.bucket, key: ref.key });
      o.metrics.singleMetric().addDimension('code', code).addMetric('ImageErrors', MetricUnit.Count, 1);
    },
    tagsWritten(written, dropped) {
      o.metrics.addMetric('TagsWritten', MetricUnit.Count, written);
      if (dropped.length) o.logger.info('labels dropped for the 10-tag limit', { dropped });
    },
  };
}

/** Logs and counts what labelObject did for one object. */
export function recordOutcome(o: Observability, ref: ObjectRef, out: LabelOutcome): void {
  o.logger.info(`object ${out.status}${out.reason ? ` (${out.reason})` : ''}`, {
    bucket: ref.bucket,
    key: ref.key,
    resultKey: out.resultKey,
    labels: out.result?.labels?.map((l) => l.name),
  });
  const metric = out.status === 'labelled' ? 'ImagesLabelled' : out.status === 'failed' ? 'ImagesFailed' : 'ImagesSkipped';
  o.metrics.addMetric(metric, MetricUnit.Count, 1);
  if (out.result?.labels) o.metrics.addMetric('LabelsWritten', MetricUnit.Count, out.result.labels.length);
}

/** An error with an HTTP status, raised by the API's own validation. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options: { cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HttpError';
    this.headers = options.headers ?? {};
  }
  readonly headers: Record<string, string>;
}

/** HTTP status for each core error code (anything else is our bug: 500). */
export const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  EMPTY_INPUT: 400,
  INVALID_ARGUMENT: 400,
  UNKNOWN_MODEL: 400,
  IMAGE_TOO_LARGE: 413,
  UNSUPPORTED_FORMAT: 415,
  CORRUPT_IMAGE: 422,
  IMAGE_TOO_SMALL: 422,
  FILE_NOT_FOUND: 404,
  STORAGE_UNAVAILABLE: 503,
};

/** `{error:{code,message}}` JSON response. */
export function jsonError(status: number, code: string, message: string, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ error: { code, message } }),
  };
}

/** middy's `timeoutEarlyResponse`: thrown just before the function's time limit. */
function isMiddyTimeout(err: unknown): err is Error {
  return err instanceof Error && err.name === 'TimeoutError' && (err.cause as { package?: unknown } | undefined)?.package === '@middy/core';
}

/** Maps any thrown error to a JSON error response; never leaks stacks or causes. */
export function errorResponse(err: unknown, logger?: Logger): APIGatewayProxyStructuredResultV2 {
  if (err instanceof HttpError) return jsonError(err.status, err.code, err.message, err.headers);
  if (err instanceof ResnetError) {
    const status = STATUS_BY_CODE[err.code] ?? 500;
    if (status === 500) logger?.error('unmapped core error', { code: err.code, message: err.message });
    return jsonError(status, err.code, err.message);
  }
  if (err instanceof TransientStorageError) {
    logger?.warn('storage unavailable', { message: err.message });
    return jsonError(503, err.code, 'Storage is temporarily unavailable; retry in a few seconds.', { 'retry-after': '2' });
  }
  if (isMiddyTimeout(err)) {
    logger?.warn('request ran out of time', { message: err.message });
    return jsonError(504, 'TIMEOUT', 'The request ran out of the API\'s time (API Gateway allows 29 s) before the image was classified; upload large images with POST /uploads, whose labeller has minutes.');
  }
  if (err instanceof Error) logger?.error('unhandled error', err);
  else logger?.error('unhandled error', { err: String(err) });
  return jsonError(500, 'INTERNAL', 'Internal error; it has been logged. Retry later or report it with the request id.');
}

/** middy middleware: turns errors into JSON responses (the API's `http-error-handler`). */
export function httpErrors(logger?: Logger): middy.MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> {
  return {
    onError: (request) => {
      request.response = errorResponse(request.error, logger);
    },
  };
}
