import { execa } from 'execa';

/** Loop devices through losetup(8): attach an image read-only, detach, find those backed by a file. */

/** Attaches `image` read-only to a free loop device and returns the device's path. */
export async function attachLoop(image: string, options: { directIo: boolean }): Promise<string> {
  const args = ['--find', '--show', '--read-only', ...(options.directIo ? ['--direct-io=on'] : []), image];
  const { stdout } = await execa('losetup', args);
  return stdout.trim();
}

export async function detachLoop(loopDevice: string): Promise<void> {
  await execa('losetup', ['--detach', loopDevice], { reject: false });
}

/** Loop devices whose backing file is `image`. */
export async function loopDevicesOf(image: string): Promise<string[]> {
  const { stdout } = await execa('losetup', ['--noheadings', '--output', 'NAME', '--associated', image], {
    reject: false,
  });
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}
