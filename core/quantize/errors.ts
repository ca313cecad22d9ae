/** Errors of the int8 quantizer. */
import { ResnetError } from '../errors.js';

/** The model has something the quantizer cannot rewrite; `detail` names it. */
export class CannotQuantizeError extends ResnetError {
  constructor(detail: string) {
    super('CANNOT_QUANTIZE', `The model cannot be quantized: ${detail}. Quantize a plain float32 ResNet-style ONNX classifier (standard operators, weights inside the file), or run this model in float32.`);
  }
}
