/**
 * docs/robustness.md is written by the tests that try the cases, when asked to (`npm run docs:robustness`, which sets
 * NPAD_WRITE_DOCS=1); a plain `npm test` writes the same document to results/robustness.md (not tracked), so the
 * tests never change a tracked file. Each robustness test replaces its own section
 * (between `<!-- robustness:NAME:begin -->` and `<!-- robustness:NAME:end -->`) and keeps every other one, including
 * the HTTP server's section (`<!-- server:begin -->` … `<!-- server:end -->`), which test/server fills.
 */
import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../../src/io/atomic.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Where the robustness document goes: docs/ when NPAD_WRITE_DOCS=1, else results/ (see above). */
export const ROBUSTNESS_DOC = path.join(REPO, process.env.NPAD_WRITE_DOCS === '1' ? 'docs' : 'results', 'robustness.md');
const DOC = ROBUSTNESS_DOC;

/** The sections, in the order the document shows them. */
const SECTIONS = ['inputs', 'commands', 'model', 'memory', 'fuzz'] as const;
export type SectionName = (typeof SECTIONS)[number];

const HEADER = `# Robustness

What npad does with bad input: damaged, hostile or unusual image files, badly laid-out datasets, damaged model
files, a full disk, a configuration too large for the machine's memory, and fuzzed bytes. Every row below was run
by the test suite, which wrote the actual outcome here (\`npm run docs:robustness\`; messages as printed; temporary folders
shown as \`<tmp>\`):
test/robustness/*.test.ts for these sections, test/server for the server's.

Policy: a problem with the user's input is an \`NpadInputError\` whose message starts with the file concerned; the
command line prints it as one line (\`npad: …\`, no stack trace). Exit codes: 0 done; 2 a user mistake, nothing
done or written; 3 finished, some inputs skipped (each named on stderr, then a summary); 1 an internal error (a
bug). Files are written atomically (temp file, fsync, rename), so a crash or a full disk never damages a file
already there.
`;

const SERVER_PLACEHOLDER = '<!-- server:begin -->\n<!-- server:end -->\n';

function markers(name: string): { begin: string; end: string } {
  return { begin: `<!-- robustness:${name}:begin -->`, end: `<!-- robustness:${name}:end -->` };
}

/** The text between two markers (exclusive), or null when they are not both there. */
function between(text: string, begin: string, end: string): string | null {
  const b = text.indexOf(begin);
  const e = text.indexOf(end, b + begin.length);
  return b < 0 || e < 0 ? null : text.slice(b + begin.length, e);
}

/**
 * Replaces one section of docs/robustness.md (atomically), keeping the others and the server's section as they are.
 * @param name the section
 * @param markdown its new content (a heading, tables, prose)
 */
export async function writeSection(name: SectionName, markdown: string): Promise<void> {
  const old = await readFile(DOC, 'utf8').catch(() => '');
  const serverBody = between(old, '<!-- server:begin -->', '<!-- server:end -->');
  const server = serverBody === null ? SERVER_PLACEHOLDER : `<!-- server:begin -->${serverBody}<!-- server:end -->\n`;
  const parts = [HEADER];
  for (const s of SECTIONS) {
    const { begin, end } = markers(s);
    const body = s === name ? `\n${markdown.trim()}\n` : (between(old, begin, end) ?? `\n## ${s}\n\n_Not generated yet: run \`npm test\`._\n`);
    parts.push(`${begin}${body}${end}\n`);
  }
  parts.push(server);
  await mkdir(path.dirname(DOC), { recursive: true });
  await writeFileAtomic(DOC, [new TextEncoder().encode(parts.join('\n'))]);
}

/** A message with temporary folders and the repository replaced by stable names, for the document. */
export function stable(message: string, tmp?: string): string {
  let m = message;
  if (tmp) m = m.split(tmp).join('<tmp>');
  m = m.split(REPO).join('.');
  m = m.split(os.tmpdir()).join('<tmp>');
  return m;
}

/** A Markdown table cell: pipes escaped, newlines flattened. */
export function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** A Markdown table from a header row and rows. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (r: readonly string[]): string => `| ${r.map(cell).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
