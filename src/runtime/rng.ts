import { InvalidInputError } from '../io/errors.js';

/**
 * Seeded random numbers for sampling. Same seed → same sequence on every platform,
 * because everything is 32-bit integer arithmetic (Math.imul, >>>) with no dependence
 * on Math.random or float rounding modes.
 *
 * Why not `pure-rand`: the whole generator is ~20 lines, we need only uniform floats,
 * and adding a dependency would mean editing package.json for no gain in quality
 * (pure-rand's xoroshiro128+ is not better than xoshiro128** for this use).
 */
export interface Rng {
  /** Uniform in [0, 1), 53 bits of resolution. */
  nextFloat(): number;
}

/**
 * xoshiro128** 1.0 (Blackman & Vigna), bit-exact with the reference C code.
 * 128-bit state, period 2^128 − 1; plenty for token sampling.
 */
export class Xoshiro128StarStar implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Raw state words (each taken mod 2^32); must not be all zero. */
  constructor(s0: number, s1: number, s2: number, s3: number) {
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) {
      throw new InvalidInputError('xoshiro128** state must not be all zero');
    }
  }

  /** Next 32-bit output as an unsigned integer. */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  nextFloat(): number {
    // 27 + 26 high bits of two outputs → a 53-bit integer / 2^53 (as in MT's genrand_res53).
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const MASK64 = (1n << 64n) - 1n;

/** splitmix64 step (reference constants); used only to expand a seed into a state. */
function splitmix64(state: { x: bigint }): bigint {
  state.x = (state.x + 0x9e3779b97f4a7c15n) & MASK64;
  let z = state.x;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/**
 * A generator seeded from an integer. The seed is read as a 64-bit two's-complement value
 * and expanded with splitmix64 (the seeding its authors recommend), so nearby seeds give
 * unrelated streams. Any integer-valued number is accepted (negative ones too).
 */
export function createRng(seed: number): Xoshiro128StarStar {
  validateSeed(seed);
  const state = { x: BigInt.asUintN(64, BigInt(seed)) };
  const a = splitmix64(state);
  const b = splitmix64(state);
  const words = [a, a >> 32n, b, b >> 32n].map((w) => Number(w & 0xffffffffn));
  if ((words[0] | words[1] | words[2] | words[3]) === 0) words[0] = 1; // astronomically unlikely
  return new Xoshiro128StarStar(words[0], words[1], words[2], words[3]);
}

export function validateSeed(seed: unknown, name = 'seed'): asserts seed is number {
  if (typeof seed !== 'number' || !Number.isInteger(seed)) {
    throw new InvalidInputError(`${name} must be a finite integer, got ${String(seed)}`);
  }
}
