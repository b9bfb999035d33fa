/**
 * The GGUF format as both the reader (gguf.ts) and the writer (gguf-write.ts) see it: one place
 * for type ids, the magic and the limits, so what is written can always be read back.
 *
 * Layout: "GGUF", u32 version, u64 tensor count, u64 metadata count, metadata
 * key/value pairs, tensor infos (name, n_dims, dims ne0-first, type, offset
 * relative to the data section), padding to `general.alignment` (default 32),
 * then tensor data, each tensor starting at an aligned offset.
 */

export type GgufScalar = number | bigint | string | boolean;
export type GgufValue = GgufScalar | GgufValue[];

export type GgufMetaType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'u64' | 'i64' | 'f32' | 'f64' | 'bool' | 'string';

export type GgufMetaEntry =
  | { key: string; type: GgufMetaType; value: GgufScalar }
  | { key: string; type: 'array'; itemType: GgufMetaType; value: GgufScalar[] };

/** How a metadata value was stored; arrays carry their item type (nested arrays nest). */
export type GgufStoredType = { readonly type: GgufMetaType } | { readonly type: 'array'; readonly itemType: GgufStoredType | undefined };

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Value type ids in the file. */
export const TYPE_IDS: readonly (GgufMetaType | 'array')[] = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'];
export const TYPE_ID: Readonly<Record<GgufMetaType | 'array', number>> = Object.fromEntries(TYPE_IDS.map((t, i) => [t, i])) as Record<GgufMetaType | 'array', number>;
/** Fewest bytes one value of each type can take: bounds element counts before reading them. */
export const MIN_SIZE: Readonly<Record<GgufMetaType | 'array', number>> = {
  u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8, string: 8, array: 12,
};

export const MAX_DIMS = 4; // GGML_MAX_DIMS

/** A name or key for an error message, quoted and cut short. */
export function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s);
}
