/**
 * The greedy coreset's pass per member: lower every point's squared distance to the coreset by the new member's
 * row, and find the farthest point after it. It runs once per member over all n points (the coreset's quadratic
 * part), so it is a WebAssembly SIMD kernel, four points per instruction, instead of a JS loop of one.
 *
 * The module, in the text format (its bytes are written below, opcode by opcode):
 *
 *   (func (export "lower") (param $d i32) (param $r i32) (param $end i32) (param $cn f32) (param $out i32)
 *     (local $c v128) (local $v v128) (local $bv v128) (local $bi v128) (local $idx v128) (local $gt v128)
 *     c = f32x4.splat(cn); bv = −∞ × 4; bi = 0 × 4; idx = (0, 1, 2, 3)
 *     loop while d < end:
 *       v = f32x4.pmin(load d, f32x4.add(load r, c))   ;; min(distance, row + ‖c‖²): the row's where strictly lower
 *       store d, v
 *       gt = f32x4.gt(v, bv); bv = bitselect(v, bv, gt); bi = bitselect(idx, bi, gt)   ;; per lane, the first maximum
 *       idx += 4; d += 16; r += 16
 *     store out, bv; store out + 16, bi)
 *
 * Each lane keeps its own largest value and the first index holding it; the caller takes the largest of the four,
 * the lowest index among equal ones, which is the first maximum overall.
 */
import { varintBytes } from '../onnx/protobuf.js';

/** WebAssembly opcodes used here (core, then the 0xfd-prefixed SIMD ones with their LEB128 codes). */
const OP = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  i32Const: 0x41,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  void: 0x40,
} as const;
const SIMD = {
  load: [0xfd, 0x00],
  store: [0xfd, 0x0b],
  const: [0xfd, 0x0c],
  f32x4Splat: [0xfd, 0x13],
  f32x4Gt: [0xfd, 0x44],
  bitselect: [0xfd, 0x52],
  i32x4Add: [0xfd, 0xae, 0x01],
  f32x4Add: [0xfd, 0xe4, 0x01],
  f32x4Pmin: [0xfd, 0xea, 0x01],
} as const;
const TYPE = { i32: 0x7f, f32: 0x7d, v128: 0x7b, func: 0x60 } as const;

function vector(items: number[][]): number[] {
  return [...varintBytes(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...varintBytes(body.length), ...body];
}

function name(s: string): number[] {
  const bytes = [...Buffer.from(s, 'utf8')];
  return [...varintBytes(bytes.length), ...bytes];
}

function v128Const(lanes: Float32Array | Int32Array): number[] {
  return [...SIMD.const, ...new Uint8Array(lanes.buffer)];
}

/** memarg of a 16-byte access: alignment 2⁴, offset. */
function memarg(offset = 0): number[] {
  return [4, ...varintBytes(offset)];
}

/** The module's bytes (see the file comment). */
function moduleBytes(): Uint8Array {
  // Parameters 0–4: d, r, end, cn, out; locals 5–10: c, v, bv, bi, idx, gt.
  const [d, r, end, cn, out, c, v, bv, bi, idx, gt] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const get = (i: number): number[] => [OP.localGet, i];
  const set = (i: number): number[] => [OP.localSet, i];
  const code = [
    ...vector([[6, TYPE.v128]]),
    ...get(cn), ...SIMD.f32x4Splat, ...set(c),
    ...v128Const(new Float32Array(4).fill(Number.NEGATIVE_INFINITY)), ...set(bv),
    ...v128Const(new Int32Array(4)), ...set(bi),
    ...v128Const(Int32Array.of(0, 1, 2, 3)), ...set(idx),
    OP.block, OP.void, OP.loop, OP.void,
    ...get(d), ...get(end), OP.i32GeU, OP.brIf, 1,
    ...get(d), ...SIMD.load, ...memarg(), ...get(r), ...SIMD.load, ...memarg(), ...get(c), ...SIMD.f32x4Add, ...SIMD.f32x4Pmin, ...set(v),
    ...get(d), ...get(v), ...SIMD.store, ...memarg(),
    ...get(v), ...get(bv), ...SIMD.f32x4Gt, ...set(gt),
    ...get(v), ...get(bv), ...get(gt), ...SIMD.bitselect, ...set(bv),
    ...get(idx), ...get(bi), ...get(gt), ...SIMD.bitselect, ...set(bi),
    ...get(idx), ...v128Const(Int32Array.of(4, 4, 4, 4)), ...SIMD.i32x4Add, ...set(idx),
    ...get(d), OP.i32Const, 16, OP.i32Add, ...set(d),
    ...get(r), OP.i32Const, 16, OP.i32Add, ...set(r),
    OP.br, 0, OP.end, OP.end,
    ...get(out), ...get(bv), ...SIMD.store, ...memarg(),
    ...get(out), ...get(bi), ...SIMD.store, ...memarg(16),
    OP.end,
  ];
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector([[TYPE.func, ...vector([[TYPE.i32], [TYPE.i32], [TYPE.i32], [TYPE.f32], [TYPE.i32]]), 0]])),
    ...section(2, vector([[...name('kernel'), ...name('memory'), 0x02, 0x00, 0x01]])),
    ...section(3, vector([[0]])),
    ...section(7, vector([[...name('lower'), 0x00, 0]])),
    ...section(10, vector([[...varintBytes(code.length), ...code]])),
  ]);
}

