import { spawnSync } from 'node:child_process';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MAX_PNG_HEIGHT, renderFlamegraphPng } from '../../daemon/formats/flamegraph-png.js';
import { readPngText } from '../../daemon/formats/png-text.js';
import { renderFlamegraphSvg } from '../../daemon/formats/flamegraph-svg.js';
import { flameColor } from '../../views/client/flame-style.js';
import type { SymbolizedProfile } from '../../daemon/profile/symbolized-profile.js';
import { buildProfile } from '../helpers/profile-fixture.js';

// The PNG is decoded here with zlib and a minimal decoder (8-bit RGBA, not interlaced: what
// resvg writes), and its pixels are checked where the static SVG it came from puts the boxes.

interface Image {
  width: number;
  height: number;
  /** RGBA, row after row. */
  pixels: Uint8Array;
}

function decodePng(png: Buffer): Image {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    at += 12 + length;
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect({ bitDepth: data[8], colorType: data[9], interlace: data[12] }).toEqual({ bitDepth: 8, colorType: 6, interlace: 0 });
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 4;
  expect(raw.length).toBe(height * (stride + 1));
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const value = raw[y * (stride + 1) + 1 + x];
      const a = x >= 4 ? pixels[y * stride + x - 4] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const c = x >= 4 && y > 0 ? pixels[(y - 1) * stride + x - 4] : 0;
      let predicted = 0;
      if (filter === 1) predicted = a;
      else if (filter === 2) predicted = b;
      else if (filter === 3) predicted = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else expect(filter).toBe(0);
      pixels[y * stride + x] = (value + predicted) & 0xff;
    }
  }
  return { width, height, pixels };
}

function pixel(image: Image, x: number, y: number): [number, number, number, number] {
  const at = (Math.floor(y) * image.width + Math.floor(x)) * 4;
  return [image.pixels[at], image.pixels[at + 1], image.pixels[at + 2], image.pixels[at + 3]];
}

/** Pixels in the box that are much darker than the flamegraph's light background: drawn text. */
function darkPixels(image: Image, x0: number, y0: number, x1: number, y1: number): number {
  let dark = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const [r, g, b] = pixel(image, x, y);
      if (r + g + b < 300) dark++;
    }
  }
  return dark;
}

function hexRgb(hex: string): [number, number, number] {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
}

/** The static SVG the PNG renderer draws, to find where its boxes are. */
function stillSvg(profile: SymbolizedProfile, title: string, width = 1200): string {
  return renderFlamegraphSvg(profile, { static: true, title, width, maxHeight: MAX_PNG_HEIGHT, minWidthPx: 0.5 });
}

/** x, y, width, height and fill of the box whose tooltip starts with `name (`. */
function box(svg: string, name: string): { x: number; y: number; w: number; h: number; fill: string } {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`<title>${escaped} \\([^<]*</title><rect x="([\\d.]+)" y="([\\d.]+)" width="([\\d.]+)" height="([\\d.]+)" fill="(#[0-9a-f]{6})"`).exec(svg);
  if (!match) throw new Error(`no box for ${name}`);
  return { x: Number(match[1]), y: Number(match[2]), w: Number(match[3]), h: Number(match[4]), fill: match[5] };
}

const spinProfile = buildProfile([
  { frames: ['main', 'outer', 'middle', 'leaf_spin'], count: 90, comm: 'postgres' },
  { frames: ['main', 'other'], count: 10, comm: 'postgres' },
]);
const TITLE = 'db-spin · db-1 · 2026-11-25 03:00 UTC · cpu 98% > 90%';

