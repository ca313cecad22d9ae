/**
 * The WebAssembly text of the 1/8-scale scan walk (`jpeg-walk/index.ts` runs it; `npm run
 * build:wasm` compiles it into `wasm.ts`). At 1/8 scale a baseline JPEG needs only each block's DC
 * value, but every AC symbol must still be decoded to find where the next block starts: 1.7 M
 * table steps for a 12 MP photo, a chain of load → table lookup → bit position. JavaScript has no
 * 64-bit integers, so its reader re-reads 32 bits at the bit position for every step; here the
 * bits sit in a 64-bit register refilled without a branch, which shortens that chain.
 *
 * The same algorithm and tables as the JavaScript path in `jpeg-decoder/decoder.ts` (`scanBaseline` with
 * k = 1): DC by the 9-bit lookup (canonical search for longer codes), AC by the multi-symbol skip
 * table, then the single-symbol skip table, then the canonical search. Anything the JavaScript path
 * would throw on traps here (`unreachable`), and the caller decodes the scan in JavaScript instead.
 *
 * Memory (byte offsets):
 * - table slot i at i × 0x10000 (four slots): multi u16[2^MULTI_BITS] at +0, lookup u16[512] at +0x8000,
 *   skip u16[512] at +0x8400, maxcode i32[18] at +0x8800, valptr i32[17] at +0x8900,
 *   mincode i32[17] at +0x8A00, values u8[256] at +0x8B00;
 * - the MCU's blocks at PLAN (32 bytes each, up to 10): DC slot offset, AC slot offset, address of
 *   the component's prediction (i32), the DC quantiser, where the block of the first MCU goes in
 *   its component's plane, and the plane's strides per MCU row and per MCU column;
 * - the predictions at PREDS (i32 per component);
 * - what `unstuff` reports at HEADER;
 * - from DATA: the scan's bytes, its unstuffed data stored backwards, the components' planes, the
 *   restart offsets (laid out by `jpeg-walk/index.ts`).
 */
/**
 * Window of the multi-symbol AC skip table (`multiSkipTable` in jpeg-decoder/huffman.ts builds it, the walk
 * peeks this many bits). 13 bits: 16 KB a table, so a scan's two AC tables fit a 32 KB L1 cache,
 * which two 32 KB tables at 14 bits do not, while each step still takes most symbols whole. Interleaved
 * 1/8 decodes of the bench's 12 MP JPEGs (tables then built per file) took 0.95–0.96× the time at 13
 * bits as at 14, and 0.95× as at 12.
 */
export const MULTI_BITS = 13;
export const PLAN = 0x40000;
export const PREDS = 0x40100;
export const HEADER = 0x40200;
export const DATA = 0x41000;

const refill = `
    (local.set $buf (i64.or (local.get $buf) (i64.shr_u (i64.load (i32.sub (local.get $E) (local.get $p))) (local.get $bits))))
    (local.set $p (i32.add (local.get $p) (i32.wrap_i64 (i64.shr_u (i64.sub (i64.const 63) (local.get $bits)) (i64.const 3)))))
    (local.set $bits (i64.or (local.get $bits) (i64.const 56)))`;
const consume = (n: string): string => `
    (local.set $buf (i64.shl (local.get $buf) ${n}))
    (local.set $bits (i64.sub (local.get $bits) ${n}))`;
const peek = (k: number): string => `(i32.wrap_i64 (i64.shr_u (local.get $buf) (i64.const ${64 - k})))`;
/** A code longer than 9 bits, by the canonical search (lengths 10..16), into $sym; traps when none fits. */
const slow = (slot: string): string => `
    (local.set $len (i32.const 10))
    (block $found (loop $try
      (local.set $code (i32.wrap_i64 (i64.shr_u (local.get $buf) (i64.extend_i32_u (i32.sub (i32.const 64) (local.get $len))))))
      (local.set $a (i32.add ${slot} (i32.shl (local.get $len) (i32.const 2))))
      (if (i32.le_s (local.get $code) (i32.load offset=0x8800 (local.get $a)))
        (then
          (local.set $sym (i32.load8_u offset=0x8B00 (i32.add ${slot}
            (i32.sub (i32.add (i32.load offset=0x8900 (local.get $a)) (local.get $code)) (i32.load offset=0x8A00 (local.get $a))))))
          (br $found)))
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (br_if $try (i32.le_u (local.get $len) (i32.const 16)))
      (unreachable)))
    ${consume('(i64.extend_i32_u (local.get $len))')}`;

