/**
 * Reading datasets laid out like MVTec AD:
 *
 *     root/train/good/*                       defect-free training images
 *     root/test/<defect or good>/*            test images, one folder per class
 *     root/ground_truth/<defect>/<stem>_mask.png   masks of defective test images
 *
 * Masks are optional per defect folder: a line's labelled folders (test/good and test/<anything else>, no
 * ground_truth) give image metrics only. Where ground_truth/<defect> exists, every image of that defect needs its
 * mask (a missing one is more likely a mistake than a choice). train/good is needed only to fit.
 *
 * MTD (magnetic tile) and most industrial benchmarks are distributed or
 * converted to the same layout. Lists are sorted by file name in code-point
 * order (as Python's sorted()), so runs are reproducible across machines and
 * locales.
 */
import { readdir, stat } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { extname, join, parse } from 'node:path';
import { NpadInputError } from '../errors.js';

/** One test image with its ground truth. */
export interface LabelledImage {
  /** path of the image file */
  path: string;
  /** 'good' or the name of the defect folder it is in */
  defect: string;
  /** 0 for good, 1 for defective */
  label: 0 | 1;
  /** path of its mask; null for good images and for defective images of a folder without ground truth */
  maskPath: string | null;
}

/** A dataset in the MVTec AD layout. */
export interface MvtecDataset {
  /** the root folder, as given */
  root: string;
  /** training images (root/train/good), sorted */
  train: string[];
  /** test images, sorted by defect folder then file name */
  test: LabelledImage[];
}

/** File extensions read as images, lower case. */
export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp'];

const LAYOUT_HINT = 'expected the MVTec AD layout root/train/good, root/test/<good or defect>, optionally root/ground_truth/<defect>';

/**
 * Reads a dataset in the MVTec AD layout and checks that it is complete.
 *
 * @param root the dataset folder (e.g. .../mvtec_ad/bottle)
 * @param options.train 'required' (default: to fit) or 'optional' (scoring with a fitted model; an absent
 *   train/good gives an empty list)
 * @throws NpadInputError, naming the path, when the root is missing or not a
 *   folder, train/good is missing or has no images (when required), test is missing or has no
 *   images, or a defective test image has no mask in its defect's ground_truth folder
 */
export async function readMvtecDataset(root: string, options: { train?: 'required' | 'optional' } = {}): Promise<MvtecDataset> {
  await requireFolder(root, `folder not found (${LAYOUT_HINT})`);
  const trainDir = join(root, 'train', 'good');
  const required = options.train !== 'optional';
  let train: string[] = [];
  if (await isFolder(trainDir)) {
    train = await listImages(trainDir);
    if (train.length === 0 && required) throw new NpadInputError(`${trainDir}: no images (${extensionList()}) in train/good`, trainDir);
  } else if (required) {
    throw new NpadInputError(`${root}: no train/good folder${await caseHint(root, ['train', 'good'])}: ${LAYOUT_HINT}`, root);
  }
  const testDir = join(root, 'test');
  if (!(await isFolder(testDir))) {
    throw new NpadInputError(`${root}: no test folder${await caseHint(root, ['test'])}: ${LAYOUT_HINT}`, root);
  }
  const test: LabelledImage[] = [];
  for (const defect of await listSubfolders(testDir)) {
    const images = await listImages(join(testDir, defect));
    if (defect === 'good') {
      for (const path of images) test.push({ path, defect, label: 0, maskPath: null });
      continue;
    }
    const maskDir = join(root, 'ground_truth', defect);
    if (!(await isFolder(maskDir))) {
      // No ground truth for this defect: its images count for the image metrics only.
      for (const path of images) test.push({ path, defect, label: 1, maskPath: null });
      continue;
    }
    const masks = await fileNames(maskDir);
    for (const path of images) {
      const maskName = `${parse(path).name}_mask.png`;
      const maskPath = join(maskDir, maskName);
      if (!masks.has(maskName)) {
        throw new NpadInputError(`${path}: defective test image has no mask: expected ${maskPath}`, path);
      }
      test.push({ path, defect, label: 1, maskPath });
    }
  }
  if (test.length === 0) {
    throw new NpadInputError(`${testDir}: no test images: ${LAYOUT_HINT}`, testDir);
  }
  return { root, train, test };
}

/**
 * Lists the image files of one folder (not its subfolders), sorted by name.
 * Images are recognised by extension ({@link IMAGE_EXTENSIONS}, any case);
 * hidden files (".name") are skipped. The list may be empty.
 *
 * @param dir folder to list
 * @returns full paths (dir joined with each name)
 * @throws NpadInputError when dir is missing or not a folder
 */
