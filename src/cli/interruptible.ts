import type { TrainProgress } from '../model/trainer.js';
import type { Logger } from '../util/log.js';
import { Progress } from './progress.js';

/**
 * Runs a training job with Ctrl-C handling and a progress bar: the first SIGINT/SIGTERM
 * aborts after the current step (the job then writes the best model so far), a second
 * one quits at once with 130.
 */
export async function runInterruptibleTraining<T>(
  log: Logger,
  job: (signal: AbortSignal, onProgress: (p: TrainProgress) => void) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    log.warn('interrupted: finishing the current step and writing the best model so far (Ctrl-C again to quit now)');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const progress = new Progress('train');
  try {
    const result = await job(controller.signal, (p) =>
      progress.update(
        ((p.epoch - 1) * p.stepsPerEpoch + p.step) / (p.epochs * p.stepsPerEpoch),
        `epoch ${p.epoch}/${p.epochs} loss ${p.loss.toFixed(4)}${p.valLoss !== undefined ? ` val ${p.valLoss.toFixed(4)}` : ''}`,
        p.etaSeconds,
        p.valLoss !== undefined,
      ),
    );
    progress.done();
    return result;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