describe('renderFlamegraphPng', () => {
  it('draws the frames in their colours and the title, exactly as wide as asked', () => {
    const png = renderFlamegraphPng(spinProfile, { title: TITLE });
    const image = decodePng(png);
    const svg = stillSvg(spinProfile, TITLE);
    expect(image.width).toBe(1200);
    expect(image.height).toBe(Number(/height="(\d+)"/.exec(svg)![1]));

    // Every frame box is painted in its own fill (checked right of its label, clear of text).
    for (const name of ['all', 'postgres', 'main', 'outer', 'middle', 'leaf_spin', 'other']) {
      const b = box(svg, name);
      expect(b.h).toBeGreaterThanOrEqual(16); // rows of at least 16 px, legible scaled down
      const [r, g, bl, alpha] = pixel(image, b.x + b.w - 4, b.y + b.h / 2);
      const [er, eg, eb] = hexRgb(b.fill);
      expect(alpha).toBe(255);
      expect(Math.abs(r - er) + Math.abs(g - eg) + Math.abs(bl - eb), `${name} at ${b.x + b.w - 4},${b.y}`).toBeLessThanOrEqual(6);
    }
    expect(box(svg, 'leaf_spin').fill).toBe(flameColor('native', 'leaf_spin'));
    // Labels were drawn with the DejaVu font: dark glyph pixels at the start of the leaf box.
    const leaf = box(svg, 'leaf_spin');
    expect(darkPixels(image, leaf.x + 2, leaf.y, leaf.x + 80, leaf.y + leaf.h)).toBeGreaterThan(40);
    // The large title line is there, and above the top frame is background, not boxes.
    expect(darkPixels(image, 0, 8, 1200, 38)).toBeGreaterThan(1500);
    const above = pixel(image, leaf.x + leaf.w / 2, leaf.y - 10);
    expect(above[0] + above[1] + above[2]).toBeGreaterThan(600);

    const narrow = decodePng(renderFlamegraphPng(spinProfile, { title: TITLE, width: 640 }));
    expect(narrow.width).toBe(640);
  });

  it('renders the same bytes every time: fonts come from the DejaVu files only', () => {
    expect(renderFlamegraphPng(spinProfile, { title: TITLE }).equals(renderFlamegraphPng(spinProfile, { title: TITLE }))).toBe(true);
  });

  it('cuts deep stacks at the top instead of growing past 900 px, and says so', () => {
    const deep = buildProfile([
      { frames: Array.from({ length: 300 }, (_, i) => `level_${i}`), count: 50 },
      { frames: ['main', 'shallow'], count: 50 },
    ]);
    const image = decodePng(renderFlamegraphPng(deep, { title: 'deep' }));
    expect(image.height).toBeLessThanOrEqual(MAX_PNG_HEIGHT);
    expect(image.height).toBeGreaterThan(MAX_PNG_HEIGHT - 40);
    const svg = stillSvg(deep, 'deep');
    expect(svg).toMatch(/<text id="cut"[^>]*>Stacks deeper than \d+ frames are cut at the dashed boxes \(\d+ more levels not shown\)<\/text>/);
    // The box the cut happens on is outlined; the root-most frames are all there.
    expect(svg).toMatch(/<title>level_\d+ \([^<]*<\/title><rect [^>]*stroke-dasharray/);
    expect(box(svg, 'level_0').y).toBeGreaterThan(box(svg, 'level_1').y);

    const five = decodePng(renderFlamegraphPng(deep, { title: 'deep', maxDepthShown: 5 }));
    const fiveSvg = renderFlamegraphSvg(deep, { static: true, title: 'deep', maxDepthShown: 5, maxHeight: MAX_PNG_HEIGHT, minWidthPx: 0.5 });
    expect(five.height).toBe(Number(/height="(\d+)"/.exec(fiveSvg)![1]));
    expect(fiveSvg).toContain('level_3 (');
    expect(fiveSvg).not.toContain('level_4 (');
    expect(() => renderFlamegraphPng(deep, { title: 'deep', maxDepthShown: 0 })).toThrow(/maxDepthShown must be a whole number of levels, 1 or more, got 0/);
  });

  it('keeps hostile process and symbol names as text', () => {
    const hostile = buildProfile([
      { frames: ['main', 'operator<<(a&b, "c")'], count: 60, comm: '<svg/onload=alert(1)>' },
      { frames: ['main', 'safe'], count: 40, comm: 'ok' },
    ]);
    const title = '<script>alert("t")</script> & </svg>';
    const image = decodePng(renderFlamegraphPng(hostile, { title, subtitle: '<b onmouseover=x>' }));
    expect(image.width).toBe(1200);
    const svg = stillSvg(hostile, title);
    const wellFormed = spawnSync('xmllint', ['--noout', '-'], { input: svg, encoding: 'utf8' });
    expect(wellFormed.stderr).toBe('');
    expect(svg).not.toContain('<svg/onload');
    expect(svg).not.toContain('<script');
    expect(svg).toContain('&lt;svg/onload=alert(1)&gt;');
    expect(svg).toContain('operator&lt;&lt;(a&amp;b, &quot;c&quot;)');
    // The boxes of the hostile names are drawn like any other.
    for (const name of ['&lt;svg/onload=alert(1)&gt;', 'operator&lt;&lt;(a&amp;b, &quot;c&quot;)']) {
      const b = box(svg, name);
      const [r, g, bl] = pixel(image, b.x + b.w - 4, b.y + b.h / 2);
      const [er, eg, eb] = hexRgb(b.fill);
      expect(Math.abs(r - er) + Math.abs(g - eg) + Math.abs(bl - eb)).toBeLessThanOrEqual(6);
    }
  });

  it('draws a still SVG: no script, buttons or details line, only the frames of the chosen pid', () => {
    const two = buildProfile([
      { frames: ['main', 'mine'], count: 10, pid: 1 },
      { frames: ['main', 'theirs'], count: 10, pid: 2 },
    ]);
    const svg = renderFlamegraphSvg(two, { static: true, onlyPid: 1 });
    expect(svg).not.toContain('<script');
    expect(svg).not.toContain('id="search"');
    expect(svg).not.toContain('id="details"');
    expect(svg).toContain('mine (');
    expect(svg).not.toContain('theirs (');
    expect(decodePng(renderFlamegraphPng(two, { title: 'pid 1', onlyPid: 1 })).width).toBe(1200);
    // An empty profile still gives an image, saying why it is empty.
    const empty = decodePng(renderFlamegraphPng(buildProfile([]), { title: 'nothing' }));
    expect(empty.width).toBe(1200);
    expect(empty.height).toBeGreaterThan(100);
  });

  it('says in its PNG text what it shows: title, whose samples and the hottest functions', () => {
    const two = buildProfile([
      { frames: ['main', 'mine'], count: 30, pid: 1, comm: 'burner' },
      { frames: ['main', 'mine_too'], count: 10, pid: 1, comm: 'burner' },
      { frames: ['main', 'theirs'], count: 60, pid: 2, comm: 'mixer' },
    ]);
    const png = renderFlamegraphPng(two, { title: 'burner-spin on db-1 · burner (pid 1) — ünïcode', onlyPid: 1, scope: 'burner (pid 1)' });
    // Python's own zlib checks every chunk's CRC and reads the iTXt chunks: an independent decoder.
    const python = spawnSync(
      'python3',
      [
        '-c',
        [
          'import sys, struct, zlib, json',
          'data = sys.stdin.buffer.read(); at = 8; text = {}',
          'while at < len(data):',
          '    n, kind = struct.unpack(">I4s", data[at:at + 8]); body = data[at + 8:at + 8 + n]',
          '    assert struct.unpack(">I", data[at + 8 + n:at + 12 + n])[0] == zlib.crc32(kind + body), kind',
          '    if kind == b"iTXt":',
          '        key, rest = body.split(b"\\0", 1); assert rest[:2] == b"\\0\\0"',
          '        lang, translated, value = rest[2:].split(b"\\0", 2); text[key.decode("latin-1")] = value.decode("utf-8")',
          '    at += 12 + n',
          'print(json.dumps(text))',
        ].join('\n'),
      ],
      { input: png, encoding: 'utf8' },
    );
    expect(python.stderr).toBe('');
    const text = JSON.parse(python.stdout) as Record<string, string>;
    expect(text.Title).toBe('burner-spin on db-1 · burner (pid 1) — ünïcode');
    expect(text.Description).toBe('Flamegraph of burner (pid 1): 40 samples. Hottest functions (self): mine 75.0%, mine_too 25.0%.');
    expect(Object.fromEntries(readPngText(png))).toEqual(text);
    // The image itself still decodes, and the whole host's names every process.
    expect(decodePng(png).width).toBe(1200);
    expect(readPngText(renderFlamegraphPng(two, { title: 't' })).get('Description')).toBe(
      'Flamegraph of every process: 100 samples. Hottest functions (self): theirs 60.0%, mine 30.0%, mine_too 10.0%.',
    );
    expect(readPngText(renderFlamegraphPng(buildProfile([]), { title: 't' })).get('Description')).toBe('Flamegraph of every process: no samples.');
  });
});
