/**
 * The plumbing the test proxies in front of the local S3/SQS share: forward one request upstream
 * and pipe the answer back, and listen on a free local port.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ForwardHooks {
  /** Sees the upstream's status (0 when it gave none) and may add response headers. */
  readonly onResponse?: (status: number) => http.OutgoingHttpHeaders | undefined;
  /** Called when the upstream cannot be reached; the client then gets a 502. */
  readonly onError?: () => void;
}

/**
 * Forwards `req` to `to` unchanged (the Host header too, so SigV4 signatures still verify), with
 * `body` when the caller has read it already, else the request stream.
 */
export function forwardRequest(req: http.IncomingMessage, res: http.ServerResponse, to: URL, body?: Buffer, hooks: ForwardHooks = {}): void {
  const up = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
    const extra = hooks.onResponse?.(upRes.statusCode ?? 0);
    res.writeHead(upRes.statusCode ?? 502, extra ? { ...upRes.headers, ...extra } : upRes.headers);
    upRes.pipe(res);
  });
  up.on('error', (err) => {
    hooks.onError?.();
    res.writeHead(502);
    res.end(String(err));
  });
  if (body) up.end(body);
  else req.pipe(up);
}

/** Listens on 127.0.0.1 at a free port; `close` also ends kept-alive connections. */
export async function listenLocal(server: http.Server): Promise<{ endpoint: string; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
