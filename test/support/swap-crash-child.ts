/**
 * A child process for the crash tests: runs `forget` or `train` through the library and stops
 * itself with a real signal right after one step of the model-directory swap (writeDirAtomic's
 * `onStep`), so the test can check what a kill at exactly that instant leaves on disk.
 *
 *   node swap-crash-child.js <step> <signal> forget <model-dir> <name>
 *   node swap-crash-child.js <step> <signal> train <photos> <out-dir>
 */
import { forgetPerson } from '../../src/api/enroll.js';
import { train } from '../../src/api/train.js';
import type { SwapStep } from '../../src/util/fs.js';

const [step, signal, command, ...args] = process.argv.slice(2) as [SwapStep, NodeJS.Signals, string, ...string[]];
const onSwapStep = (reached: SwapStep) => {
  if (reached === step) process.kill(process.pid, signal);
};

if (command === 'forget') await forgetPerson(args[0]!, args[1]!, { onSwapStep });
else if (command === 'train') await train({ dataDir: args[0]!, outDir: args[1]!, augment: false, epochs: 2 }, () => {}, { onSwapStep });
else throw new Error(`unknown command ${command}`);
