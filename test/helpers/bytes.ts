// Byte helpers shared by tests.

/** Bytes from hex text; spaces, colons and line breaks between digits are ignored. */
export function hex(s: string): Uint8Array {
  const clean = s.replace(/[^0-9a-f]/gi, '');
  if (clean.length % 2 !== 0) throw new Error(`hex text has an odd number of digits: ${s}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}
