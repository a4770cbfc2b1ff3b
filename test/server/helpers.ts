/**
 * Shared by the server tests: a fake model (real image decoding, no CNN) so the HTTP machinery is tested in
 * milliseconds, test images, and the writer of the server section of docs/robustness.md.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { decodeRgb } from '../../src/image/decode.js';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { ROBUSTNESS_DOC } from '../robustness/report.js';
import type { InspectionModel, PredictionReply, PredictWanted } from '../../src/server/inspectionModel.js';
import { InspectionServer } from '../../src/server/server.js';
import type { ServerOptions } from '../../src/server/options.js';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A model that decodes the image for real and scores its mean brightness, after `delayMs`. */
export interface FakeModel extends InspectionModel {
  /** predict calls that started */
  calls: number;
  /** predict calls that finished */
  finished: number;
}

/**
 * @param name the model's name
 * @param behaviour `delayMs` before answering; `fail` makes every call throw it (a bug in the model)
 */
export function fakeModel(name = 'fake', behaviour: { delayMs?: number; fail?: Error } = {}): FakeModel {
  const model: FakeModel = {
    calls: 0,
    finished: 0,
    description: {
      name,
      method: 'fake',
      file: null,
      config: { input_width: 8, input_height: 8 },
      threshold: { score: 0.5, normalised_score: 0.5, source: 'manual' },
    },
    async predict(image: Buffer, wanted: PredictWanted): Promise<PredictionReply> {
      model.calls++;
      const started = performance.now();
      const rgb = await decodeRgb(image, wanted.label);
      if (behaviour.delayMs) await new Promise((r) => setTimeout(r, behaviour.delayMs));
      if (behaviour.fail) throw behaviour.fail;
      let sum = 0;
      for (const v of rgb.data) sum += v;
      const score = sum / rgb.data.length;
      const overlayPng = wanted.overlay ? await solidPng(8, 8, [255, 0, 0]) : null;
      model.finished++;
      return {
        verdict: score >= 0.5 ? 'defective' : 'good',
        score,
        normalisedScore: score,
        defectArea: 0,
        overlayPng,
        maskPng: wanted.mask ? await solidPng(8, 8, [0, 0, 0]) : null,
        timings: { inferenceMs: performance.now() - started, renderMs: 0 },
      };
    },
  };
  return model;
}

/** A PNG of one colour. */
export function solidPng(width: number, height: number, rgb: [number, number, number]): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
}

/** A PNG of random pixels (does not compress, so cutting it leaves the header but truncates the pixels). */
export function noisePng(side: number): Promise<Buffer> {
  const raw = Buffer.alloc(side * side * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24;
  return sharp(raw, { raw: { width: side, height: side, channels: 3 } }).png().toBuffer();
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A valid tiny PNG whose header claims width × height pixels (a decompression bomb's calling card). */
export async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await solidPng(1, 1, [0, 0, 0]));
  // IHDR: length at 8, type at 12, width at 16, height at 20, CRC over type+data at 29.
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

/** Starts a server on a free loopback port. */
export async function startServer(models: InspectionModel[] | null, options: Partial<ServerOptions> = {}): Promise<{ server: InspectionServer; url: string; port: number }> {
  const server = new InspectionServer(options);
  if (models) server.setModels(models);
  const { url, port } = await server.listen(0, '127.0.0.1');
  return { server, url, port };
}

/**
 * Counts a test file's tests that ran to their end, so that its part of docs/robustness.md is written only from
 * a complete run (not from a run filtered by --test-name-pattern, with a failure, or with a test skipped).
 */
export class CompleteRun {
  private defined = 0;
  private finished = 0;

  /** Wraps a test body; a body that returns false (it skipped itself) does not count as finished. */
  wrap<C>(body: (t: C) => Promise<boolean | void>): (t: C) => Promise<void> {
    this.defined++;
    return async (t) => {
      if ((await body(t)) !== false) this.finished++;
    };
  }

  /** True when every wrapped test finished. */
  get complete(): boolean {
    return this.defined > 0 && this.finished === this.defined;
  }
}

/** One row of the robustness table: what was sent and what came back. */
export interface OutcomeRow {
  case: string;
  request: string;
  outcome: string;
}

/** Formats an answer for the table: status, error code and message (or a short summary of a success). */
export function describeAnswer(status: number, body: unknown, extra = ''): string {
  const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
  const status_ = (body as { status?: unknown } | null)?.status;
  const text = error ? `${status} \`${error.code}\`: ${error.message}` : typeof status_ === 'string' ? `${status} \`{"status": "${status_}"}\`` : `${status}`;
  return extra ? `${text} ${extra}` : text;
}

function escapeCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A markdown table of outcome rows. */
export function outcomeTable(rows: readonly OutcomeRow[]): string {
  return [
    '| case | request | outcome (status, code, message) |',
    '| --- | --- | --- |',
    ...rows.map((r) => `| ${escapeCell(r.case)} | ${escapeCell(r.request)} | ${escapeCell(r.outcome)} |`),
  ].join('\n');
}

/** docs/robustness.md with NPAD_WRITE_DOCS=1, else results/robustness.md (test/robustness/report.ts). */
const DOC = ROBUSTNESS_DOC;
const OUTER_BEGIN = '<!-- server:begin -->';
const OUTER_END = '<!-- server:end -->';
const INTRO = `## The HTTP server (\`npad serve\`)

Every case below was sent to a real server over loopback HTTP and the answer written here by the test that sent
it. Failures are JSON \`{"error": {"status", "code", "message"}}\`; no request can crash the server or show a
stack trace. The fault cases run against a fake model (real HTTP, real image header checks and decoding, no CNN)
so that they take milliseconds; the last table uses a real fitted model and the \`npad serve\` command.`;

/**
 * Replaces one part (`faults` or `serve`) of the server section of docs/robustness.md, leaving the rest of the
 * file (another test's) as it is. Creates the file, the section or the part's markers when missing.
 */
export async function writeServerSection(part: 'faults' | 'serve', markdown: string): Promise<void> {
  const begin = `<!-- server:${part}:begin -->`;
  const end = `<!-- server:${part}:end -->`;
  let doc = await readFile(DOC, 'utf8').catch(() => '');
  if (!doc.includes(OUTER_BEGIN) || !doc.includes(OUTER_END)) {
    const skeleton = `${OUTER_BEGIN}\n${INTRO}\n\n<!-- server:faults:begin -->\n<!-- server:faults:end -->\n\n<!-- server:serve:begin -->\n<!-- server:serve:end -->\n${OUTER_END}\n`;
    doc = doc.trim() ? `${doc.trimEnd()}\n\n${skeleton}` : `# Robustness\n\n${skeleton}`;
  }
  if (!doc.includes(begin)) doc = doc.replace(OUTER_END, `${begin}\n${end}\n${OUTER_END}`);
  const from = doc.indexOf(begin) + begin.length;
  const to = doc.indexOf(end);
  doc = `${doc.slice(0, from)}\n${markdown.trim()}\n${doc.slice(to)}`;
  await mkdir(path.dirname(DOC), { recursive: true });
  await writeFileAtomic(DOC, [Buffer.from(doc)]);
}
