/** Sizes of inline base64 payloads, for the limits `prepare.ts` enforces before a request is sent. */

/**
 * Bytes a base64 string decodes to, without decoding it (padding and trailing whitespace tolerated).
 *
 * @example
 * if (decodedLength(part.data) > MAX_INLINE_PDF_BYTES) throw tooLarge();
 */
export function decodedLength(b64: string): number {
  let end = b64.length;
  while (end > 0 && (b64.charCodeAt(end - 1) === 0x3d /* = */ || b64.charCodeAt(end - 1) <= 0x20)) end--;
  return Math.floor((end * 3) / 4);
}

/** A byte count in MiB for a message, one decimal: `20.0 MB`. */
export function mb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
