/**
 * Downloads zoo models and their labels into a local cache, verified.
 *
 * Cache layout (`defaultCacheDir()`: env RESNET_CACHE_DIR, else ~/.cache/resnet-serverless):
 *   <cache>/<model id>/model.onnx            the model, renamed into place only once verified
 *   <cache>/<model id>/model.onnx.verified   JSON {sha256, bytes, mtimeMs, verifiedBy, url}
 *   <cache>/labels/synset.txt                ImageNet labels, shared by all zoo models
 *   <cache>/labels/synset.txt.verified
 *   <file>.part, <file>.part.json            an interrupted download and its validators (resume)
 *   <file>.lock                              held while one process downloads <file>; others wait
 *
 * Transfers use node:http(s) directly: explicit control over Range/If-Range, redirects
 * (GitHub raw → Git LFS media host) and early-closed bodies, which are what resume needs.
 *
 * One file per stage: `fetch-file.ts` (cache hit, lock, sources in order, retries), `lock.ts`,
 * `resume.ts` (one attempt into `<file>.part`), `http.ts` (the GET and its error classes),
 * `verify.ts` (digests and the `.verified` marker), `model-cache.ts` (zoo models and labels).
 */
export { fetchFile } from './fetch-file.js';
export { cachedModelPaths, defaultCacheDir, fetchModel, modelCachePaths, type ModelPaths } from './model-cache.js';
export type { FetchedFile, FetchFileOptions, FileSource, FileSpec, ProgressCallback } from './types.js';
