/**
 * Bytes V8 holds for a string's characters: one a character while every character fits in
 * Latin-1, two otherwise. What the memory budget counts for strings a process controls (command
 * lines, paths, names).
 */
export function stringBytes(text: string): number {
  return text.length * (/[^\u0000-\u00ff]/.test(text) ? 2 : 1);
}
