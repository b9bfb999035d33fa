import { z } from 'zod/v4';

/** Integer schemas every file format and request body shares. */
export const nonNegativeInt = z.number().int().nonnegative();
export const positiveInt = z.number().int().positive();
