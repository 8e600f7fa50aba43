import { Tail2Error } from '../daemon/model/tail2-error.js';
import { formatProblem, type LocatedProblem } from '../daemon/model/located-problem.js';

/**
 * A rules file that does not validate. The message holds every problem, one `FILE:LINE:COL: message`
 * per line; `problems` holds them for callers that show them elsewhere (the `/status` page).
 */
export class RulesFileError extends Tail2Error {
  constructor(readonly problems: readonly LocatedProblem[]) {
    super('TAIL2_RULES', problems.map(formatProblem).join('\n'));
  }
}
