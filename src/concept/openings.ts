import { ModelFileError } from '../io/errors.js';
import { parseJson, readText } from '../io/json-records.js';

/**
 * Sentence openings the model continues under each persona. Steerer's own short lists (no
 * third-party text), one in the register of stories for base models and one of conversational
 * replies for chat models. repeng's `all_truncated_outputs.json` (a JSON array of strings) and
 * any file of the same shape or one opening per line can be used instead.
 */
export const STORY_OPENINGS: readonly string[] = [
  'Once upon a time', 'One day,', 'Lily and Tom', 'The little dog', 'In the park,', 'Mom said', 'Ben had a',
  'The sun was', 'There was a girl named Sue.', 'After school,', 'The cat', 'At night,', 'Max wanted to',
  'The bird', 'Anna saw', 'It was a', 'Tim and his dad', 'The old man', 'In a small house,', 'The rabbit',
  'Sara found a', 'The next morning,', 'Grandma', 'The boy looked at', 'Near the river,', 'The toy car',
  'When the rain', 'Lucy liked to', 'The big tree', 'Sam and Mia', 'At the beach,', 'The teacher',
  'Jack opened the', 'The little fish', 'On his birthday,', 'The girl and her mom', 'In the garden,', 'Dad told',
  'The puppy', 'A long time ago,', 'Emma had a', 'The red ball', 'The baby', 'That evening,', 'Leo walked',
  'The duck', 'Kate and Ben', 'Under the bed,',
];

export const REPLY_OPENINGS: readonly string[] = [
  'I think', 'Well,', 'To be honest,', 'Let me tell you', 'Today I', 'The thing is,', 'My favorite', 'Sure,',
  'I remember', 'When I', 'You know,', 'Here is', 'Yesterday', 'Honestly,', 'I feel', 'The best way to',
  'Thanks for asking.', 'In my opinion,', 'Let me explain', 'It is', 'Imagine', 'Oh,', 'I would say', 'First,',
  'Last week', 'What I like about', 'The answer is', 'I just', 'One thing', 'If you ask me,', 'So,', 'Right now,',
  'My friend', 'The weather', 'Every morning', 'I can', 'Good question.', 'People often', 'There is', 'We',
  'This reminds me', 'Hmm,', 'At work,', 'My family', 'The problem is', 'I love', 'It seems', 'Lately,',
];

/** Openings from a JSON array of strings or a text file with one opening per line. */
export function readOpenings(file: string): string[] {
  const text = readText(file);
  let list: string[];
  if (text.trimStart().startsWith('[')) {
    const data = parseJson(file, text);
    if (!Array.isArray(data) || data.some((x) => typeof x !== 'string')) throw new ModelFileError(file, 'expected a JSON array of strings');
    list = data as string[];
  } else {
    list = text.split('\n');
  }
  const out = [...new Set(list.map((s) => s.trim()).filter((s) => s !== ''))];
  if (out.length === 0) throw new ModelFileError(file, 'holds no non-empty openings');
  return out;
}

/** Prompts steered generations are judged on (kept apart from the openings data is made from). */
export const EVAL_STORY_PROMPTS: readonly string[] = [
  'Once upon a time', 'One morning,', 'There once was a little girl', 'The boy went outside', 'In a big forest,',
  'It was a sunny day', 'A small cat', 'Tom and Lily', 'The family', 'One night,', 'A little bear', 'The kids',
  'Mia woke up', 'At the zoo,', 'The dog ran', 'On a farm,',
];

export const EVAL_INSTRUCTIONS: readonly string[] = [
  'Tell me about your weekend.', 'Describe a walk in the park.', 'Write a short note to a friend.',
  'What should I cook for dinner?', 'Explain how a bicycle works.', 'Give me advice for a job interview.',
  'Describe your favorite place.', 'Write two sentences about the sea.', 'How do I take care of a plant?',
  'Tell me a short story about a dog.', 'What is a good way to start the day?', 'Describe a busy city street.',
  'Write a message thanking a teacher.', 'What do you think about rainy days?', 'Suggest a hobby for me.',
  'Describe a birthday party.',
];
