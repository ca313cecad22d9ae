/**
 * Errors crossing a worker-thread boundary (decode pool, inference thread): a ResnetError keeps
 * its code and retryability, anything else arrives as a plain Error with its message.
 */
import { ResnetError, type ErrorCode } from '../../core/errors.js';

/** An error as posted between threads. */
export interface WireError {
  code: string;
  message: string;
  retryable: boolean;
  typed: boolean;
}

/** Serialises an error with its code (a ResnetError) or as INTERNAL. */
export function toWire(err: unknown): WireError {
  const typed = err instanceof ResnetError;
  return {
    code: typed ? err.code : 'INTERNAL',
    message: err instanceof Error ? err.message : String(err),
    retryable: typed ? err.retryable : false,
    typed,
  };
}

/** The error to throw on the receiving side. */
export function fromWire(e: WireError): Error {
  return e.typed ? new ResnetError(e.code as ErrorCode, e.message, { retryable: e.retryable }) : new Error(e.message);
}
