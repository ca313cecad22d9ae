/**
 * The WebAssembly text of the resampler's two passes (`resample-wasm/index.ts` runs them; `npm run
 * build:wasm` compiles the text into `wasm.ts`). Same integer arithmetic as the JavaScript passes in
 * `preprocess.ts`, so the tensors are equal bit for bit: a uint8 × 14-bit-weight horizontal pass
 * into 7-fraction-bit uint16 planes, then a vertical pass whose levels are mapped per channel as
 * `level × scale − shift` in float64 and stored as float32 (what a Float32Array store of the
 * JavaScript double does). In JavaScript these passes were 10 % of a 12 MP image's worker time: V8
 * checks every typed-array index, and has no vectors; here the vertical pass takes four outputs
 * per step (SIMD).
 *
 * Both passes take byte addresses and strides in bytes. Every output has the same tap count `k`
 * (the taps are padded with zero weights, see `padTaps`).
 */

/** Fixed-point fraction bits of the filter weights: each output's weights sum to exactly `1 << WEIGHT_BITS`. */
export const WEIGHT_BITS = 14;
/** Fraction bits kept in the intermediate (horizontally filtered) values, so the vertical sums fit in int32. */
export const MID_BITS = 7;

const MID_SHIFT = WEIGHT_BITS - MID_BITS;
const MID_HALF = 1 << (MID_SHIFT - 1);
const OUT_SHIFT = WEIGHT_BITS + MID_BITS;
const OUT_HALF = 1 << (OUT_SHIFT - 1);

