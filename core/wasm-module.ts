/**
 * Instantiating the project's own WebAssembly modules (compiled from their text by `npm run
 * build:wasm`, committed as base64): the JPEG scan walk and the resampler. No imports; one instance
 * per module per thread, made on first use.
 */

/** The part of the WebAssembly API used here (the project's TypeScript libraries do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

/** A module's exported memory. */
export interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}

/**
 * The module's exports, made on the first call in each thread and the same object after: or null
 * where WebAssembly cannot run it (no WebAssembly, or an engine without an instruction the module
 * uses), and the caller then does the work in JavaScript.
 */
export function lazyInstance<E>(base64: string): () => E | null {
  let exports: E | null | undefined;
  return () => {
    if (exports === undefined) {
      try {
        const api = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
        exports = new api.Instance(new api.Module(Buffer.from(base64, 'base64')), {}).exports as E;
      } catch {
        exports = null;
      }
    }
    return exports;
  };
}

/** Grows `memory` (never shrinks it) so that it holds at least `bytes`. */
export function ensureMemory(memory: WasmMemory, bytes: number): void {
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / 65536));
}
