import { prepareDataset } from '../../datasets/dataset.js';
import { defaultImageOptions } from '../../datasets/image.js';
import { createRun } from '../../runners/cleanup.js';
import { findSetup } from '../../runners/registry.js';
import { defaultSetupContext } from '../../runners/setup.js';

/**
 * A stand-in for a run that gets SIGKILLed while a peer daemon serves: it mounts one setup
 * (argv[2]) on the tiny dataset cached in argv[3], says where and which daemon, and waits.
 */
const [name = '', cacheDir = ''] = process.argv.slice(2);
const dataset = await prepareDataset(
  { kind: 'profile', profile: 'tiny', seed: 5 },
  defaultImageOptions,
  cacheDir,
);
const { runDir, stack } = createRun(`test-peer-run-${process.pid}`);
const setup = findSetup(name)!.create(defaultSetupContext(dataset, runDir, stack));
const mounted = await setup.mount();
process.stdout.write(
  `${JSON.stringify({ mountpoint: mounted.mountpoint, daemonPid: mounted.daemonPids[0] })}\n`,
);
setInterval(() => {}, 1000);
