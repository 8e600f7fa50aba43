import type { SourceLocation } from './rule.js';

/** One thing wrong in a rules file, at the text that caused it. */
export interface RuleProblem {
  location: SourceLocation;
  /** One sentence: what is wrong and what to write instead. */
  message: string;
}

/** `FILE:LINE:COL: message`, the form editors and `grep -n` users jump to. */
export function formatProblem(problem: RuleProblem): string {
  const { file, line, col } = problem.location;
  return `${file}:${line}:${col}: ${problem.message}`;
}
