import { crc32 } from 'node:zlib';

/** A PNG's 8-byte signature, then chunks: length (4), type (4), data, CRC-32 of type and data (4). */
const SIGNATURE_BYTES = 8;

/**
 * Adds text to a PNG as `iTXt` chunks (UTF-8, uncompressed) right after its header chunk, where
 * image viewers, file managers and `exiftool` read a `Title` and a `Description`: a flamegraph
 * passed on from a chat or a mail says what it shows even without the message around it.
 *
 * @param entries keyword (1–79 Latin-1 letters, digits or spaces, e.g. `Title`) and its text.
 * @throws RangeError when `png` does not start with a PNG signature and IHDR chunk, or a keyword is not valid.
 */
export function withPngText(png: Uint8Array, entries: ReadonlyArray<readonly [keyword: string, text: string]>): Buffer {
  const bytes = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (bytes.length < SIGNATURE_BYTES + 8 || bytes.toString('latin1', 12, 16) !== 'IHDR') throw new RangeError('not a PNG: no IHDR chunk after the signature');
  const headerEnd = SIGNATURE_BYTES + 12 + bytes.readUInt32BE(SIGNATURE_BYTES);
  const chunks = entries.map(([keyword, text]) => {
    if (!/^[A-Za-z0-9 ]{1,79}$/.test(keyword) || keyword.startsWith(' ') || keyword.endsWith(' ')) throw new RangeError(`not a PNG text keyword: ${JSON.stringify(keyword)}`);
    // keyword NUL, compression flag and method (0: none), language tag NUL, translated keyword NUL, text
    return chunk('iTXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, 'utf8')]));
  });
  return Buffer.concat([bytes.subarray(0, headerEnd), ...chunks, bytes.subarray(headerEnd)]);
}

/** The `iTXt` (uncompressed) and `tEXt` text of a PNG, by keyword. */
export function readPngText(png: Uint8Array): Map<string, string> {
  const bytes = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const text = new Map<string, string>();
  for (let at = SIGNATURE_BYTES; at + 12 <= bytes.length; ) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    const data = bytes.subarray(at + 8, at + 8 + length);
    const nul = data.indexOf(0);
    if (type === 'tEXt' && nul > 0) text.set(data.toString('latin1', 0, nul), data.toString('latin1', nul + 1));
    if (type === 'iTXt' && nul > 0 && data[nul + 1] === 0) {
      // Past the language tag and the translated keyword, each ended by a NUL.
      const language = data.indexOf(0, nul + 3);
      const translated = language < 0 ? -1 : data.indexOf(0, language + 1);
      if (translated >= 0) text.set(data.toString('latin1', 0, nul), data.toString('utf8', translated + 1));
    }
    if (type === 'IEND') break;
    at += 12 + length;
  }
  return text;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}
