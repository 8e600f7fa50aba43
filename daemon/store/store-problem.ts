/**
 * Something the store found or did that a person should know about, though the store carried on:
 * the daemon logs it and shows it on /status.
 */
export interface StoreProblem {
  kind:
    /** An incident directory whose incident.json is missing or unreadable; moved aside, not deleted. */
    | 'corrupt-incident'
    /** index.sqlite could not be opened; it was moved aside and rebuilt from the directories. */
    | 'index-rebuilt'
    /** Removing an incident's files failed; the next reconcile finishes it. */
    | 'delete-failed';
  message: string;
  /** The file or directory concerned. */
  path: string;
}

export type StoreProblemHandler = (problem: StoreProblem) => void;
