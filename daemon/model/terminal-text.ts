/**
 * Text a profiled process chose (a file name, a path in an error) as a terminal may show it:
 * control characters and the bidirectional overrides that could rewrite a line, escaped.
 */
export const TERMINAL_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `value` with every {@link TERMINAL_UNSAFE} character shown as `\xNN` / `\uNNNN`, never sent to the terminal. */
export function terminalText(value: string): string {
  return value.replace(TERMINAL_UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
