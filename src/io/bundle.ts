/**
 * Bundles: several files as one zip archive (adm-zip) with a `manifest.json` that names each
 * member with its size and SHA-256. Reading trusts nothing in the archive: every size is checked
 * against the limits before a member is inflated (inflating stops at the declared size), the
 * member names are a closed alphabet with no folders (no path can leave the folder it is
 * unpacked into), the archive must hold exactly the manifest's members, and each member's bytes
 * must match its recorded size and hash. Any failure is one InvalidInputError naming the bundle.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type AdmZipClass from 'adm-zip';
import { z } from 'zod/v4';
import { parseOr } from '../util/schemas.js';
import { InvalidInputError } from './errors.js';

// Loaded on first use: a program that never packs or reads a bundle does not pay for it.
let admZipClass: typeof AdmZipClass | undefined;
const admZip = (): typeof AdmZipClass => (admZipClass ??= createRequire(import.meta.url)('adm-zip') as typeof AdmZipClass);

export const BUNDLE_LIMITS = {
  /** Members besides the manifest. */
  members: 16,
  /** Bytes of one member, inflated. */
  memberBytes: 256 * 2 ** 20,
  /** Bytes of the whole archive, and of all members inflated together. */
  bundleBytes: 512 * 2 ** 20,
  manifestBytes: 64 * 2 ** 10,
} as const;

const MANIFEST = 'manifest.json';
/** A member's file name: no folders, no leading dot, no `..`, nothing a file system reads specially. */
const MEMBER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$/;
/** Zip entry times are DOS times; a fixed one keeps a bundle's bytes a function of its members. */
const ENTRY_TIME = new Date(2000, 0, 1);

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

const MemberRecord = z
  .object({
    path: z.string().max(128).regex(MEMBER_NAME, 'must be a plain file name (letters, digits, "_", "-", inner dots)'),
    bytes: z.number().int().nonnegative().max(BUNDLE_LIMITS.memberBytes),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
  })
  .strict();

const Manifest = z.looseObject({
  format: z.string().min(1).max(64),
  members: z.array(MemberRecord).min(1).max(BUNDLE_LIMITS.members),
});

export type BundleManifest = z.output<typeof Manifest>;

export interface BundleMember {
  readonly path: string;
  readonly bytes: Uint8Array;
}

