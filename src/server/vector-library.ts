import path from 'node:path';
import type { NamedVector } from '../steering/similar-vectors.js';
import type { ModelIdentity, SteeringVector } from '../steering/vector.js';
import { HttpError } from './http-error.js';
import type { Store } from './store.js';
import { checkVectorName, VectorRegistry, type VectorInfo } from './vector-registry.js';

/**
 * The shared vector registry (DATA_DIR/vectors) and, with `steerer serve --users`, one per user
 * (DATA_DIR/users/NAME/vectors). A caller sees their own vectors and the shared ones; a name
 * means their own vector first, then the shared one. Another user's vectors do not exist for
 * them: every lookup answers 404 exactly as for a name nobody has.
 */

/** Which library a name is looked up in: both (own first), or one of them. */
export type LibraryChoice = 'own' | 'shared';

interface LibraryVectorInfo extends VectorInfo {
  /** The user whose vector it is; null for a shared vector. */
  readonly owner: string | null;
  /** A shared vector hidden by one of the caller's own of the same name (the name means theirs). */
  readonly shadowed?: true;
}

export class VectorLibrary {
  readonly shared: VectorRegistry;
  private readonly own = new Map<string, VectorRegistry>();

  constructor(dataDir: string, store: Store, model: ModelIdentity, users: readonly string[] = []) {
    this.shared = new VectorRegistry(path.join(dataDir, 'vectors'), store, model);
    for (const user of users) this.own.set(user, new VectorRegistry(path.join(dataDir, 'users', user, 'vectors'), store, model, user));
  }

  /** What `caller` (a user, or undefined for the operator or a server without users) sees and changes. */
  view(caller: string | undefined): LibraryView {
    if (caller === undefined) return new LibraryView(undefined, this.shared);
    const own = this.own.get(caller);
    // Access checks only pass names from the same users list; anything else is a bug, not a user.
    if (!own) throw new Error(`no vector library for user ${JSON.stringify(caller)}`);
    return new LibraryView(own, this.shared);
  }
}

const ownerOf = (r: VectorRegistry): string | null => (r.owner === '' ? null : r.owner);

class LibraryView {
  constructor(
    private readonly own: VectorRegistry | undefined,
    private readonly shared: VectorRegistry,
  ) {}

  /** Where the caller's new vectors go: their own library, or the shared one for the operator. */
  get target(): VectorRegistry {
    return this.own ?? this.shared;
  }

  /** Own vectors first, then the shared ones, each with its owner. */
  list(): LibraryVectorInfo[] {
    const own = this.own?.list() ?? [];
    const mine = new Set(own.map((v) => v.name));
    return [
      ...own.map((v) => ({ ...v, owner: this.own!.owner })),
      ...this.shared.list().map((v) => ({ ...v, owner: null, ...(mine.has(v.name) ? { shadowed: true as const } : {}) })),
    ];
  }

  /** The registry that holds `name` for this caller (own first), or undefined. */
  find(name: string, from?: LibraryChoice): VectorRegistry | undefined {
    const order = from === 'own' ? [this.own] : from === 'shared' ? [this.shared] : [this.own, this.shared];
    return order.find((r): r is VectorRegistry => r !== undefined && r.has(name));
  }

  /** Like find, but a 404 when no library of the caller's has it (as the registry says it). */
  holder(name: string, from?: LibraryChoice): VectorRegistry {
    checkVectorName(name);
    const r = this.find(name, from);
    if (!r) throw new HttpError(404, `no vector named "${name}" in the registry (GET /v1/vectors lists them)`, 'vector_not_found');
    return r;
  }

  has(name: string): boolean {
    return this.find(name) !== undefined;
  }

  info(name: string, from?: LibraryChoice): LibraryVectorInfo {
    const r = this.holder(name, from);
    return { ...r.info(name), owner: ownerOf(r) };
  }

  get(name: string, from?: LibraryChoice): SteeringVector {
    checkVectorName(name, 'vector');
    return this.holder(name, from).get(name);
  }

  /** Deletes one of the caller's own vectors; a user may not delete a shared one (403). */
  remove(name: string): void {
    const r = this.holder(name);
    if (this.own !== undefined && r !== this.own) throw new HttpError(403, `"${name}" is a shared vector: only the server's operator can delete it`, 'shared_vector');
    r.remove(name);
  }

  /** Every vector a name can reach for this caller (shadowed shared ones left out), for similarity. */
  usable(): NamedVector[] {
    return this.list()
      .filter((v) => v.shadowed !== true)
      .map((v) => ({ name: v.name, vector: this.get(v.name, v.owner === null ? 'shared' : 'own') }));
  }
}
