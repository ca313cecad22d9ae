/** Jest runs the TypeScript sources as native ESM (the project is "type": "module"). */
export default {
  preset: 'ts-jest/presets/default-esm',
  // Shares typed-array constructors with onnxruntime-node's native binding (see the file).
  testEnvironment: '<rootDir>/test/helpers/node-environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, diagnostics: false }],
  },
  testTimeout: 60_000,
  maxWorkers: 2,
};