/** The archive of `members` with a manifest `{format, ...fields, members: [{path, bytes, sha256}]}`. */
export function packBundle(format: string, fields: Record<string, unknown>, members: readonly BundleMember[]): Buffer {
  if (members.length === 0 || members.length > BUNDLE_LIMITS.members) throw new InvalidInputError(`a bundle holds 1-${BUNDLE_LIMITS.members} files, got ${members.length}`);
  const seen = new Set<string>();
  let total = 0;
  for (const m of members) {
    if (!MEMBER_NAME.test(m.path) || m.path.length > 128 || m.path === MANIFEST) throw new InvalidInputError(`bundle member name ${JSON.stringify(m.path)} is not a plain file name`);
    if (seen.has(m.path)) throw new InvalidInputError(`bundle member ${m.path} is given twice`);
    if (m.bytes.byteLength > BUNDLE_LIMITS.memberBytes) throw new InvalidInputError(`${m.path} is ${m.bytes.byteLength} bytes; a bundle member is at most ${BUNDLE_LIMITS.memberBytes}`);
    seen.add(m.path);
    total += m.bytes.byteLength;
  }
  if (total > BUNDLE_LIMITS.bundleBytes) throw new InvalidInputError(`the files add up to ${total} bytes; a bundle holds at most ${BUNDLE_LIMITS.bundleBytes}`);
  const manifest = { format, ...fields, members: members.map((m) => ({ path: m.path, bytes: m.bytes.byteLength, sha256: sha256(m.bytes) })) };
  const zip = new (admZip())();
  const add = (name: string, bytes: Uint8Array): void => {
    const entry = zip.addFile(name, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    entry.header.time = ENTRY_TIME;
  };
  add(MANIFEST, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
  for (const m of members) add(m.path, m.bytes);
  return zip.toBuffer();
}

export interface Bundle {
  readonly manifest: BundleManifest;
  /** The members in manifest order, each checked against its size and hash. */
  readonly members: readonly BundleMember[];
}

/** Reads and checks a bundle; `source` names it in errors (a file name, "the upload"). */
export function readBundle(bytes: Buffer, source: string): Bundle {
  const fail = (problem: string): never => {
    throw new InvalidInputError(`${source}: ${problem}`);
  };
  if (bytes.byteLength > BUNDLE_LIMITS.bundleBytes) fail(`${bytes.byteLength} bytes; a bundle is at most ${BUNDLE_LIMITS.bundleBytes}`);
  // adm-zip reports damage as plain Errors (or strings); each becomes one line about the bundle.
  const guarded = <T>(what: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      return fail(`${what} (${e instanceof Error ? e.message : String(e)}): the file is truncated, corrupted or not a bundle`);
    }
  };
  const entries = guarded('not a readable zip archive', () => new (admZip())(bytes, { noSort: true }).getEntries());
  if (entries.length > BUNDLE_LIMITS.members + 1) fail(`${entries.length} entries; a bundle holds at most ${BUNDLE_LIMITS.members} files and its manifest`);
  const byName = new Map<string, AdmZipClass.IZipEntry>();
  for (const e of entries) {
    const name = guarded('an entry name cannot be read', () => e.entryName);
    if (e.isDirectory || !MEMBER_NAME.test(name) || name.length > 128) fail(`entry ${JSON.stringify(name.slice(0, 80))} is not a plain file name (bundles hold no folders or paths)`);
    if (byName.has(name)) fail(`entry ${name} appears twice`);
    if (e.header.encrypted) fail(`entry ${name} is encrypted`);
    byName.set(name, e);
  }
  const read = (name: string, expected: number, limit: number): Buffer => {
    const e = byName.get(name) ?? fail(`no ${name} in the archive`);
    // Checked before inflating: the declared size bounds what getData may produce.
    if (e.header.size > limit) fail(`${name} declares ${e.header.size} bytes; at most ${limit}`);
    if (expected >= 0 && e.header.size !== expected) fail(`${name} holds ${e.header.size} bytes but the manifest says ${expected}`);
    const data = guarded(`${name} cannot be extracted`, () => e.getData());
    if (data.byteLength !== e.header.size) fail(`${name} inflates to ${data.byteLength} bytes, not the ${e.header.size} it declares`);
    return data;
  };
  const manifestBytes = read(MANIFEST, -1, BUNDLE_LIMITS.manifestBytes);
  let json: unknown;
  try {
    json = JSON.parse(manifestBytes.toString('utf8'));
  } catch {
    fail(`${MANIFEST} is not valid JSON`);
  }
  const manifest = parseOr(Manifest, json, (problem) => fail(`${MANIFEST}: ${problem}`));
  const listed = new Set(manifest.members.map((m) => m.path));
  if (listed.size !== manifest.members.length) fail(`${MANIFEST} lists a file twice`);
  if (listed.has(MANIFEST)) fail(`${MANIFEST} lists itself`);
  for (const name of byName.keys()) if (name !== MANIFEST && !listed.has(name)) fail(`entry ${name} is not in ${MANIFEST}`);
  const total = manifest.members.reduce((s, m) => s + m.bytes, 0);
  if (total > BUNDLE_LIMITS.bundleBytes) fail(`${MANIFEST} adds up to ${total} bytes; a bundle holds at most ${BUNDLE_LIMITS.bundleBytes}`);
  const members = manifest.members.map((m): BundleMember => {
    const data = read(m.path, m.bytes, BUNDLE_LIMITS.memberBytes);
    if (sha256(data) !== m.sha256) fail(`${m.path} does not match its SHA-256 in ${MANIFEST} (corrupted)`);
    return { path: m.path, bytes: data };
  });
  return { manifest, members };
}
