/** Where something was written in a file (a rules file, tail2.yaml), for messages as `FILE:LINE:COL`. */
export interface SourceLocation {
  file: string;
  /** 1-based */
  line: number;
  /** 1-based */
  col: number;
}

/** One thing wrong in a file people write, at the text that caused it. */
export interface LocatedProblem {
  location: SourceLocation;
  /** One sentence: what is wrong and what to write instead. */
  message: string;
}

/** `FILE:LINE:COL: message`, the form editors and `grep -n` users jump to. */
export function formatProblem(problem: LocatedProblem): string {
  const { file, line, col } = problem.location;
  return `${file}:${line}:${col}: ${problem.message}`;
}

/** Problems in the order a person reads the file. */
export function inFileOrder<T extends LocatedProblem>(problems: readonly T[]): T[] {
  return [...problems].sort((a, b) => a.location.line - b.location.line || a.location.col - b.location.col);
}
