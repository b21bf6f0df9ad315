/**
 * Runs one named step of a story, so a failure says which step of the user's path broke
 * rather than only which assertion.
 */
export function step(name: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof Error) err.message = `step "${name}": ${err.message}`;
    throw err;
  }
}
