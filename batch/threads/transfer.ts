/**
 * Handing bytes to another thread without copying them: only a view of a whole, non-shared
 * ArrayBuffer can be transferred. A Buffer from fs or the AWS SDK may be a view into a larger
 * pooled buffer; posting that would copy (or, transferred, take away) the whole pool.
 */

/** Whether `view` covers all of its own (non-shared) ArrayBuffer, so that buffer can be transferred. */
export function isWholeBuffer(view: ArrayBufferView): boolean {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer;
}

/** `bytes` itself when its buffer can be transferred, else a copy that can. */
export function transferableBytes(bytes: Uint8Array): Uint8Array {
  return isWholeBuffer(bytes) ? bytes : bytes.slice();
}
