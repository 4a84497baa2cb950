import { linkSync, lutimesSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { SeededRandom, seededBytes } from '../../lib/random.js';

/**
 * A source tree full of the cases a filesystem reader gets wrong: sizes around block boundaries,
 * a wide directory with names of every length, 255-byte and non-ASCII names, deep nesting, hard
 * links, short/long/dangling symlinks, device nodes with large numbers, fifo, socket, special
 * modes, large owners, old/future/nanosecond times, many/large/shared xattrs, a sparse file.
 * Deterministic for a seed, so a failing comparison can be rebuilt.
 */
export async function buildEdgeTree(root: string, seed: number, wideCount = 1500): Promise<void> {
  const random = new SeededRandom(seed);
  const dir = (path: string) => mkdirSync(join(root, path), { recursive: true });
  const file = (path: string, content: Buffer | string) => writeFileSync(join(root, path), content);
  const run = (command: string, args: string[]) => execa(command, args, { stdio: 'ignore' });

  dir('sizes');
  const sizes = [
    0, 1, 511, 512, 513, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097, 8191, 8192, 8193, 65543,
  ];
  for (const size of sizes) {
    file(`sizes/random-${size}`, seededBytes(`${seed}/size/${size}`, size));
    file(`sizes/zeros-${size}`, Buffer.alloc(size));
    file(`sizes/text-${size}`, 'the quick brown fox\n'.repeat(Math.ceil(size / 20)).slice(0, size));
  }
  file('sizes/large', seededBytes(`${seed}/large`, 3 * 1024 * 1024 + 123));
  // A sparse file: data islands in a hole.
  const sparse = Buffer.alloc(300_000);
  seededBytes(`${seed}/sparse`, 5000).copy(sparse, 140_000);
  file('sizes/sparse', sparse);
  await run('fallocate', ['--dig-holes', join(root, 'sizes/sparse')]).catch(() => undefined);

  dir('wide');
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789_-.ABCDEF';
  for (let index = 0; index < wideCount; index++) {
    const length = 1 + random.int(0, 119);
    let name = `${index.toString(36)}_`;
    while (name.length < length) name += alphabet[random.int(0, alphabet.length - 1)];
    file(
      `wide/${name}`,
      random.int(0, 3) === 0 ? seededBytes(`${seed}/wide/${index}`, random.int(0, 299)) : '',
    );
  }

  dir('names');
  // Debian's mkfs.erofs 1.5 fails on 255-byte names; the 1.9.3 fixtures cover those.
  file(`names/${'n'.repeat(250)}`, 'long name');
  file('names/héllo wörld — 日本語 ☃', 'utf-8');
  file('names/spaces and \'quotes\' "double"', 'quotes');
  file('names/.hidden', 'dot');
  file('names/-dash', 'dash');

  let deep = 'deep';
  for (let level = 0; level < 40; level++) deep = join(deep, `level${level}`);
  dir(deep);
  file(join(deep, 'bottom'), 'bottom');

  dir('links');
  file('links/target', 'hard linked');
  linkSync(join(root, 'links/target'), join(root, 'links/hard1'));
  linkSync(join(root, 'links/target'), join(root, 'links/hard2'));
  symlinkSync('target', join(root, 'links/short'));
  symlinkSync(`/${'x'.repeat(899)}`, join(root, 'links/dangling-900'));
  symlinkSync(`${'long/'.repeat(799)}tail`, join(root, 'links/long-4000'));
  symlinkSync('../sizes', join(root, 'links/to-dir'));

  dir('special');
  await run('mknod', [join(root, 'special/null'), 'c', '1', '3']);
  await run('mknod', [join(root, 'special/loop200'), 'b', '7', '200']);
  await run('mknod', [join(root, 'special/bigdev'), 'c', '4000', '70000']);
  await run('mkfifo', [join(root, 'special/fifo')]);
  await run('python3', [
    '-c',
    `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(join(root, 'special/socket'))})`,
  ]);

  dir('modes');
  const modes: Array<[string, string]> = [
    ['setuid', '4755'],
    ['setgid', '2755'],
    ['none', '0000'],
    ['all', '0777'],
    ['readonly', '0400'],
  ];
  for (const [name, mode] of modes) {
    file(`modes/${name}`, name);
    await run('chmod', [mode, join(root, `modes/${name}`)]);
  }
  dir('modes/sticky');
  await run('chmod', ['1777', join(root, 'modes/sticky')]);

  dir('owners');
  for (const id of [0, 1000, 65535, 65536, 4000000000]) {
    file(`owners/uid-${id}`, String(id));
    await run('chown', ['-h', `${id}:${id === 0 ? 0 : id - 1}`, join(root, `owners/uid-${id}`)]);
  }

  dir('times');
  for (const stamp of [
    '0',
    '1',
    '1700000000.123456789',
    '2147483647.999999999',
    '2147483653',
    '4102444800.5',
  ]) {
    file(`times/at-${stamp}`, stamp);
    await run('touch', ['-h', '-d', `@${stamp}`, join(root, `times/at-${stamp}`)]);
  }

  dir('xattrs');
  const setfattr = (path: string, name: string, value: string) =>
    run('setfattr', ['-h', '-n', name, '-v', value, join(root, path)]);
  file('xattrs/small', 'x');
  await setfattr('xattrs/small', 'user.small', 'value');
  file('xattrs/large', 'x');
  await setfattr('xattrs/large', 'user.large', `0x${seededBytes(`${seed}/xattr`, 1800).toString('hex')}`);
  file('xattrs/many', 'x');
  for (let index = 0; index < 40; index++) await setfattr('xattrs/many', `user.attr${index}`, `v${index}`);
  for (const name of ['shared1', 'shared2', 'shared3']) {
    file(`xattrs/${name}`, name);
    await setfattr(`xattrs/${name}`, 'user.shared', 'the same on every file');
    await setfattr(`xattrs/${name}`, 'trusted.overlay.opaque', 'y');
  }
  file('xattrs/security', 'x');
  await setfattr('xattrs/security', 'security.capability', '0x0100000200200000000000000000000000000000');
  file('xattrs/empty', 'x');
  await setfattr('xattrs/empty', 'user.empty', '""');
  dir('xattrs/on-dir');
  await setfattr('xattrs/on-dir', 'user.dir', 'dir value');
  symlinkSync('small', join(root, 'xattrs/link'));
  await setfattr('xattrs/link', 'trusted.on-link', 'link value');

  dir('empty_dir');
  // Fixed directory times, so images built from this tree twice are identical.
  for (const path of [
    'sizes',
    'wide',
    'names',
    'links',
    'special',
    'modes',
    'owners',
    'times',
    'xattrs',
    'empty_dir',
  ]) {
    lutimesSync(join(root, path), 1_600_000_000, 1_600_000_000);
  }
}
