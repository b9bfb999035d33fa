import type { ConceptKindName } from './concept-kind.js';

/**
 * Sentences with a slot, written in the register of children's stories (what small base models
 * were trained on) and plain enough for any model. A minimal pair fills the same sentence once
 * with a concept term and once with a matched neutral term of the same role, so the only
 * difference between the two sides is the concept. Openings set the concept up and let the model
 * go on; only the continuation is read.
 *
 * Slots: `{X}` the term as given, `{a X}` with its indefinite article.
 * Steerer's own sentences, hand-written per slot role.
 */

/** The grammatical role a concept term plays in a sentence. */
export type SlotRole = 'adjective' | 'creature' | 'object' | 'mass' | 'place' | 'event' | 'gerund';

export const SENTENCES: Readonly<Record<SlotRole, readonly string[]>> = {
  adjective: [
    'She was very {X}.', 'He felt {X} all day.', 'Lily was so {X} that morning.', 'Tom looked {X}.',
    'The little girl felt {X}.', 'Ben was {X} when he got home.', 'Everyone in the house was {X}.',
    'Mia said, "I feel {X} today."', 'The boy was {X} and did not know why.', 'Grandma felt {X} too.',
    'Sam was {X} at school.', 'It made Anna feel {X}.',
  ],
  creature: [
    'Once upon a time, there was {a X}.', 'The {X} lived near the woods.', 'Lily saw {a X} in the garden.',
    'One day, the {X} went for a walk.', '{a X} came to play with Tim.', 'The {X} was very hungry.',
    'Tom looked at the {X} and smiled.', 'The little {X} had a big dream.', 'Mia wanted to help the {X}.',
    'The {X} ran to the park.', 'Ben said hello to the {X}.', 'At night, the {X} went to sleep.',
  ],
  object: [
    'Lily found {a X} under the bed.', 'Tom had {a X}.', 'The {X} was on the table.', 'Mom gave Ben {a X}.',
    'Sara looked at the {X} and smiled.', 'There was {a X} in the room.', 'Max wanted to play with the {X}.',
    'The {X} was red and shiny.', 'Anna showed her friend the {X}.', 'Dad put the {X} in the box.',
    'Mia liked her {X} very much.', 'One day, Sam lost his {X}.',
  ],
  mass: [
    'There was a lot of {X} outside.', 'The {X} came in the morning.', 'Lily looked at the {X} from her window.',
    'Tom liked the {X}.', 'The {X} was everywhere.', 'Ben played in the {X} all day.', 'Mom said, "Look at the {X}!"',
    'That day, the {X} was very strong.', 'The kids talked about the {X}.', 'Sara felt the {X} on her face.',
    'After lunch, the {X} came back.', 'Grandpa told them about the {X}.',
  ],
  place: [
    'They went to the {X}.', 'Lily played at the {X} all day.', 'The {X} was big and quiet.',
    'Tom walked to the {X} with his mom.', 'There was {a X} near the town.', 'Ben liked to go to the {X}.',
    'One day, Mia found a path to the {X}.', 'The kids ran around the {X}.', 'Sara told her friend about the {X}.',
    'At the {X}, they met a new friend.', 'Dad said, "Let\'s go to the {X}."', 'The {X} was full of surprises.',
  ],
  event: [
    'Today was the day of the {X}.', 'Lily was excited about the {X}.', 'They talked about the {X} all week.',
    'Tom got ready for the {X}.', 'After the {X}, they went home.', 'Mom said, "It is time for the {X}."',
    'Ben had fun at the {X}.', 'The {X} was the best part of the day.', 'Mia told Grandma about the {X}.',
    'Everyone came to the {X}.', 'Sam could not wait for the {X}.', 'The {X} started in the afternoon.',
  ],
  gerund: [
    'Lily loved {X}.', 'Tom was good at {X}.', 'After lunch, they went {X}.', '{X} was her favorite thing to do.',
    'Ben wanted to try {X}.', 'Mia and her dad went {X} together.', 'The kids spent the day {X}.',
    'Sam learned about {X} at school.', 'Grandma said {X} was fun.', 'Anna dreamed about {X}.',
    'They talked about {X} all day.', 'Max was tired after {X}.',
  ],
};

/** Openings that set a term up; the model's continuation is what gets read. */
export const OPENINGS: Readonly<Record<SlotRole, readonly string[]>> = {
  adjective: ['Once upon a time, there was a girl who was very {X}.', 'One day, Tom felt {X}.', 'Lily woke up feeling {X}.', 'Ben was {X}.'],
  creature: ['Once upon a time, there was {a X}.', 'One day, Lily met {a X}.', 'Tom had a friend. His friend was {a X}.', 'In the forest lived {a X}.'],
  object: ['Once upon a time, Lily had {a X}.', 'One day, Tom found {a X}.', 'Mia got {a X} for her birthday.', 'Ben saw {a X} in the shop.'],
  mass: ['One day, there was a lot of {X}.', 'Lily looked outside and saw the {X}.', 'Tom loved the {X}.', 'The {X} came to the little town.'],
  place: ['One day, Lily went to the {X}.', 'Tom and his mom went to the {X}.', 'Once upon a time, there was {a X}.', 'The kids wanted to see the {X}.'],
  event: ['Today was the day of the {X}.', 'Lily was going to the {X}.', 'Tom and his family had {a X}.', 'It was time for the {X}.'],
  gerund: ['Lily loved {X}.', 'One day, Tom went {X}.', 'Mia wanted to go {X}.', 'Ben and his dad went {X}.'],
};

/** The slot role a concept of this kind fills, given the head's part of speech. */
export function slotRole(kind: ConceptKindName, pos: string, head: string): SlotRole {
  if (pos === 'adj' || pos === 'adv' || kind === 'feeling' || kind === 'quality') return 'adjective';
  if (kind === 'creature') return 'creature';
  if (kind === 'weather') return 'mass';
  if (kind === 'place') return 'place';
  if (kind === 'activity') return /ing$/.test(head) || pos === 'verb' ? 'gerund' : 'event';
  return 'object';
}

/** "an apple", "a cat", "an hour"; "an" before vowel sounds, with the common exceptions. */
export function withArticle(term: string): string {
  const w = term.toLowerCase();
  const vowelSound = /^[aeiou]/.test(w) ? !/^(uni|use|usu|eu|one|once)/.test(w) : /^(hour|honest|honou?r|heir)/.test(w);
  return `${vowelSound ? 'an' : 'a'} ${term}`;
}

/** Fills `{a X}` and `{X}`; a slot at the start of the sentence is capitalised. */
export function fillSlot(template: string, term: string): string {
  const out = template.split('{a X}').join(withArticle(term)).split('{X}').join(term);
  return template.startsWith('{') ? out.charAt(0).toUpperCase() + out.slice(1) : out;
}
