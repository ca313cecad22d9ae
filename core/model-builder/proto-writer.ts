/**
 * A minimal protobuf (proto3 wire format) writer built for multi-hundred-megabyte messages.
 *
 * Why hand-written rather than protobufjs: a ResNet-152 is ~240 MB of float32 weights. protobufjs
 * needs every weight materialised in one message object and then copies it into its own buffer.
 * Here a message is a list of pieces whose lengths are known up front; large payloads are
 * {@link LazyBytes} that are generated only when the message is flushed, so a file can be streamed
 * to disk holding one tensor at a time, or filled into exactly one output buffer.
 */

/** Bytes produced on demand: `fill` must write exactly `length` bytes at the start of `target`. */
export interface LazyBytes {
  readonly length: number;
  fill(target: Uint8Array): void;
}

type Piece = Uint8Array | LazyBytes;

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const textEncoder = new TextEncoder();

/** Scratch size for small scalar writes before they are sealed into a piece. */
const SCRATCH_BYTES = 4096;

/** Writes one protobuf message; nested messages are separate writers embedded with {@link ProtoWriter.message}. */
export class ProtoWriter {
  private readonly pieces: Piece[] = [];
  // Starts small: a model has thousands of tiny node/attribute messages.
  private scratch = new Uint8Array(64);
  private used = 0;
  private sealedLength = 0;

  /** Total encoded length of the message in bytes. */
  get length(): number {
    return this.sealedLength + this.used;
  }

  /** Field of wire type varint holding a non-negative or negative integer (int32/int64/enum). */
  int(field: number, value: number): this {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
    return this;
  }

  /** `repeated int64` written unpacked, as the ONNX reference serialiser does for dims and ints. */
  ints(field: number, values: readonly number[]): this {
    for (const v of values) this.int(field, v);
    return this;
  }

  /** Field of wire type fixed32 holding a float. */
  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    this.reserve(4);
    new DataView(this.scratch.buffer).setFloat32(this.used, value, true);
    this.used += 4;
    return this;
  }

  /** UTF-8 string field. */
  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  /** Length-delimited bytes field (copied when small, kept by reference when large). */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.varint(value.length);
    this.append(value);
    return this;
  }

  /** Length-delimited bytes field whose content is generated when the message is flushed. */
  lazyBytes(field: number, value: LazyBytes): this {
    this.tag(field, WIRE_LEN);
    this.varint(value.length);
    this.seal();
    this.pieces.push(value);
    this.sealedLength += value.length;
    return this;
  }

  /** Embedded message field; `child` must not be written to afterwards. */
  message(field: number, child: ProtoWriter): this {
    this.tag(field, WIRE_LEN);
    this.varint(child.length);
    this.seal();
    child.seal();
    for (const p of child.pieces) this.pieces.push(p);
    this.sealedLength += child.sealedLength;
    return this;
  }

  /** Materialises the whole message into one buffer of exactly {@link length} bytes. */
  toBytes(): Uint8Array {
    this.seal();
    const out = new Uint8Array(this.sealedLength);
    let at = 0;
    for (const p of this.pieces) {
      if (p instanceof Uint8Array) out.set(p, at);
      else p.fill(out.subarray(at, at + p.length));
      at += p.length;
    }
    return out;
  }

  /**
   * Yields the message as consecutive buffers. Small pieces are coalesced up to `chunkBytes`;
   * each lazy piece is generated into its own fresh buffer, so peak memory is one tensor.
   */
  *chunks(chunkBytes = 1 << 20): Generator<Uint8Array> {
    this.seal();
    let batch: Uint8Array[] = [];
    let batchLength = 0;
    const flush = function* (): Generator<Uint8Array> {
      if (batchLength === 0) return;
      const merged = new Uint8Array(batchLength);
      let at = 0;
      for (const b of batch) {
        merged.set(b, at);
        at += b.length;
      }
      batch = [];
      batchLength = 0;
      yield merged;
    };
    for (const p of this.pieces) {
      if (p instanceof Uint8Array) {
        batch.push(p);
        batchLength += p.length;
        if (batchLength >= chunkBytes) yield* flush();
      } else {
        yield* flush();
        const buf = new Uint8Array(p.length);
        p.fill(buf);
        yield buf;
      }
    }
    yield* flush();
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  private varint(value: number): void {
    if (!Number.isSafeInteger(value)) throw new RangeError(`protobuf varint out of range: ${value}`);
    this.reserve(10);
    if (value < 0) {
      // int32/int64 negatives are encoded as 10-byte two's complement.
      let v = BigInt.asUintN(64, BigInt(value));
      while (v >= 0x80n) {
        this.scratch[this.used++] = Number(v & 0x7fn) | 0x80;
        v >>= 7n;
      }
      this.scratch[this.used++] = Number(v);
      return;
    }
    let v = value;
    while (v >= 0x80) {
      this.scratch[this.used++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.scratch[this.used++] = v;
  }

  private append(value: Uint8Array): void {
    if (value.length <= SCRATCH_BYTES / 4) {
      this.reserve(value.length);
      this.scratch.set(value, this.used);
      this.used += value.length;
      return;
    }
    this.seal();
    this.pieces.push(value);
    this.sealedLength += value.length;
  }

  private reserve(n: number): void {
    if (this.used + n <= this.scratch.length) return;
    const want = Math.max(this.scratch.length * 2, this.used + n);
    if (want <= SCRATCH_BYTES) {
      const grown = new Uint8Array(want);
      grown.set(this.scratch.subarray(0, this.used));
      this.scratch = grown;
      return;
    }
    this.seal();
  }

  private seal(): void {
    if (this.used === 0) return;
    this.pieces.push(this.scratch.slice(0, this.used));
    this.sealedLength += this.used;
    this.used = 0;
  }
}
