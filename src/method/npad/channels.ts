/**
 * Channel reduction (paper §3.1): keep d of the backbone's channels, chosen by how often each channel is
 * zero over the nominal features, or at random as PaDiM does.
 */
import { seededRandom, sampleWithoutReplacement } from '../../util/random.js';
import type { ChannelSelection } from './options.js';
import { NpadConfigError } from '../../errors.js';

/**
 * Picks `dim` channel indices (sorted ascending). `positiveCounts[c]` is how many nominal feature values of
 * channel c are non-zero; ties are broken by the lower index so the choice is deterministic.
 */
export function selectChannels(
  rule: ChannelSelection,
  dim: number,
  totalChannels: number,
  positiveCounts: Float64Array | null,
  seed: number,
): Int32Array {
  if (dim > totalChannels) throw new NpadConfigError(`option dim = ${dim} exceeds the backbone's ${totalChannels} channels`);
  if (rule === 'random') return sampleWithoutReplacement(totalChannels, dim, seededRandom(seed));
  if (!positiveCounts || positiveCounts.length !== totalChannels) throw new Error('channel selection by zeros needs per-channel counts');
  const order = Array.from({ length: totalChannels }, (_, i) => i);
  const sign = rule === 'fewest-zeros' ? -1 : 1;
  order.sort((a, b) => sign * (positiveCounts[a]! - positiveCounts[b]!) || a - b);
  return Int32Array.from(order.slice(0, dim)).sort();
}