export async function listImages(dir: string): Promise<string[]> {
  await requireFolder(dir, 'folder not found');
  const entries = await readFolder(dir);
  const names: string[] = [];
  for (const entry of entries) {
    if (isImageName(entry.name) && (await isFileEntry(dir, entry))) names.push(entry.name);
  }
  return sortByCodePoint(names).map((name) => join(dir, name));
}

/** Something a folder walk left out, and why. */
export interface SkippedEntry {
  path: string;
  reason: string;
}

/**
 * Image files under a folder, subfolders included, sorted by code point (as listImages). Links are followed, but a
 * folder is searched once however many links lead to it, so a link cycle ends; what is left out (a cycle, a
 * dangling link, a FIFO, socket or device with an image's name) goes to `onSkip` with the reason.
 */
export async function imagesUnder(dir: string, onSkip: (entry: SkippedEntry) => void = () => {}): Promise<string[]> {
  const found: string[] = [];
  const searched = new Set<string>();
  const walk = async (d: string): Promise<void> => {
    const here = await stat(d);
    const key = `${here.dev}:${here.ino}`;
    if (searched.has(key)) {
      onSkip({ path: d, reason: 'a link to a folder already searched (a cycle, or a second way in)' });
      return;
    }
    searched.add(key);
    const entries = await readdir(d, { withFileTypes: true }).catch((e: unknown) => {
      throw new NpadInputError(`${d}: cannot list folder (${e instanceof Error ? e.message : String(e)})`, d);
    });
    const names = entries.map((e) => e.name).filter((n) => !n.startsWith('.')).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) {
      const full = join(d, name);
      const info = await stat(full).catch(() => null);
      const image = IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
      if (info === null) onSkip({ path: full, reason: 'a dangling link (its target does not exist)' });
      else if (info.isDirectory()) await walk(full);
      else if (image && info.isFile()) found.push(full);
      else if (image) onSkip({ path: full, reason: 'not a regular file (a FIFO, socket or device)' });
    }
  };
  await walk(dir);
  return found;
}

/**
 * When `root` holds the folder `segments` under another capitalisation (e.g. Train/Good for train/good), a hint
 * saying so, as " (found Train/Good: …)"; else "". Folder names are case-sensitive on Linux, and a dataset copied
 * from a case-insensitive file system often differs only in case.
 */
export async function caseHint(root: string, segments: readonly string[]): Promise<string> {
  let dir = root;
  const found: string[] = [];
  for (const segment of segments) {
    if (!(await isFolder(dir))) return '';
    const names = await listSubfolders(dir);
    const match = names.find((n) => n === segment) ?? names.find((n) => n.toLowerCase() === segment.toLowerCase());
    if (match === undefined) return '';
    found.push(match);
    dir = join(dir, match);
  }
  const wanted = segments.join('/');
  const actual = found.join('/');
  return actual === wanted ? '' : ` (found ${actual}: folder names are case-sensitive, rename it ${wanted})`;
}

/** True for a visible file name with an image extension. */
function isImageName(name: string): boolean {
  return !name.startsWith('.') && IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/** Visible subfolder names of a folder, sorted. */
async function listSubfolders(dir: string): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readFolder(dir)) {
    if (entry.name.startsWith('.')) continue;
    if (entry.isDirectory() || (entry.isSymbolicLink() && (await isFolder(join(dir, entry.name))))) {
      names.push(entry.name);
    }
  }
  return sortByCodePoint(names);
}

/** Names of the files in a folder; empty when the folder does not exist. */
async function fileNames(dir: string): Promise<Set<string>> {
  if (!(await isFolder(dir))) return new Set();
  const names = new Set<string>();
  for (const entry of await readFolder(dir)) {
    if (await isFileEntry(dir, entry)) names.add(entry.name);
  }
  return names;
}

/** True for a regular file, following symbolic links (datasets are often linked in). */
async function isFileEntry(dir: string, entry: Dirent): Promise<boolean> {
  if (entry.isFile()) return true;
  if (!entry.isSymbolicLink()) return false;
  try {
    return (await stat(join(dir, entry.name))).isFile();
  } catch {
    return false; // a dangling link is not an image
  }
}

/** True when path exists and is a folder (following links). */
async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Throws "path: problem" when path is missing, or "path: not a folder" when it is a file. */
async function requireFolder(path: string, missing: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    throw new NpadInputError(`${path}: ${missing}`, path);
  }
  if (!isDir) throw new NpadInputError(`${path}: not a folder`, path);
}

/** readdir with file types, as an NpadInputError when the folder cannot be read. */
async function readFolder(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new NpadInputError(`${dir}: cannot list folder (${reason})`, dir);
  }
}

/** Sorts by UTF-16 code units, not locale, so the order is the same everywhere. */
function sortByCodePoint(names: string[]): string[] {
  return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** "png, jpg, ..." for messages. */
function extensionList(): string {
  return IMAGE_EXTENSIONS.map((e) => e.slice(1)).join(', ');
}
