/** Total weight of the folded lines (stack → weight, daemon/formats/folded.ts) whose stack passes `test`. */
export function weightWhere(folded: Map<string, number>, test: (stack: string) => boolean): number {
  let total = 0;
  for (const [stack, weight] of folded) if (test(stack)) total += weight;
  return total;
}
