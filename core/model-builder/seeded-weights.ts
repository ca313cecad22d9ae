/**
 * Deterministic weight generation. Every tensor draws from its own stream keyed by (seed, tensor name),
 * so tensors can be generated lazily, in any order, one at a time, and still be bit-identical.
 */
import type { LazyBytes } from './proto-writer.js';

/** How a float32 tensor is filled. */
export type WeightInit =
  /** Uniform in [low, high). */
  | { readonly kind: 'uniform'; readonly low: number; readonly high: number }
  /** Every element equal to `value`. */
  | { readonly kind: 'constant'; readonly value: number };

// Hoisted: a global lookup per element is slow inside vm contexts (jest runs tests in one).
const imul = Math.imul;

const LITTLE_ENDIAN = new Uint8Array(new Float32Array([1]).buffer)[3] === 0x3f;

/** FNV-1a over the name, then mixed with the seed: a 32-bit stream key per tensor. */
function streamKey(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Seeds beyond 32 bits still differ: fold the high part in separately.
  h ^= Math.imul(seed >>> 0, 0x9e3779b1);
  h ^= Math.imul(Math.floor(seed / 0x100000000) >>> 0, 0x85ebca6b);
  return h >>> 0;
}

/** splitmix32, used only to expand a 32-bit key into the generator's 128-bit state. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Fills `out` from the stream of (seed, name) with xoshiro128**: fast in plain JS (32-bit integer ops
 * only) and with no visible structure at the scales used here.
 */
export function fillSeeded(out: Float32Array, init: WeightInit, seed: number, name: string): void {
  if (init.kind === 'constant') {
    out.fill(init.value);
    return;
  }
  const sm = { s: streamKey(seed, name) };
  let a = splitmix32(sm);
  let b = splitmix32(sm);
  let c = splitmix32(sm);
  let d = splitmix32(sm);
  const scale = (init.high - init.low) / 0x1000000;
  const low = init.low;
  for (let i = 0; i < out.length; i++) {
    const r = imul(rotl(imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    out[i] = low + (r >>> 8) * scale;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A lazily generated float32 tensor of `count` elements, as little-endian bytes. */
export function seededTensorBytes(count: number, init: WeightInit, seed: number, name: string): LazyBytes {
  return {
    length: count * 4,
    fill(target: Uint8Array): void {
      const values = new Float32Array(count);
      fillSeeded(values, init, seed, name);
      const bytes = new Uint8Array(values.buffer);
      if (!LITTLE_ENDIAN) {
        for (let i = 0; i < bytes.length; i += 4) {
          bytes.set([bytes[i + 3], bytes[i + 2], bytes[i + 1], bytes[i]], i);
        }
      }
      target.set(bytes);
    },
  };
}
