import { JPEG_WALK_WASM } from '../../core/jpeg-walk/wasm.js';
import { RESAMPLE_WASM } from '../../core/resample-wasm/wasm.js';
import { compileWat, WASM_MODULES } from '../../scripts/build-wasm.js';

const COMMITTED: Record<string, string> = { JPEG_WALK_WASM, RESAMPLE_WASM };

describe.each(WASM_MODULES.map((m) => [m.name, m] as const))('WebAssembly module %s', (_name, spec) => {
  it('is compiled from its text as committed (run `npm run build:wasm` after changing its wat.ts)', async () => {
    expect(COMMITTED[spec.constant]).toBeDefined();
    expect(await compileWat(spec)).toBe(COMMITTED[spec.constant]);
  });
});
