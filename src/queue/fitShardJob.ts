/**
 * Sharded fits over the queue (docs/scale.md): the worker's side computes one shard's statistics and writes them
 * as a checked part file; the coordinator's side sends every shard as a job and reads the parts back in shard order.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { DetectorConfig } from '../detector/config.js';
import { Detector, type ShardRunner } from '../detector/detector.js';
import { loadShardPart, saveShardPart } from '../detector/shardFiles.js';
import { runJobs } from './coordinator.js';
import { jobFailure, type FitShardJob, type FitShardJobResult } from './jobs.js';
import { partLocation, readPart, removePart, writePart } from './partStore.js';

/** A worker's fit-shard job. */
export async function runFitShardJob(job: FitShardJob): Promise<FitShardJobResult> {
  const started = performance.now();
  const { part, backbone } = await Detector.fitShard(job.images, job.config as unknown as DetectorConfig, job.kind, job.context);
  const bytes = await writePart(job.part, (file) => saveShardPart(file, part, backbone));
  return { part: job.part, bytes, seconds: (performance.now() - started) / 1000 };
}

/** What the coordinator learns of each shard. */
export interface ShardReport {
  /** the round: the survey (N-pad's channel counts) or the fit */
  kind: 'survey' | 'fit';
  images: number;
  bytes: number;
  seconds: number;
}

/**
 * A ShardRunner that sends each shard to the queue at `url` as a job, its part written under `parts` (a folder
 * every worker and the coordinator reach at that path, or an S3 bucket: queue/partStore.ts), and once all jobs have
 * ended yields the parts in shard order, each read when asked for and then deleted (so the coordinator holds one).
 * @param onShards receives each shard's size, part bytes and worker seconds once all have ended
 * @throws NpadInputError when a shard failed as a user's mistake; Error when it failed otherwise
 */
export function queueShards(url: string, parts: string, onShards?: (reports: ShardReport[]) => void, onProgress?: (done: number, total: number) => void): ShardRunner {
  return async function* ({ kind, shards, config, backbone, context }) {
    const run = randomUUID();
    const locations = shards.map((_, k) => partLocation(parts, `${run}-${kind}-${k}.part`));
    let merged = 0; // parts read and removed; the rest are removed on the way out, whatever happened
    try {
      const jobs = shards.map((images, k) => ({ kind, config: config as unknown as Record<string, unknown>, context, images: images.map((i) => path.resolve(i)), part: locations[k]! }));
      const outcomes = await runJobs(url, 'fit-shard', jobs, { onProgress });
      for (const [k, o] of outcomes.entries()) if (!o.ok) throw jobFailure(o.error, `shard ${k + 1} of ${shards.length}`);
      onShards?.(outcomes.map((o, k) => ({ kind, images: shards[k]!.length, bytes: o.ok ? o.result.bytes : 0, seconds: o.ok ? o.result.seconds : 0 })));
      for (const location of locations) {
        yield await readPart(location, (file) => loadShardPart(file, backbone));
        await removePart(location);
        merged++;
      }
    } finally {
      await Promise.all(locations.slice(merged).map((l) => removePart(l).catch(() => undefined)));
    }
  };
}
