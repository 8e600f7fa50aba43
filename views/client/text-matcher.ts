/**
 * The flamegraphs' search (the incident page's box and `#q=`, the SVGs' button and `?s=`): plain
 * text in any case, `|` between alternatives. Never a regular expression: a link someone else
 * made (in a chat message) must not be able to freeze the viewer's tab with a pattern that
 * backtracks for minutes on a long frame name; `includes` is linear.
 *
 * Shared by the incident page and the script embedded in the SVGs; imports nothing.
 */

/** A test of frame names for `query`, or null when there is nothing to search for. */
export function textMatcher(query: string): ((name: string) => boolean) | null {
  const needles = query
    .toLowerCase()
    .split('|')
    .filter((needle) => needle !== '');
  if (needles.length === 0) return null;
  return (name) => {
    const lower = name.toLowerCase();
    return needles.some((needle) => lower.includes(needle));
  };
}
