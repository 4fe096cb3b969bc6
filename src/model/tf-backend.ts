import * as tf from '@tensorflow/tfjs';
import type { Logger } from '../util/log.js';

export type TfBackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface TfBackendInfo {
  /** What was chosen, in the preference order tfjs-node-gpu, tfjs-node, wasm, cpu. */
  name: TfBackendName;
  /** tfjs's own backend name (tfjs-node and tfjs-node-gpu both register "tensorflow"). */
  tfBackend: string;
  version: string;
}

let chosen: TfBackendInfo | null = null;

/** Native bindings are optional: imported only if the user installed them. */
async function tryImport(name: string): Promise<boolean> {
  try {
    await import(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Picks the fastest TensorFlow.js backend available at run time and logs the choice.
 * `preferred` forces one (fails if it cannot be had).
 */
export async function initTfBackend(log: Logger, preferred?: TfBackendName | 'auto'): Promise<TfBackendInfo> {
  if (chosen && (!preferred || preferred === 'auto' || preferred === chosen.name)) return chosen;
  // PROD silences tfjs's console banner ("install our node backend"), which otherwise lands in
  // the middle of `serve`'s output; the choice is logged below and the README says how to get
  // tfjs-node. It also drops tfjs's debug-only checks.
  tf.env().set('PROD', true);
  const order: TfBackendName[] =
    preferred && preferred !== 'auto' ? [preferred] : ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];
  for (const name of order) {
    let ok = false;
    if (name === 'tensorflow-gpu') ok = (await tryImport('@tensorflow/tfjs-node-gpu')) && (await tf.setBackend('tensorflow'));
    else if (name === 'tensorflow') ok = (await tryImport('@tensorflow/tfjs-node')) && (await tf.setBackend('tensorflow'));
    else if (name === 'wasm') {
      ok = await tryImport('@tensorflow/tfjs-backend-wasm');
      if (ok) {
        try {
          ok = await tf.setBackend('wasm');
        } catch {
          ok = false;
        }
      }
    } else ok = await tf.setBackend('cpu');
    if (ok) {
      await tf.ready();
      chosen = { name, tfBackend: tf.getBackend(), version: tf.version.tfjs };
      log.info('tfjs backend selected', { backend: name, tfjs: tf.version.tfjs });
      return chosen;
    }
    log.debug('tfjs backend unavailable', { backend: name });
  }
  throw new Error(`no TensorFlow.js backend could be initialised (tried ${order.join(', ')})`);
}