/** The part of the WebAssembly JS API used here (TypeScript declares it only with its DOM library). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer };
};

let compiled: object | null = null;

type Lower = (d: number, r: number, end: number, cn: number, out: number) => void;

/**
 * The distances of n points and a block of rows, in one WebAssembly memory the kernel reads and writes (onnxruntime
 * writes the rows into it directly).
 */
export class LoweringKernel {
  /** Squared distances of the n points to the coreset. */
  readonly distance: Float32Array;
  /** Rows of `rowCapacity` values (each row: n values, the squared distances less the member's ‖c‖²). */
  readonly rows: Float32Array;
  private readonly lanes: Float32Array;
  private readonly laneIndex: Int32Array;
  private readonly lowerFn: Lower;
  private readonly rowsAt: number;
  private readonly end: number;

  /** A kernel for n points and rows of up to `rowCapacity` values. */
  constructor(n: number, rowCapacity: number) {
    // [distance, padded to a multiple of 4 with −∞][8 lanes out][rows, and 4 values past them read as padding]
    const padded = Math.ceil(n / 4) * 4;
    const outAt = padded * 4;
    this.rowsAt = outAt + 32;
    const bytes = this.rowsAt + (rowCapacity + 4) * 4;
    const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) });
    compiled ??= new WebAssembly.Module(moduleBytes());
    const instance = new WebAssembly.Instance(compiled, { kernel: { memory } });
    this.lowerFn = instance.exports.lower as Lower;
    this.distance = new Float32Array(memory.buffer, 0, n);
    new Float32Array(memory.buffer, n * 4, padded - n).fill(Number.NEGATIVE_INFINITY);
    this.lanes = new Float32Array(memory.buffer, outAt, 4);
    this.laneIndex = new Int32Array(memory.buffer, outAt + 16, 4);
    this.rows = new Float32Array(memory.buffer, this.rowsAt, rowCapacity);
    this.end = outAt;
  }

  /**
   * Lowers every distance by the row starting at `rowOffset` (in values) plus `memberNorm`, where lower, and returns
   * the farthest point: the largest distance, the lowest index on ties.
   */
  lower(rowOffset: number, memberNorm: number): number {
    this.lowerFn(0, this.rowsAt + rowOffset * 4, this.end, memberNorm, this.end);
    let best = 0;
    for (let l = 1; l < 4; l++) {
      const v = this.lanes[l]!;
      if (v > this.lanes[best]! || (v === this.lanes[best]! && this.laneIndex[l]! < this.laneIndex[best]!)) best = l;
    }
    return this.laneIndex[best]!;
  }
}
