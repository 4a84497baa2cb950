/** The errno code (ENOENT, EIO, ...) a synchronous filesystem call throws, or undefined when it succeeds. */
export function errorCode(body: () => unknown): string | undefined {
  try {
    body();
  } catch (error) {
    return (error as NodeJS.ErrnoException).code;
  }
  return undefined;
}
