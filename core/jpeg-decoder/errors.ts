/** Errors of the JPEG decoder. */

/** Bad JPEG data (as opposed to an unsupported feature, which returns null). */
export class JpegDataError extends Error {}
