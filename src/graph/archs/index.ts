import type { ArchFamily } from '../../model/spec.js';
import type { ArchGraph } from './arch.js';
import { gpt2 } from './gpt2.js';
import { llama } from './llama.js';

export const ARCH_GRAPHS: Record<ArchFamily, ArchGraph> = { llama, gpt2 };
