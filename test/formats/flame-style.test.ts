import { describe, expect, it } from 'vitest';
import { fitLabel } from '../../views/client/flame-style.js';

// fitLabel is what the server's SVG and PNG renderers and the SVGs' own script cut names with
// (views/client/flame-style.ts). Checked over many names and widths rather than a few examples.

/** A UTF-16 code unit that is half of a pair without its other half. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const NAMES = [
  'a_plain_ascii_function_name_that_is_long',
  '😀'.repeat(30),
  `a${'😀'.repeat(30)}`,
  `ab${'🔥'.repeat(12)}tail`,
  `std::vector<𝔘𝔫𝔦𝔠𝔬𝔡𝔢>::push_back${'😀'.repeat(5)}`,
  'é'.repeat(40),
];

describe('fitLabel', () => {
  it('gives the whole name, its start and "..", or nothing, and never half of a surrogate pair', () => {
    const charWidth = 0.59 * 12;
    let cut = 0;
    let guarded = 0;
    for (const name of NAMES) {
      for (let width = 0; width <= (name.length + 4) * charWidth; width += 0.5) {
        const text = fitLabel(name, width, charWidth);
        const chars = Math.floor((width - 6) / charWidth);
        expect(text, `${name} at ${width} px`).not.toMatch(LONE_SURROGATE);
        if (chars < 3) {
          expect(text).toBe('');
        } else if (name.length <= chars) {
          expect(text).toBe(name);
        } else {
          cut++;
          expect(text.endsWith('..')).toBe(true);
          expect(name.startsWith(text.slice(0, -2))).toBe(true);
          expect(text.length).toBeLessThanOrEqual(chars);
          // Where the plain cut would end inside a pair, one code unit less is kept, not more.
          if (LONE_SURROGATE.test(name.slice(0, chars - 2))) {
            guarded++;
            expect(text.length).toBe(chars - 1);
          } else {
            expect(text.length).toBe(chars);
          }
        }
      }
    }
    // The widths above do reach cuts, and cuts that fall inside pairs.
    expect(cut).toBeGreaterThan(100);
    expect(guarded).toBeGreaterThan(20);
  });
});
