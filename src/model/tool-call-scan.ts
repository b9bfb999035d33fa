import { HERMES_CALL_END, HERMES_CALL_START, type ToolCallFormat } from './chat-tools.js';

/**
 * Finding a tool call in generated text as it streams. A segment is the text the model wrote
 * since the reply began or since the answer to its last call; scanSegment is given all of it
 * after every token and says how much of it is reply text for sure, and where a call is.
 *
 *   hermes  a call is <tool_call>BODY</tool_call> anywhere in the segment; text before it is
 *           reply text, and a tail that could still grow into "<tool_call>" is held back
 *   json    a call is the whole segment: one JSON object with "name" and "parameters" (or
 *           "arguments"); until its braces close nothing is shown, and an object that is not
 *           a call turns out to be reply text after all
 */

interface SegmentScan {
  /** Characters at the start of the segment that are reply text for sure. */
  readonly visible: number;
  /** A complete call: its span in the segment and its JSON body. */
  readonly call?: { readonly start: number; readonly end: number; readonly body: string };
  /** With `final`: the segment ends inside a call that never finished. */
  readonly unfinished?: { readonly start: number };
}

/** Scans a segment; `final` when no more text will come (end of generation). */
export function scanSegment(format: ToolCallFormat, raw: string, final: boolean): SegmentScan {
  return format === 'hermes' ? scanHermes(raw, final) : scanJson(raw, final);
}

function scanHermes(raw: string, final: boolean): SegmentScan {
  const start = raw.indexOf(HERMES_CALL_START);
  if (start < 0) return { visible: final ? raw.length : raw.length - partialMarker(raw, HERMES_CALL_START) };
  const close = raw.indexOf(HERMES_CALL_END, start + HERMES_CALL_START.length);
  if (close < 0) return final ? { visible: start, unfinished: { start } } : { visible: start };
  return { visible: start, call: { start, end: close + HERMES_CALL_END.length, body: raw.slice(start + HERMES_CALL_START.length, close).trim() } };
}

function scanJson(raw: string, final: boolean): SegmentScan {
  const start = raw.length - raw.trimStart().length;
  if (start === raw.length) return { visible: final ? raw.length : 0 };
  if (raw[start] !== '{') return { visible: raw.length };
  const end = jsonObjectEnd(raw, start);
  if (end < 0) return final ? { visible: 0, unfinished: { start } } : { visible: 0 };
  const body = raw.slice(start, end);
  return isJsonCall(body) ? { visible: 0, call: { start, end, body } } : { visible: raw.length };
}

/** Length of the longest proper prefix of `marker` that `text` ends with. */
function partialMarker(text: string, marker: string): number {
  for (let k = Math.min(marker.length - 1, text.length); k > 0; k--) if (text.endsWith(marker.slice(0, k))) return k;
  return 0;
}

/** Index just past the object that opens at text[start] ('{'), or -1 while it is open. */
function jsonObjectEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

function isJsonCall(body: string): boolean {
  try {
    const v: unknown = JSON.parse(body);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
    const o = v as Record<string, unknown>;
    return typeof o.name === 'string' && ('parameters' in o || 'arguments' in o);
  } catch {
    return false;
  }
}