export const RESAMPLE_WAT = `(module
  (memory (export "memory") 1)

  ;; Horizontal pass: for each of $rows source rows (interleaved RGB, $rowBytes apart from $src) and
  ;; each of $w outputs x, Σ_j src[start[x] + j] × weight[x][j] per channel, rounded to MID_BITS
  ;; fraction bits, into three uint16 planes at $mid ($planeBytes apart), row after row.
  ;; $starts: i32 per output (source column); $weights: i32 × $ksize per output.
  (func (export "horizontal") (param $src i32) (param $rowBytes i32) (param $rows i32) (param $w i32)
    (param $starts i32) (param $weights i32) (param $ksize i32) (param $k i32) (param $mid i32) (param $planeBytes i32)
    (local $r i32) (local $x i32) (local $row i32) (local $p i32) (local $wb i32) (local $j i32) (local $t i32)
    (local $a i32) (local $b i32) (local $c i32) (local $o i32)
    (local.set $o (local.get $mid))
    (block $rowsDone (loop $rowLoop
      (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $row (i32.add (local.get $src) (i32.mul (local.get $r) (local.get $rowBytes))))
      (local.set $x (i32.const 0))
      (block $xDone (loop $xLoop
        (br_if $xDone (i32.ge_u (local.get $x) (local.get $w)))
        (local.set $p (i32.add (local.get $row) (i32.mul (i32.load (i32.add (local.get $starts) (i32.shl (local.get $x) (i32.const 2)))) (i32.const 3))))
        (local.set $wb (i32.add (local.get $weights) (i32.shl (i32.mul (local.get $x) (local.get $ksize)) (i32.const 2))))
        (local.set $a (i32.const ${MID_HALF}))
        (local.set $b (i32.const ${MID_HALF}))
        (local.set $c (i32.const ${MID_HALF}))
        (local.set $j (i32.const 0))
        (loop $tap
          (local.set $t (i32.load (local.get $wb)))
          (local.set $a (i32.add (local.get $a) (i32.mul (i32.load8_u (local.get $p)) (local.get $t))))
          (local.set $b (i32.add (local.get $b) (i32.mul (i32.load8_u offset=1 (local.get $p)) (local.get $t))))
          (local.set $c (i32.add (local.get $c) (i32.mul (i32.load8_u offset=2 (local.get $p)) (local.get $t))))
          (local.set $p (i32.add (local.get $p) (i32.const 3)))
          (local.set $wb (i32.add (local.get $wb) (i32.const 4)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $tap (i32.lt_u (local.get $j) (local.get $k))))
        (i32.store16 (local.get $o) (i32.shr_s (local.get $a) (i32.const ${MID_SHIFT})))
        (i32.store16 (i32.add (local.get $o) (local.get $planeBytes)) (i32.shr_s (local.get $b) (i32.const ${MID_SHIFT})))
        (i32.store16 (i32.add (local.get $o) (i32.shl (local.get $planeBytes) (i32.const 1))) (i32.shr_s (local.get $c) (i32.const ${MID_SHIFT})))
        (local.set $o (i32.add (local.get $o) (i32.const 2)))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $xLoop)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rowLoop))))

  ;; Vertical pass: for each channel and each of $h output rows y, Σ_j mid[starts[y] + j][x] ×
  ;; weight[y][j], rounded to whole levels, mapped as level × scale[ch] − shift[ch] (float64 at
  ;; $params: three scales, then three shifts) and stored as float32 at $out, planes $outPlaneBytes
  ;; apart. Four outputs per step: a row whose width is not a multiple of four writes up to three
  ;; values past its end (into the next row, written after it; the caller leaves 16 bytes after the
  ;; last) and reads up to three past its source rows (the caller leaves 8 bytes after the planes).
  (func (export "vertical") (param $mid i32) (param $planeBytes i32) (param $w i32) (param $h i32)
    (param $starts i32) (param $weights i32) (param $ksize i32) (param $k i32) (param $out i32) (param $outPlaneBytes i32) (param $params i32)
    (local $ch i32) (local $y i32) (local $x i32) (local $j i32) (local $base i32) (local $m i32) (local $wb i32) (local $o i32)
    (local $rowBytes i32) (local $acc v128) (local $lv v128) (local $sc v128) (local $sh v128)
    (local.set $rowBytes (i32.shl (local.get $w) (i32.const 1)))
    (block $chDone (loop $chLoop
      (br_if $chDone (i32.ge_u (local.get $ch) (i32.const 3)))
      (local.set $sc (f64x2.splat (f64.load (i32.add (local.get $params) (i32.shl (local.get $ch) (i32.const 3))))))
      (local.set $sh (f64x2.splat (f64.load offset=24 (i32.add (local.get $params) (i32.shl (local.get $ch) (i32.const 3))))))
      (local.set $base (i32.add (local.get $mid) (i32.mul (local.get $ch) (local.get $planeBytes))))
      (local.set $o (i32.add (local.get $out) (i32.mul (local.get $ch) (local.get $outPlaneBytes))))
      (local.set $y (i32.const 0))
      (block $yDone (loop $yLoop
        (br_if $yDone (i32.ge_u (local.get $y) (local.get $h)))
        (local.set $wb (i32.add (local.get $weights) (i32.shl (i32.mul (local.get $y) (local.get $ksize)) (i32.const 2))))
        (local.set $m (i32.add (local.get $base)
          (i32.mul (i32.load (i32.add (local.get $starts) (i32.shl (local.get $y) (i32.const 2)))) (local.get $rowBytes))))
        (local.set $x (i32.const 0))
        (block $xDone (loop $xLoop
          (br_if $xDone (i32.ge_u (local.get $x) (local.get $w)))
          (local.set $acc (i32x4.splat (i32.const ${OUT_HALF})))
          (local.set $j (i32.const 0))
          (loop $tap
            (local.set $acc (i32x4.add (local.get $acc)
              (i32x4.mul
                (v128.load16x4_u (i32.add (i32.add (local.get $m) (i32.shl (local.get $x) (i32.const 1))) (i32.mul (local.get $j) (local.get $rowBytes))))
                (i32x4.splat (i32.load (i32.add (local.get $wb) (i32.shl (local.get $j) (i32.const 2))))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_if $tap (i32.lt_u (local.get $j) (local.get $k))))
          (local.set $lv (i32x4.shr_s (local.get $acc) (i32.const ${OUT_SHIFT})))
          (v128.store (i32.add (local.get $o) (i32.shl (local.get $x) (i32.const 2)))
            (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
              (f32x4.demote_f64x2_zero (f64x2.sub (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $lv)) (local.get $sc)) (local.get $sh)))
              (f32x4.demote_f64x2_zero (f64x2.sub (f64x2.mul (f64x2.convert_low_i32x4_s
                (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $lv) (local.get $lv))) (local.get $sc)) (local.get $sh)))))
          (local.set $x (i32.add (local.get $x) (i32.const 4)))
          (br $xLoop)))
        (local.set $o (i32.add (local.get $o) (i32.shl (local.get $w) (i32.const 2))))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $yLoop)))
      (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
      (br $chLoop)))))`;
