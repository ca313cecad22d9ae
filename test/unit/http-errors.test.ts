/**
 * The API's error mapping for a request that runs out of time: middy's early timeout (thrown just
 * before the function's limit) is a typed 504, not an INTERNAL 500.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';

import { httpErrors } from '../../functions/common/middleware.js';
import { localContext } from '../../local/http-adapter.js';

describe('httpErrors', () => {
  it('answers 504 TIMEOUT, pointing to POST /uploads, when the handler outlives the time left', async () => {
    const slow = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
      .use(httpErrors())
      .handler(async () => {
        await new Promise((r) => setTimeout(r, 2_000));
        return { statusCode: 200, body: 'late' };
      });
    const context: Context = localContext('classify-api', 200);
    const res = (await slow({} as APIGatewayProxyEventV2, context)) as APIGatewayProxyStructuredResultV2;
    expect(res.statusCode).toBe(504);
    expect(JSON.parse(String(res.body))).toMatchObject({ error: { code: 'TIMEOUT', message: expect.stringContaining('POST /uploads') } });
  });

  it('still answers 500 INTERNAL for an error it does not know', async () => {
    const broken = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
      .use(httpErrors())
      .handler(async () => {
        throw new Error('boom');
      });
    const res = (await broken({} as APIGatewayProxyEventV2, localContext('classify-api'))) as APIGatewayProxyStructuredResultV2;
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(String(res.body))).toMatchObject({ error: { code: 'INTERNAL' } });
  });
});
