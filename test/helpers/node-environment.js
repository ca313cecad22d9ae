/**
 * jest's node environment, sharing the host realm's typed-array constructors with the test context.
 *
 * Why: onnxruntime-node's native binding allocates output buffers in the host realm, while
 * onnxruntime-common (loaded inside jest's vm context) validates them with `instanceof` against the
 * context's own constructors and throws "A float32 tensor's data must be type of function
 * Float32Array()". jest-environment-node already shares `Uint8Array` and `ArrayBuffer` for the same
 * reason (Buffer, TextEncoder); this shares the rest.
 */
import { TestEnvironment } from 'jest-environment-node';

const SHARED = [
  'Int8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array',
  'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array', 'DataView',
];

export default class SharedTypedArrayEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}
