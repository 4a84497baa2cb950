/** CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), as the superblock checksum uses it. */

const table = (() => {
  const entries = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    entries[byte] = crc >>> 0;
  }
  return entries;
})();

/** The kernel's crc32c(seed, data, len): no final inversion, the caller picks the seed. */
export function crc32c(seed: number, data: Uint8Array): number {
  let crc = seed >>> 0;
  for (const byte of data) crc = table[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}