export const JPEG_WALK_WAT = `(module
  (memory (export "memory") 66)
  ;; Copies the scan's bytes at $src ($n of them) backwards below $top with the 0xFF00 stuffing
  ;; taken out, up to the first marker other than RSTn. Writes at HEADER: unstuffed length, marker
  ;; offset in the source (or $n: none), restart count; the restart offsets (unstuffed) at $rst, at
  ;; most $maxRst of them (more: traps).
  (func (export "unstuff") (param $src i32) (param $n i32) (param $top i32) (param $rst i32) (param $maxRst i32)
    (local $i i32) (local $o i32) (local $b i32) (local $m i32) (local $r i32) (local $end i32) (local $x i64)
    (local.set $end (local.get $n))
    (block $stop (loop $next
      ;; Eight bytes at a time while none of them is 0xFF (their complement has no zero byte):
      ;; stored byte-reversed, as the data below $top runs backwards.
      (if (i32.le_u (i32.add (local.get $i) (i32.const 8)) (local.get $n)) (then
        (local.set $x (i64.load (i32.add (local.get $src) (local.get $i))))
        (if (i64.eqz (i64.and (i64.and (i64.sub (i64.xor (local.get $x) (i64.const -1)) (i64.const 0x0101010101010101)) (local.get $x))
              (i64.const 0x8080808080808080)))
          (then
            (local.set $x (i64.or (i64.shl (i64.and (local.get $x) (i64.const 0x00FF00FF00FF00FF)) (i64.const 8))
                                  (i64.and (i64.shr_u (local.get $x) (i64.const 8)) (i64.const 0x00FF00FF00FF00FF))))
            (local.set $x (i64.or (i64.shl (i64.and (local.get $x) (i64.const 0x0000FFFF0000FFFF)) (i64.const 16))
                                  (i64.and (i64.shr_u (local.get $x) (i64.const 16)) (i64.const 0x0000FFFF0000FFFF))))
            (local.set $x (i64.rotl (local.get $x) (i64.const 32)))
            (local.set $o (i32.add (local.get $o) (i32.const 8)))
            (i64.store (i32.sub (local.get $top) (local.get $o)) (local.get $x))
            (local.set $i (i32.add (local.get $i) (i32.const 8)))
            (br $next)))))
      (br_if $stop (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $b (i32.load8_u (i32.add (local.get $src) (local.get $i))))
      (if (i32.eq (local.get $b) (i32.const 255))
        (then
          ;; a lone 0xFF as the last byte is dropped
          (br_if $stop (i32.ge_u (i32.add (local.get $i) (i32.const 1)) (local.get $n)))
          (local.set $m (i32.load8_u (i32.add (local.get $src) (i32.add (local.get $i) (i32.const 1)))))
          (if (i32.eqz (local.get $m))
            (then
              (local.set $o (i32.add (local.get $o) (i32.const 1)))
              (i32.store8 (i32.sub (local.get $top) (local.get $o)) (i32.const 255))
              (local.set $i (i32.add (local.get $i) (i32.const 2)))
              (br $next)))
          (if (i32.eq (i32.and (local.get $m) (i32.const 0xF8)) (i32.const 0xD0))
            (then
              (if (i32.ge_u (local.get $r) (local.get $maxRst)) (then (unreachable)))
              (i32.store (i32.add (local.get $rst) (i32.shl (local.get $r) (i32.const 2))) (local.get $o))
              (local.set $r (i32.add (local.get $r) (i32.const 1)))
              (local.set $i (i32.add (local.get $i) (i32.const 2)))
              (br $next)))
          (local.set $end (local.get $i))
          (br $stop)))
      (local.set $o (i32.add (local.get $o) (i32.const 1)))
      (i32.store8 (i32.sub (local.get $top) (local.get $o)) (local.get $b))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.store (i32.const ${HEADER}) (local.get $o))
    (i32.store (i32.const ${HEADER + 4}) (local.get $end))
    (i32.store (i32.const ${HEADER + 8}) (local.get $r)))

  ;; Walks $mcus MCUs of $nplan blocks (PLAN), the first being MCU $mcu0 of rows of $cols, from
  ;; byte $start of the unstuffed data, whose byte j is at $top - 1 - j. Writes each block's
  ;; 1/8-scale value (DC dequantised, level-shifted, clamped) into its component's plane: at the
  ;; block's base + MCU row × row stride + MCU column × column stride. Returns the bit position
  ;; after the walk.
  (func (export "walk") (param $top i32) (param $start i32) (param $mcu0 i32) (param $mcus i32) (param $nplan i32) (param $cols i32) (result i32)
    (local $E i32) (local $buf i64) (local $bits i64) (local $p i32) (local $m i32) (local $b i32) (local $pl i32)
    (local $mx i32) (local $my i32)
    (local $dc i32) (local $ac i32) (local $pa i32) (local $e i32) (local $len i32) (local $t i32) (local $v i32)
    (local $z i32) (local $g i32) (local $need i32) (local $code i32) (local $sym i32) (local $s i32) (local $r i32)
    (local $sk i32) (local $a i32)
    ;; bytes p..p+7 as a big-endian 64-bit word: one little-endian load at E - p
    (local.set $E (i32.sub (local.get $top) (i32.const 8)))
    (local.set $p (local.get $start))
    (local.set $my (i32.div_u (local.get $mcu0) (local.get $cols)))
    (local.set $mx (i32.rem_u (local.get $mcu0) (local.get $cols)))
    (block $done (loop $mcu
      (br_if $done (i32.ge_u (local.get $m) (local.get $mcus)))
      (local.set $b (i32.const 0))
      (loop $blk
        (local.set $pl (i32.add (i32.const ${PLAN}) (i32.shl (local.get $b) (i32.const 5))))
        (local.set $dc (i32.load (local.get $pl)))
        (local.set $ac (i32.load offset=4 (local.get $pl)))
        (local.set $pa (i32.load offset=8 (local.get $pl)))
        ;; DC: a Huffman-coded size, then that many bits of difference
        ${refill}
        (local.set $e (i32.load16_u offset=0x8000 (i32.add (local.get $dc) (i32.shl ${peek(9)} (i32.const 1)))))
        (if (i32.eqz (local.get $e))
          (then ${slow('(local.get $dc)')})
          (else
            (local.set $sym (i32.and (local.get $e) (i32.const 255)))
            ${consume('(i64.extend_i32_u (i32.shr_u (local.get $e) (i32.const 8)))')}))
        (local.set $t (local.get $sym))
        (if (local.get $t) (then
          (if (i32.gt_u (local.get $t) (i32.const 16)) (then (unreachable)))
          (local.set $v (i32.wrap_i64 (i64.shr_u (local.get $buf) (i64.extend_i32_u (i32.sub (i32.const 64) (local.get $t))))))
          ${consume('(i64.extend_i32_u (local.get $t))')}
          (if (i32.lt_u (local.get $v) (i32.shl (i32.const 1) (i32.sub (local.get $t) (i32.const 1))))
            (then (local.set $v (i32.add (i32.sub (local.get $v) (i32.shl (i32.const 1) (local.get $t))) (i32.const 1)))))
          (i32.store (local.get $pa) (i32.add (i32.load (local.get $pa)) (local.get $v)))))
        ;; the block's value: ((pred * q0 + 4) >> 3) + 128, clamped to 0..255
        (local.set $v (i32.add (i32.shr_s (i32.add (i32.mul (i32.load (local.get $pa)) (i32.load offset=12 (local.get $pl))) (i32.const 4)) (i32.const 3)) (i32.const 128)))
        (if (i32.lt_s (local.get $v) (i32.const 0)) (then (local.set $v (i32.const 0))))
        (if (i32.gt_s (local.get $v) (i32.const 255)) (then (local.set $v (i32.const 255))))
        (i32.store8
          (i32.add (i32.load offset=16 (local.get $pl))
            (i32.add (i32.mul (local.get $my) (i32.load offset=20 (local.get $pl))) (i32.mul (local.get $mx) (i32.load offset=24 (local.get $pl)))))
          (local.get $v))
        ;; AC: skipped, several symbols per step where they fit the multi-symbol table
        (local.set $z (i32.const 1))
        (block $eob (loop $acl
          ;; at least 32 bits at each step: enough for any one symbol with its extra bits
          (if (i64.lt_u (local.get $bits) (i64.const 32)) (then ${refill}))
          (local.set $g (i32.load16_u (i32.add (local.get $ac) (i32.shl ${peek(MULTI_BITS)} (i32.const 1)))))
          (local.set $need (i32.and (i32.shr_u (local.get $g) (i32.const 4)) (i32.const 127)))
          (if (i32.and (i32.ne (local.get $g) (i32.const 0)) (i32.le_u (i32.add (local.get $z) (local.get $need)) (i32.const 64)))
            (then
              ${consume('(i64.extend_i32_u (i32.and (local.get $g) (i32.const 15)))')}
              (br_if $eob (i32.and (local.get $g) (i32.const 2048)))
              (local.set $z (i32.add (local.get $z) (local.get $need)))
              (br_if $acl (i32.lt_u (local.get $z) (i32.const 64)))
              (br $eob)))
          (local.set $sk (i32.load16_u offset=0x8400 (i32.add (local.get $ac) (i32.shl ${peek(9)} (i32.const 1)))))
          (if (local.get $sk)
            (then
              ${consume('(i64.extend_i32_u (i32.and (local.get $sk) (i32.const 31)))')}
              (local.set $z (i32.add (local.get $z) (i32.shr_u (local.get $sk) (i32.const 5))))
              (br_if $acl (i32.lt_u (local.get $z) (i32.const 64)))
              (br $eob)))
          ${slow('(local.get $ac)')}
          (local.set $s (i32.and (local.get $sym) (i32.const 15)))
          (local.set $r (i32.and (i32.shr_u (local.get $sym) (i32.const 4)) (i32.const 15)))
          (if (i32.eqz (local.get $s)) (then
            (br_if $eob (i32.ne (local.get $r) (i32.const 15)))
            (local.set $z (i32.add (local.get $z) (i32.const 16)))
            (br_if $acl (i32.lt_u (local.get $z) (i32.const 64)))
            (br $eob)))
          (local.set $z (i32.add (local.get $z) (i32.add (local.get $r) (i32.const 1))))
          ${consume('(i64.extend_i32_u (local.get $s))')}
          (br_if $acl (i32.lt_u (local.get $z) (i32.const 64)))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br_if $blk (i32.lt_u (local.get $b) (local.get $nplan))))
      (local.set $m (i32.add (local.get $m) (i32.const 1)))
      (local.set $mx (i32.add (local.get $mx) (i32.const 1)))
      (if (i32.eq (local.get $mx) (local.get $cols)) (then
        (local.set $mx (i32.const 0))
        (local.set $my (i32.add (local.get $my) (i32.const 1)))))
      (br $mcu)))
    ;; bits consumed: bytes loaded minus what is still in the buffer
    (i32.sub (i32.shl (local.get $p) (i32.const 3)) (i32.wrap_i64 (local.get $bits)))))`;
