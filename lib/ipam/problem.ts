/** One thing wrong with a resource: where it is, what was found, and how to fix it. */
export interface Problem {
  path: string;
  message: string;
}

export const formatProblems = (problems: Problem[]): string =>
  problems.map(p => `${p.path}: ${p.message}`).join("; ");
