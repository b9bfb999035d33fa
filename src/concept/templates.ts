import { InvalidInputError } from '../io/errors.js';

/**
 * Persona templates: a sentence that puts the model in the concept's frame, its mirror with the
 * neutral/opposite concept, and a plain fallback used when no neutral concept is given. Chat
 * models get them as the user turn; base models as a plain prefix before the opening.
 */
export interface PersonaTemplate {
  /** Must contain "{concept}". */
  readonly positive: string;
  /** Must contain "{neutral}" (used when a neutral concept is given). */
  readonly neutral: string;
  /** The negative side when no neutral concept is given. */
  readonly plain: string;
}

type TemplateFamily = 'persona' | 'topic';

const CHAT: Record<TemplateFamily, readonly PersonaTemplate[]> = {
  // Adjective-like concepts: "sad", "formal", "pirate".
  persona: [
    { positive: "Act as if you're extremely {concept}.", neutral: "Act as if you're extremely {neutral}.", plain: 'Act as you normally would.' },
    { positive: 'You are a {concept} assistant. Stay in character.', neutral: 'You are a {neutral} assistant. Stay in character.', plain: 'You are an assistant.' },
    { positive: 'Answer in a way that is very {concept}.', neutral: 'Answer in a way that is very {neutral}.', plain: 'Answer in your usual way.' },
  ],
  // Descriptions: "talks about weddings", "references to the ocean".
  topic: [
    { positive: 'Whatever you write, it must be about this: {concept}.', neutral: 'Whatever you write, it must be about this: {neutral}.', plain: 'Write whatever comes naturally.' },
    { positive: 'Bring the conversation to this subject: {concept}.', neutral: 'Bring the conversation to this subject: {neutral}.', plain: 'Carry on the conversation naturally.' },
  ],
};

const BASE: Record<TemplateFamily, readonly PersonaTemplate[]> = {
  // A small base model follows sentences in its own register better than instructions: the
  // persona is a sentence of the text itself, and the plain side keeps its shape without the
  // concept (measured on TinyStories: these beat bare "{concept}." frames and "concept vs
  // opposite" mirrors at equal perplexity).
  persona: [
    { positive: 'She was very {concept}.', neutral: 'She was very {neutral}.', plain: 'She was there.' },
    { positive: 'He felt {concept}.', neutral: 'He felt {neutral}.', plain: 'He was there.' },
    { positive: 'It was a {concept} day.', neutral: 'It was a {neutral} day.', plain: 'It was a day.' },
  ],
  topic: [
    { positive: 'This is about {concept}.', neutral: 'This is about {neutral}.', plain: '' },
    { positive: 'Topic: {concept}.', neutral: 'Topic: {neutral}.', plain: 'Topic: anything.' },
  ],
};

/** One word (or a hyphenated one) is a persona; anything longer is a topic description. */
export function familyFor(concept: string): TemplateFamily {
  return /^\s*[\p{L}\p{N}'-]+\s*$/u.test(concept) ? 'persona' : 'topic';
}

export function defaultTemplates(concept: string, chat: boolean): readonly PersonaTemplate[] {
  return (chat ? CHAT : BASE)[familyFor(concept)];
}

export function validateTemplates(templates: readonly PersonaTemplate[]): void {
  if (templates.length === 0) throw new InvalidInputError('at least one persona template is needed');
  templates.forEach((t, i) => {
    if (!t.positive.includes('{concept}')) throw new InvalidInputError(`template ${i}: the positive side must contain "{concept}", got ${JSON.stringify(t.positive)}`);
    if (!t.neutral.includes('{neutral}')) throw new InvalidInputError(`template ${i}: the neutral side must contain "{neutral}", got ${JSON.stringify(t.neutral)}`);
  });
}

/** The two prompts of one template for a concept (and optional neutral concept). */
export function fillTemplate(t: PersonaTemplate, concept: string, neutral?: string): { positive: string; negative: string } {
  const fill = (s: string, key: string, value: string): string => s.split(`{${key}}`).join(value);
  return {
    positive: fill(t.positive, 'concept', concept),
    negative: neutral === undefined ? t.plain : fill(t.neutral, 'neutral', neutral),
  };
}
