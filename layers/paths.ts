/**
 * Where layer builds live. Both the build scripts and the CDK app resolve folders here, so a
 * layer built by `npx tsx layers/build-*.ts` is the one `cdk synth` packages.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Lambda architectures the layers are built for. */
export type LayerArch = 'x86_64' | 'arm64';

/** Repository root. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Parent of all built layer folders (git-ignored). */
export const LAYERS_BUILD_DIR = path.join(REPO_ROOT, 'layers/build');

/** Folder of the onnxruntime layer for an architecture; its content is the layer's /opt. */
export function onnxruntimeLayerDir(arch: LayerArch, buildDir = LAYERS_BUILD_DIR): string {
  return path.join(buildDir, `onnxruntime-${arch}`);
}

/** Folder of a model layer; holds `model/model.onnx` and `model/labels.txt` (mounted at /opt/model). */
export function modelLayerDir(modelId: string, buildDir = LAYERS_BUILD_DIR): string {
  return path.join(buildDir, `model-${modelId}`);
}

/** Node's name for an architecture (onnxruntime-node's bin folders use it). */
export function nodeArch(arch: LayerArch): 'x64' | 'arm64' {
  return arch === 'x86_64' ? 'x64' : 'arm64';
}

/** Model id of the generated, untrained ResNet-50 v2 packaged when resnet50-v2 is not fetched. */
export const UNTRAINED_MODEL_ID = 'resnet50-v2-untrained';
