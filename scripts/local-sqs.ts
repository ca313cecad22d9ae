/**
 * A minimal local SQS endpoint for the sandboxed artefact runs: it answers SendMessage and
 * SendMessageBatch in the AWS JSON 1.0 protocol the SDK v3 client speaks (with the MD5 digests
 * the client verifies) and keeps the messages it received. No receive, no visibility: the
 * sandbox only checks what the sweeper enqueues.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running local SQS endpoint. */
export interface LocalSqs {
  /** Queue URL to give the sender (`http://127.0.0.1:<port>/123456789012/<name>`); the SDK uses its host as endpoint. */
  readonly queueUrl: string;
  /** Bodies received, in order. */
  readonly messages: string[];
  stop(): Promise<void>;
}

const md5 = (s: string): string => createHash('md5').update(s, 'utf8').digest('hex');

/** Starts the endpoint on 127.0.0.1 and a free port. */
export async function startLocalSqs(queueName = 'resnet-work'): Promise<LocalSqs> {
  const messages: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const reply = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': randomUUID() });
        res.end(JSON.stringify(body));
      };
      let input: { MessageBody?: string; Entries?: Array<{ Id: string; MessageBody: string }> };
      try {
        input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof input;
      } catch {
        reply(400, { __type: 'com.amazonaws.sqs#InvalidParameterValue', message: 'body is not JSON' });
        return;
      }
      if (target === 'AmazonSQS.SendMessageBatch') {
        const entries = input.Entries ?? [];
        messages.push(...entries.map((e) => e.MessageBody));
        reply(200, { Successful: entries.map((e) => ({ Id: e.Id, MessageId: randomUUID(), MD5OfMessageBody: md5(e.MessageBody) })), Failed: [] });
      } else if (target === 'AmazonSQS.SendMessage' && input.MessageBody !== undefined) {
        messages.push(input.MessageBody);
        reply(200, { MessageId: randomUUID(), MD5OfMessageBody: md5(input.MessageBody) });
      } else {
        reply(400, { __type: 'com.amazonaws.sqs#UnsupportedOperation', message: `${target} is not supported by the local endpoint` });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    queueUrl: `http://127.0.0.1:${port}/123456789012/${queueName}`,
    messages,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
