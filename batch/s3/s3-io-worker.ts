/**
 * Worker-thread entry of the S3 I/O threads (see `S3IoThreads`): one S3 client from the
 * environment, and the shared functions the s3-tagger uses, called for each request.
 */
import { parentPort } from 'node:worker_threads';

import { commitResult, fetchObject, type FetchedObject } from '../../labelling/label-object.js';
import { readResult } from '../../labelling/results.js';
import { defaultS3Client } from './s3-client.js';
import { ioErrorToWire, type IoRequest, type IoResponse } from './s3-io.js';
import { transferableBytes } from '../threads/transfer.js';

/** Bytes the thread can hand over without copying: a view of a whole buffer of its own. */
function transferable(f: FetchedObject): { value: FetchedObject; transfer: ArrayBuffer[] } {
  if (f.kind !== 'ok') return { value: f, transfer: [] };
  const own = transferableBytes(f.bytes);
  return { value: { ...f, bytes: own }, transfer: [own.buffer as ArrayBuffer] };
}

const port = parentPort;
if (port) {
  const s3 = defaultS3Client();
  port.on('message', (req: IoRequest) => {
    void (async () => {
      try {
        let res: IoResponse;
        let transfer: ArrayBuffer[] = [];
        if (req.op === 'fetchObject') {
          const t = transferable(await fetchObject(s3, req.ref, req.opts));
          res = { id: req.id, ok: true, value: t.value };
          transfer = t.transfer;
        } else if (req.op === 'readResult') res = { id: req.id, ok: true, value: await readResult(s3, req.bucket, req.key) };
        else res = { id: req.id, ok: true, value: await commitResult(s3, req.doc, req.opts) };
        port.postMessage(res, transfer);
      } catch (err) {
        port.postMessage({ id: req.id, ok: false, error: ioErrorToWire(err) } satisfies IoResponse);
      }
    })();
  });
  port.postMessage({ ready: true });
}
