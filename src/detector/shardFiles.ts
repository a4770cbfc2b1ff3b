/**
 * A sharded fit's parts as files (docs/scale.md): a worker writes its shard's statistics where the coordinator
 * reads them, in npad's model-file format (safetensors, SHA-256 over tensors and header, atomic write), so a part
 * damaged or cut short on the way is refused, never merged.
 */
import type { Backbone } from '../backbone/types.js';
import { NpadInputError } from '../errors.js';
import type { StoredModel } from '../method/types.js';
import { loadModel, saveModel } from '../model/modelFile.js';

/** The `method` a part file's header names. */
const PART_KIND = 'shard-part';

/** Writes one shard's part to `file` (atomically). */
export async function saveShardPart(file: string, part: StoredModel, backbone: Backbone): Promise<void> {
  await saveModel(file, { method: PART_KIND, config: { part: part.meta }, backbone: { id: backbone.id, weightsSha256: backbone.weightsSha256 } }, part.tensors);
}

/**
 * Reads a shard's part written by {@link saveShardPart} with the backbone `backbone`.
 * @throws NpadInputError naming the file when it is damaged, not a part, or from another backbone
 */
export async function loadShardPart(file: string, backbone: Backbone): Promise<StoredModel> {
  const { header, tensors } = await loadModel(file, { backboneId: backbone.id, weightsSha256: backbone.weightsSha256 });
  if (header.method !== PART_KIND || typeof header.config.part !== 'object' || header.config.part === null) {
    throw new NpadInputError(`${file}: not a shard's part of a sharded fit`, file);
  }
  return { meta: header.config.part, tensors };
}
